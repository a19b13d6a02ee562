//! The PostgreSQL connection string: any text is a connection or a refusal, never a panic; a
//! refusal never repeats the password, and neither does what messages show of a connection.
//!
//! The input is text around a token; where the token is certainly part of the password (by
//! where it stands, or because the parsed password holds it), no message may show it.
#![no_main]

use actionlog::fuzzing::postgres_url;
use libfuzzer_sys::fuzz_target;

/// Found in a message only if it came from the input (the fuzzer's copies of it are skipped).
const TOKEN: &str = "Zq7Kx9Wv";

const PREFIXES: [&str; 4] = ["", "postgres://", "postgresql://u:", "host=h password="];

/// Whether the token stands in the password of `prefix` `before` TOKEN `after`, as libpq
/// reads it: in a URL, before the last `@` of the authority; in key/value form, inside the
/// unquoted `password=` value.
fn in_password(prefix: &str, before: &str, after: &str) -> bool {
    match prefix {
        "postgresql://u:" => {
            let authority_ends = |s: &str| s.contains(['/', '?', '#']);
            !before.contains('@')
                && !authority_ends(before)
                && after
                    .find('@')
                    .is_some_and(|at| !authority_ends(&after[..at]))
        }
        "host=h password=" => {
            before.bytes().all(|b| b.is_ascii_alphanumeric())
                && !after.starts_with(|c: char| !c.is_whitespace() && !c.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

fuzz_target!(|input: (u8, &str, &str)| {
    let (prefix, before, after) = input;
    let prefix = PREFIXES[usize::from(prefix % 4)];
    let url = format!("{prefix}{before}{TOKEN}{after}");
    if url.matches(TOKEN).count() != 1 {
        return;
    }
    let certain = in_password(prefix, before, after);
    match postgres_url(&url) {
        Ok((password, shown)) => {
            let parsed = password.is_some_and(|p| String::from_utf8_lossy(&p).contains(TOKEN));
            if certain || parsed {
                assert!(
                    !shown.contains(TOKEN),
                    "{shown:?} shows the password of {url:?}"
                );
            }
        }
        Err(reason) => {
            if certain {
                assert!(
                    !reason.contains(TOKEN),
                    "{reason:?} shows the password of {url:?}"
                );
            }
        }
    }
});
