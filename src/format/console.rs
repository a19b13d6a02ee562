//! The console line: `2025-11-03T14:30:45 INFO     [logger] message {"k": v}`, with the
//! level coloured (and, when asked, the first 8 hex digits of the trace id after the logger:
//! `[logger] [4bf92f35] message`), and every control character in user data escaped so that nothing logged can
//! start a new line, move the cursor or retitle the terminal.

use nu_ansi_term::{Color, Style};

use super::Seps;
use super::time::Stamp;
use crate::trace::TraceContext;

/// Separators as Python's `json.dumps` writes them (`": "`, `", "`): readable on a terminal.
pub(crate) const SEPS: Seps = Seps {
    kv: b": ",
    item: b", ",
};

/// The style of each level name: DEBUG cyan, INFO green, WARNING yellow, ERROR red, TRACE dimmed.
pub(crate) fn level_style(level: &tracing::Level) -> Style {
    match *level {
        tracing::Level::TRACE => Style::new().dimmed(),
        tracing::Level::DEBUG => Color::Cyan.normal(),
        tracing::Level::INFO => Color::Green.normal(),
        tracing::Level::WARN => Color::Yellow.normal(),
        tracing::Level::ERROR => Color::Red.normal(),
    }
}

/// Hex digits of the trace id the console shows: enough to tell a request's lines from its
/// neighbours' and to find the trace in a viewer's search, short enough for a terminal line.
pub(crate) const SHORT_TRACE_HEX: usize = 8;

/// Appends one complete console line; `trace`, the trace id of the event's span, is shown
/// short after the logger.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    stamp: &Stamp,
    level: &tracing::Level,
    color: bool,
    message: &str,
    logger: &str,
    trace: Option<&TraceContext>,
    meta: &[u8],
) {
    out.extend_from_slice(&stamp.second.local);
    out.push(b' ');
    let name = super::level_name(level);
    if color {
        let style = level_style(level);
        out.extend_from_slice(style.prefix().to_string().as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(style.suffix().to_string().as_bytes());
    } else {
        out.extend_from_slice(name.as_bytes());
    }
    // Pad to 8 columns, then the separating space (Python logging's `%(levelname)-8s `).
    out.resize(out.len() + 9 - name.len().min(8), b' ');
    out.push(b'[');
    write_text(out, logger);
    out.extend_from_slice(b"] ");
    if let Some(t) = trace {
        out.push(b'[');
        crate::trace::write_hex(out, &t.trace_id[..SHORT_TRACE_HEX / 2]);
        out.extend_from_slice(b"] ");
    }
    write_text(out, message);
    if !meta.is_empty() {
        out.extend_from_slice(b" {");
        out.extend_from_slice(meta);
        out.push(b'}');
    }
    out.push(b'\n');
}

/// Appends free text with every control character (C0, DEL, C1) and every character of
/// [`reorders_or_breaks`] made visible: `\n`, `\r`, `\t`, and `\u{1b}`-style escapes for the rest.
pub(crate) fn write_text(out: &mut Vec<u8>, s: &str) {
    #[inline]
    fn escaped(c: char) -> bool {
        c.is_control() || !c.is_ascii() && reorders_or_breaks(c)
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: &str = match c {
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if escaped(c) => "",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if esc.is_empty() {
            use std::io::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.extend_from_slice(esc.as_bytes());
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
}

/// Characters that are not controls yet change what a terminal shows: the line and paragraph
/// separators (some terminals and every editor break lines there) and the bidirectional marks,
/// embeddings, overrides and isolates (an override makes `exe.txt` read `txt.exe`).
pub(crate) fn reorders_or_breaks(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    ) || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Decides whether to colour: `CLICOLOR_FORCE` (set and not `0`) forces colour on; otherwise
/// `NO_COLOR` (set and non-empty) turns it off; otherwise colour only on a terminal.
pub(crate) fn auto_color(is_terminal: bool, no_color: Option<&str>, force: Option<&str>) -> bool {
    if force.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    is_terminal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_controls_are_shown_as_escapes() {
        let mut out = Vec::new();
        write_text(&mut out, "admin\u{202e}txt.exe \u{2066}x\u{2069} \u{200f}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "admin\\u{202e}txt.exe \\u{2066}x\\u{2069} \\u{200f}"
        );
    }

    #[test]
    fn text_escaping_neutralises_terminal_controls() {
        let mut out = Vec::new();
        write_text(&mut out, "a\x1b[2J\r\nFAKE\u{9b}31m\x7f\tz");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\u{1b}[2J\\r\\nFAKE\\u{9b}31m\\u{7f}\\tz"
        );
    }

    mod properties {
        use super::super::*;
        use crate::props::{config, hostile_text};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(config(1024))]

            /// Free text comes out with no character a terminal acts on, and unchanged where
            /// it held none (1024 cases).
            #[test]
            fn free_text_holds_nothing_a_terminal_acts_on(s in hostile_text(32)) {
                let mut out = Vec::new();
                write_text(&mut out, &s);
                let out = String::from_utf8(out).unwrap();
                let acts = |c: char| c.is_control() || reorders_or_breaks(c);
                prop_assert!(!out.chars().any(acts), "{:?}", out);
                if !s.chars().any(acts) {
                    prop_assert_eq!(out, s);
                }
            }
        }
    }

    #[test]
    fn color_decision() {
        assert!(auto_color(true, None, None));
        assert!(!auto_color(false, None, None));
        assert!(!auto_color(true, Some("1"), None));
        assert!(auto_color(true, Some(""), None));
        assert!(auto_color(false, None, Some("1")));
        assert!(auto_color(false, Some("1"), Some("1")));
        assert!(!auto_color(false, None, Some("0")));
    }
}
