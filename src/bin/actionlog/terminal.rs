//! Text on a terminal: control characters escaped (a stored value can neither move the cursor
//! nor forge a line), widths counted in display columns (a CJK character or an emoji takes
//! two), text cut to a width without splitting an escape or a character, and the terminal's
//! own width.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// What a cut cell ends with.
const ELLIPSIS: &str = "…";

/// The width when neither `COLUMNS` nor the terminal says.
const DEFAULT_WIDTH: usize = 80;

/// `\n`, `\r`, `\t` and every other control character (C0, DEL, C1, so ESC and CSI too)
/// written as a visible escape, the way the console layer writes them; so are the invisible
/// characters that reorder or hide text (the bidirectional marks, embeddings, overrides and
/// isolates, U+200E/F, U+202A–E, U+2066–9: a right-to-left override makes `exe.txt` read as
/// `txt.exe`) and the line and paragraph separators.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || reorders_or_breaks(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
}

/// The bidirectional formatting characters and the Unicode line and paragraph separators.
pub fn reorders_or_breaks(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// The display width of `s` once escaped, as the table measures it.
pub fn shown_width(s: &str) -> usize {
    escape_controls(s).width()
}

/// `s` escaped and, when wider than `width` columns, cut to at most `width` columns ending in
/// `…`. The cut falls between grapheme clusters of the original text, so an escape (`\u{1b}`
/// stands for one character) and a character (with its combining marks, or an emoji
/// sequence) are shown whole or not at all.
pub fn cut(s: &str, width: usize) -> String {
    let whole = escape_controls(s);
    if whole.width() <= width {
        return whole;
    }
    let room = width.saturating_sub(ELLIPSIS.width());
    let mut out = String::new();
    let mut used = 0;
    let mut unit = String::new();
    for g in s.graphemes(true) {
        unit.clear();
        push_escaped(&mut unit, g);
        let w = unit.width();
        if used + w > room {
            break;
        }
        used += w;
        out.push_str(&unit);
    }
    // Widths of a sequence and of its parts can differ (an emoji and its variation selector):
    // the whole is what the table measures.
    while out.width() > room {
        let Some((i, _)) = out.grapheme_indices(true).next_back() else {
            break;
        };
        out.truncate(i);
    }
    if width >= ELLIPSIS.width() {
        out.push_str(ELLIPSIS);
    }
    out
}

/// The width tables are fitted to: `COLUMNS` when it holds a positive number (so a script or
/// a pager can ask for another width), else the terminal stdout is, else 80.
pub fn width() -> usize {
    let columns = std::env::var("COLUMNS").ok();
    columns_or_terminal(
        columns.as_deref(),
        terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0)),
    )
}

fn columns_or_terminal(columns: Option<&str>, terminal: Option<usize>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
        .or(terminal.filter(|c| *c > 0))
        .unwrap_or(DEFAULT_WIDTH)
}

/// The library's property-test settings and hostile text (`src/props.rs`, self-contained);
/// this command uses only some of its generators.
#[cfg(test)]
#[path = "../../props.rs"]
#[allow(dead_code)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_escaped() {
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\n\u{9b}"),
            "a\\u{1b}[2Jb\\n\\u{9b}"
        );
    }

    #[test]
    fn cuts_never_split_an_escape_or_a_character_and_count_display_columns() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghij", 10), "abcdefghij");
        assert_eq!(cut("abcdefghijk", 10), "abcdefghi…");
        // `\u{1b}` is 6 columns: it goes whole or not at all.
        assert_eq!(cut("ab\u{1b}cdefgh", 6), "ab…");
        assert_eq!(cut("ab\u{1b}cdefgh", 9), "ab\\u{1b}…");
        // Wide characters count 2; a cut never leaves half of one.
        assert_eq!(cut("日本語のテキスト", 7), "日本語…");
        assert_eq!(cut("日本語のテキスト", 8), "日本語…");
        assert_eq!(cut("日本語のテキスト", 8).width(), 7);
        // A letter with its combining accent, and a family emoji, stay whole.
        assert_eq!(cut("e\u{301}e\u{301}e\u{301}xyz", 3), "e\u{301}e\u{301}…");
        let family = "👨\u{200d}👩\u{200d}👧";
        let cut_family = cut(&format!("{family}{family}{family}"), 4);
        assert!(cut_family == format!("{family}…"), "{cut_family:?}");
        for w in 0..30 {
            for s in [
                "日本語のテキスト and more",
                "a\u{1b}[2J\r\n\u{9b}zz",
                "❤\u{fe0f}❤\u{fe0f}❤\u{fe0f}❤\u{fe0f}",
            ] {
                let c = cut(s, w);
                assert!(c.width() <= w.max(1), "{s:?} at {w}: {c:?}");
                assert!(!c.chars().any(char::is_control), "{c:?}");
            }
        }
    }

    mod properties {
        use super::super::props::{config, hostile_text};
        use super::super::*;
        use proptest::prelude::*;

        fn acts(c: char) -> bool {
            c.is_control() || reorders_or_breaks(c)
        }

        proptest! {
            #![proptest_config(config(1024))]

            /// Escaped text holds no control, bidirectional or separator character, and is the
            /// text itself when it held none (1024 cases).
            #[test]
            fn escaped_text_holds_nothing_a_terminal_acts_on(s in hostile_text(32)) {
                let e = escape_controls(&s);
                prop_assert!(!e.chars().any(acts), "{:?}", e);
                if !s.chars().any(acts) {
                    prop_assert_eq!(e, s);
                }
            }

            /// A cut cell fits its width, holds nothing a terminal acts on, and is the escape
            /// of a prefix of the text ending between grapheme clusters, then `…` (1024 cases).
            #[test]
            fn a_cut_is_an_escaped_prefix_that_fits(s in hostile_text(24), width in 0usize..40) {
                let c = cut(&s, width);
                prop_assert!(c.width() <= width, "{:?} at {}: {:?}", s, width, c);
                prop_assert!(!c.chars().any(acts), "{:?}", c);
                let whole = escape_controls(&s);
                if whole.width() <= width {
                    prop_assert_eq!(c, whole);
                } else if width > 0 {
                    let kept = c.strip_suffix(ELLIPSIS);
                    prop_assert!(kept.is_some(), "{:?}", c);
                    let kept = kept.unwrap();
                    let mut ends = s.grapheme_indices(true).map(|(i, _)| i).chain([s.len()]);
                    prop_assert!(
                        ends.any(|i| escape_controls(&s[..i]) == kept),
                        "{:?} at {}: {:?} is no escaped prefix",
                        s,
                        width,
                        c
                    );
                }
            }
        }
    }

    #[test]
    fn columns_overrides_the_terminal_and_80_is_the_fallback() {
        assert_eq!(columns_or_terminal(Some("132"), Some(100)), 132);
        assert_eq!(columns_or_terminal(None, Some(100)), 100);
        assert_eq!(columns_or_terminal(Some("wide"), Some(100)), 100);
        assert_eq!(columns_or_terminal(Some("0"), None), 80);
        assert_eq!(columns_or_terminal(None, None), 80);
    }
}
