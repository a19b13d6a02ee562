//! JSON string escaping and scalar value rendering.
//!
//! Beyond what JSON requires, DEL (U+007F) and the C1 controls (U+0080–U+009F, e.g. U+009B, the
//! 8-bit CSI) are escaped too, so that `cat`-ing a log file or printing console metadata can never
//! drive a terminal, whatever the user data holds. The Unicode line and paragraph separators
//! (U+2028, U+2029) are escaped as well: editors, JavaScript and some terminals take them for a
//! line break, so raw they could make one line look like two. Output is always valid UTF-8 JSON.

use std::fmt;

pub(crate) use super::number::{write_f64, write_f64_inlined, write_i64, write_int, write_u64};
pub(crate) use super::scan::contains_byte;
use super::scan::{BLOCK, WORD, block_is_plain, plain_colon, special, word_is_plain};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a quoted JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends `s` escaped for use inside a JSON string, without quotes.
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    write_utf8_body(out, s.as_bytes())
}

/// [`write_str_body`] for text kept as bytes (the file writer's captured values, which were
/// `&str`s): the escaping looks at bytes only, so it is the same for the same text.
pub(crate) fn write_utf8_body(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut i = 0;
    // Most strings (keys, logger names, short values) need no escape at all: find that out a
    // block at a time, the last partial block padded with a plain byte, and copy them whole.
    while let Some(b) = bytes.get(i..i + BLOCK) {
        if !block_is_plain(b.try_into().expect("BLOCK bytes")) {
            break;
        }
        i += BLOCK;
    }
    if bytes.len() - i < BLOCK {
        let mut tail = [b'a'; BLOCK];
        tail[..bytes.len() - i].copy_from_slice(&bytes[i..]);
        if block_is_plain(&tail) {
            out.extend_from_slice(bytes);
            return;
        }
    }
    let mut start = 0;
    while i < bytes.len() {
        if let Some(w) = bytes.get(i..i + WORD) {
            let w = u64::from_ne_bytes(w.try_into().expect("WORD bytes"));
            if word_is_plain(w) {
                i += WORD;
                continue;
            }
        }
        let b = bytes[i];
        if !special(b) {
            i += 1;
            continue;
        }
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0xc2 => {
                // U+0080..U+009F is 0xC2 0x80..0x9F; other 0xC2 sequences are ordinary text.
                match bytes.get(i + 1) {
                    Some(&c1 @ 0x80..=0x9f) => {
                        out.extend_from_slice(&bytes[start..i]);
                        unicode_escape(out, c1);
                        i += 2;
                        start = i;
                    }
                    _ => i += 1,
                }
                continue;
            }
            0xe2 => {
                // U+2028 is 0xE2 0x80 0xA8, U+2029 0xE2 0x80 0xA9; other 0xE2 sequences
                // (`…`, `€`, `✓`) are ordinary text.
                match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(0x80), Some(&last @ (0xa8 | 0xa9))) => {
                        out.extend_from_slice(&bytes[start..i]);
                        out.extend_from_slice(if last == 0xa8 { b"\\u2028" } else { b"\\u2029" });
                        i += 3;
                        start = i;
                    }
                    _ => i += 1,
                }
                continue;
            }
            _ => {
                out.extend_from_slice(&bytes[start..i]);
                unicode_escape(out, b);
                i += 1;
                start = i;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// [`write_utf8_body`] that also tells whether `bytes` holds a `:`, for the URL-password
/// scrubbing that follows it (the file writer's string values): plain text (most values)
/// is found plain and colon-free in one scan ([`plain_colon`]) and copied whole.
#[inline(always)]
pub(crate) fn write_utf8_body_colon(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    match plain_colon(bytes) {
        Some(colon) => {
            put_short(out, bytes);
            colon
        }
        None => {
            write_utf8_body(out, bytes);
            contains_byte(bytes, b':')
        }
    }
}

fn unicode_escape(out: &mut Vec<u8>, cp: u8) {
    out.extend_from_slice(b"\\u00");
    out.push(HEX[(cp >> 4) as usize]);
    out.push(HEX[(cp & 0xf) as usize]);
}

/// How many bytes [`put_padded`] copies at once.
pub(crate) const SHORT: usize = 32;

/// Appends `from[..len]`, where `from` holds at least [`SHORT`] bytes when `len` is at most
/// that (the rest is padding): one copy of a fixed size and a truncation, which compile to a
/// few moves, instead of a call to `memcpy` for a length known only at run time (the file
/// writer's keys and numbers, several per line).
#[inline(always)]
pub(crate) fn put_padded(out: &mut Vec<u8>, from: &[u8], len: usize) {
    match from.first_chunk::<SHORT>() {
        Some(block) if len <= SHORT => {
            let at = out.len();
            out.extend_from_slice(block);
            out.truncate(at + len);
        }
        _ => out.extend_from_slice(&from[..len]),
    }
}

/// Appends `s`; from 8 to 32 bytes as two overlapping copies of a fixed size (the second
/// rewrites the bytes past `s`'s middle that the first one wrote, with the same bytes), so
/// short text costs a few moves instead of a call to `memcpy`.
#[inline(always)]
pub(crate) fn put_short(out: &mut Vec<u8>, s: &[u8]) {
    let (at, n) = (out.len(), s.len());
    if n > 2 * 16 {
        out.extend_from_slice(s);
    } else if let (Some(a), Some(b)) = (s.first_chunk::<16>(), s.last_chunk::<16>()) {
        out.extend_from_slice(a);
        out.truncate(at + n - 16);
        out.extend_from_slice(b);
    } else if let (Some(a), Some(b)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        out.extend_from_slice(a);
        out.truncate(at + n - 8);
        out.extend_from_slice(b);
    } else {
        out.extend_from_slice(s);
    }
}

/// A `fmt::Write` adapter that escapes everything written through it as JSON string content,
/// so `Debug` output streams straight into the line without an intermediate `String`.
pub(crate) struct JsonEscaper<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for JsonEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_str_body(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{special, word_is_plain};
    use super::*;

    fn esc(s: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_controls_del_and_c1() {
        assert_eq!(esc("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(esc("\x1b[2J\r\nFAKE"), r#""\u001b[2J\r\nFAKE""#);
        assert_eq!(esc("x\u{7f}y\u{9b}z"), r#""x\u007fy\u009bz""#);
        // Other characters whose UTF-8 starts with 0xC2 pass through.
        assert_eq!(esc("£ ©"), "\"£ ©\"");
        for s in ["\x1b]0;x\x07", "\u{85}\u{9f}\u{80}", "plain", ""] {
            let back: String = serde_json::from_str(&esc(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    /// The word-at-a-time scan agrees with the byte rule for every byte in every position.
    #[test]
    fn word_scan_matches_byte_rule() {
        for b in 0..=255u8 {
            for at in 0..WORD {
                let mut w = [b'a'; WORD];
                w[at] = b;
                assert_eq!(
                    word_is_plain(u64::from_ne_bytes(w)),
                    !special(b),
                    "byte {b:#x} at {at}"
                );
            }
        }
        let s = "0123456789abcdef\"quoted\" \u{9b}\u{2028} tail£€…";
        for cut in 0..s.len() {
            if s.is_char_boundary(cut) {
                let back: String = serde_json::from_str(&esc(&s[cut..])).unwrap();
                assert_eq!(back, &s[cut..]);
            }
        }
        assert_eq!(esc("abcdefgh\u{7f}ijklmnop"), r#""abcdefgh\u007fijklmnop""#);
    }

    #[test]
    fn short_puts_append_exactly() {
        let src: Vec<u8> = (0..80u8).collect();
        for len in 0..=40 {
            let (mut a, mut b) = (b"ab".to_vec(), b"ab".to_vec());
            put_short(&mut a, &src[..len]);
            put_padded(&mut b, &src, len);
            let mut want = b"ab".to_vec();
            want.extend_from_slice(&src[..len]);
            assert_eq!(a, want, "{len}");
            assert_eq!(b, want, "{len}");
        }
    }
}
