//! The PostgreSQL connection string: any text is a connection or a refusal, never a panic; a
//! refusal never repeats the text, and what messages show of a connection holds no password.
#![no_main]

use actionlog::fuzzing::postgres_url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &str)| {
    let (prefix, rest) = input;
    let prefix =
        ["", "postgres://", "postgresql://u:", "host=h password="][usize::from(prefix % 4)];
    let url = format!("{prefix}{rest}");
    match postgres_url(&url) {
        Ok((Some(password), shown)) => {
            // A password long enough not to be found by chance in a host or database name.
            if password.len() >= 8 {
                let password = String::from_utf8_lossy(&password);
                assert!(
                    !shown.contains(&*password),
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
            if let Some(p) = password.filter(|p| p.len() >= 8) {
                assert!(
                    !reason.contains(p),
                    "{reason:?} shows the password of {url:?}"
                );
            }
        }
    }
});
