//! URL user-info in free text: where a URL's password starts and ends, by the rule every
//! output and the PostgreSQL sink's URL handling share — the user-info runs from `://` to the
//! **last** `@` before the end of the authority.

use super::REDACTED;

/// The hot path's cheap first test: only text holding `://` can hold a URL's user-info.
#[inline]
pub(super) fn has_scheme_sep(b: &[u8]) -> bool {
    // A word-at-a-time look for ':' first (most text has none), then the two bytes after each one.
    if !crate::format::json::contains_byte(b, b':') {
        return false;
    }
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b':') {
        let at = i + p;
        if b.get(at + 1..at + 3) == Some(b"//") {
            return true;
        }
        i = at + 1;
    }
    false
}

/// Whether a byte may be part of a URL scheme (RFC 3986: letters, digits, `+`, `-`, `.`).
fn scheme_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
}

/// Where a URL's authority ends: at the path, query or fragment, or at whatever cannot be in
/// a URL written into text (whitespace, quotes, angle brackets).
fn authority_end(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`')
}

/// `text` with the password of every URL's user-info replaced by `[REDACTED]`, or `None` when
/// there is nothing to replace. The user-info runs from `://` to the **last** `@` before the
/// end of the authority, so a password holding an unescaped `@` (`postgres://w:p@ss@db`) is
/// hidden whole; its password starts after the first `:`. A password already `[REDACTED]` is
/// left as it is.
///
/// ```text
/// postgres://app:s3cret@db:5432/prod → postgres://app:[REDACTED]@db:5432/prod
/// postgres://w:p@ss@db/prod          → postgres://w:[REDACTED]@db/prod
/// https://example.com/?mail=a@b      → unchanged (the `@` is past the authority)
/// ```
pub(crate) fn scrub_userinfo(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut i = 0;
    while i + 3 <= b.len() {
        if &b[i..i + 3] != b"://" || i == 0 || !scheme_byte(b[i - 1]) {
            i += 1;
            continue;
        }
        let start = i + 3;
        let end = b[start..]
            .iter()
            .position(|&c| authority_end(c))
            .map_or(b.len(), |p| start + p);
        let authority = &b[start..end];
        if let Some(at) = authority.iter().rposition(|&c| c == b'@') {
            if let Some(colon) = authority[..at].iter().position(|&c| c == b':') {
                let (p0, p1) = (start + colon + 1, start + at);
                if &text[p0..p1] != REDACTED && p1 > p0 {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    o.push_str(&text[copied..p0]);
                    o.push_str(REDACTED);
                    copied = p1;
                }
            }
        }
        // On from just past this `://`, not from the authority's end: an authority ending at
        // a `/` may have ended at the next URL's own `://` (`x://postgres://u:pw@h`, or in
        // JSON `https://site\npostgres://u:pw@h`, whose line break is no longer whitespace).
        // An authority holds no `/`, so no password found is looked at twice.
        i = start;
    }
    let mut o = out?;
    o.push_str(&text[copied..]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_scrubbed() {
        let cases = [
            (
                "postgres://app:s3cret@db:5432/prod",
                Some("postgres://app:[REDACTED]@db:5432/prod"),
            ),
            (
                "postgres://w:p@ss@db/prod",
                Some("postgres://w:[REDACTED]@db/prod"),
            ),
            (
                "a postgres://u:x@h and redis://:pw@r:6379 end",
                Some("a postgres://u:[REDACTED]@h and redis://:[REDACTED]@r:6379 end"),
            ),
            ("https://example.com/?mail=a@b", None),
            // A URL right after a scheme separator whose authority ends at its `://`.
            (
                "x://postgres://u:pw@h",
                Some("x://postgres://u:[REDACTED]@h"),
            ),
            // The same as JSON escapes a line break: `\n` is no whitespace there.
            (
                r#""see https://example.com\npostgres://u:pw@h""#,
                Some(r#""see https://example.com\npostgres://u:[REDACTED]@h""#),
            ),
            ("https://token@github.com/x", None),
            ("postgres://u:[REDACTED]@h/db", None),
            ("no url: here // at all", None),
            ("://x:y@z", None),
            (
                "émoji ✓ postgres://é:ü@h",
                Some("émoji ✓ postgres://é:[REDACTED]@h"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_userinfo(input).as_deref(), want, "{input}");
            assert_eq!(has_scheme_sep(input.as_bytes()), input.contains("://"));
        }
    }
}
