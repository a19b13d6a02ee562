//! The PostgreSQL connection string: any text is a connection or a refusal, never a panic; a
//! refusal never repeats the password, and neither does what messages show of a connection.
#![no_main]

use actionlog::fuzzing::postgres_url;
use libfuzzer_sys::fuzz_target;

/// A word of the password (four or more letters and digits, a letter among them) that occurs
/// nowhere else in `url` and is not part of what every description holds: if a message shows
/// it, it came from the password.
fn telltale<'a>(password: &'a str, url: &str) -> Option<&'a str> {
    password
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() >= 4
                && w.bytes().any(|b| b.is_ascii_alphabetic())
                && url.matches(*w).count() == 1
                && !"postgres".contains(*w)
        })
}

fuzz_target!(|input: (u8, &str)| {
    let (prefix, rest) = input;
    let prefix =
        ["", "postgres://", "postgresql://u:", "host=h password="][usize::from(prefix % 4)];
    let url = format!("{prefix}{rest}");
    match postgres_url(&url) {
        Ok((Some(password), shown)) => {
            let password = String::from_utf8_lossy(&password);
            if let Some(w) = telltale(&password, &url) {
                assert!(
                    !shown.contains(w),
                    "{shown:?} shows the password of {url:?}"
                );
            }
        }
        Ok((None, _)) => {}
        Err(reason) => {
            // The password, where the prefix puts one at the start of the rest.
            let password = match prefix {
                "postgresql://u:" => rest.split('@').next(),
                "host=h password=" => rest.split_whitespace().next(),
                _ => None,
            };
            if let Some(w) = password.and_then(|p| telltale(p, &url)) {
                assert!(
                    !reason.contains(w),
                    "{reason:?} shows the password of {url:?}"
                );
            }
        }
    }
});
