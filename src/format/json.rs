//! JSON string escaping and scalar value rendering.
//!
//! Beyond what JSON requires, DEL (U+007F) and the C1 controls (U+0080–U+009F, e.g. U+009B, the
//! 8-bit CSI) are escaped too, so that `cat`-ing a log file or printing console metadata can never
//! drive a terminal, whatever the user data holds. The Unicode line and paragraph separators
//! (U+2028, U+2029) are escaped as well: editors, JavaScript and some terminals take them for a
//! line break, so raw they could make one line look like two. Output is always valid UTF-8 JSON.

use std::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True for the bytes that need a look: ASCII controls, `"`, `\`, DEL, 0xC2 (the lead byte of
/// every C1 control's UTF-8 form) and 0xE2 (that of U+2028 and U+2029).
#[inline]
fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xc2 || b == 0xe2
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends `s` escaped for use inside a JSON string, without quotes.
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
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

fn unicode_escape(out: &mut Vec<u8>, cp: u8) {
    out.extend_from_slice(b"\\u00");
    out.push(HEX[(cp >> 4) as usize]);
    out.push(HEX[(cp & 0xf) as usize]);
}

/// Appends a float as a JSON number; NaN and infinities, which JSON cannot express, become the
/// strings `"NaN"`, `"inf"` and `"-inf"` so that the information survives and the line stays valid.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let mut b = ryu::Buffer::new();
        out.extend_from_slice(b.format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Appends an integer.
pub(crate) fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
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

    #[test]
    fn non_finite_floats_stay_valid_json() {
        for (v, s) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
            (1.5, "1.5"),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), s);
        }
    }
}
