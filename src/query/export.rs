//! Rows as text for export, shared by the `actionlog` command (`--format csv|json`) and the
//! dashboard's downloads, so both defuse spreadsheet formulas the same way.

use serde_json::Value;

use super::Rows;

/// A cell as text: strings as they are, NULL empty, the rest as JSON.
///
/// ```
/// use actionlog::query::export::cell_text;
/// assert_eq!(cell_text(&serde_json::json!(null)), "");
/// assert_eq!(cell_text(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
/// ```
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// One CSV field: quoted when needed; a text cell a spreadsheet could take for a formula gets
/// a leading `'` so it shows the text instead of running it (OWASP's advice, and the ASVS's):
/// one starting with `=`, `+`, `-`, `@`, `;`, a tab, CR, LF or NUL (or a full-width `＝`,
/// `＋`, `－`, `＠`), and one whose first character after leading blanks — spaces, NBSP and
/// other Unicode whitespace, zero-width and other invisible formatting characters — is one of
/// those formula characters (some spreadsheets skip such blanks before looking).
///
/// ```
/// use actionlog::query::export::csv_field;
/// assert_eq!(csv_field(&"=1+2".into()), "'=1+2");
/// assert_eq!(csv_field(&"\u{a0}=1+2".into()), "'\u{a0}=1+2");
/// assert_eq!(csv_field(&" plain".into()), "\" plain\"");
/// ```
pub fn csv_field(v: &Value) -> String {
    let mut s = cell_text(v);
    if v.is_string() && runs_as_formula(&s) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Whether a spreadsheet could read `s` as a formula (see [`csv_field`]).
fn runs_as_formula(s: &str) -> bool {
    let formula = |c: char| matches!(c, '=' | '+' | '-' | '@' | ';' | '＝' | '＋' | '－' | '＠');
    // Blanks a spreadsheet may skip: whitespace, and the invisible format characters (zero-width
    // spaces and joiners, the byte-order mark, bidirectional marks and the like).
    let blank = |c: char| {
        c.is_whitespace()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{00AD}')
    };
    match s.chars().next() {
        Some('\t' | '\r' | '\n' | '\0') => true,
        Some(c) if formula(c) => true,
        Some(c) if blank(c) => s.trim_start_matches(blank).starts_with(formula),
        _ => false,
    }
}

/// One CSV record (fields joined by commas), without its line end.
pub fn csv_record(cells: &[Value]) -> String {
    cells.iter().map(csv_field).collect::<Vec<_>>().join(",")
}

/// `rows` as CSV: a header record, then one record per row, each ended by CRLF (RFC 4180).
pub fn csv(rows: &Rows) -> String {
    let mut out = String::new();
    let header: Vec<Value> = rows
        .columns
        .iter()
        .map(|c| Value::from(c.as_str()))
        .collect();
    out.push_str(&csv_record(&header));
    out.push_str("\r\n");
    for r in &rows.rows {
        out.push_str(&csv_record(r));
        out.push_str("\r\n");
    }
    out
}

/// `rows` as JSON lines: one object per row, keyed by column name.
pub fn ndjson(rows: &Rows) -> String {
    let mut out = String::new();
    for o in rows.objects() {
        out.push_str(&Value::Object(o).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_quoted() {
        assert_eq!(csv_field(&Value::from("=1+2")), "'=1+2");
        assert_eq!(csv_field(&Value::from("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(csv_field(&Value::from("-2,3")), "\"'-2,3\"");
        assert_eq!(csv_field(&Value::from(-2)), "-2");
        assert_eq!(csv_field(&Value::from("a\"b")), "\"a\"\"b\"");
    }

    #[test]
    fn leading_separators_and_blanks_before_a_formula_are_defused() {
        let defused = |s: &str| {
            csv_field(&Value::from(s))
                .trim_matches('"')
                .starts_with('\'')
        };
        for s in [
            ";=1+2",
            ";cmd",
            "\t=1",
            "\r=1",
            "\n=1",
            "\nplain",
            "\0x",
            " =HYPERLINK(\"http://x\")",
            "  +1",
            "\u{a0}=1+2",
            "\u{a0}\u{a0}@SUM(A1)",
            "\u{3000}-1",
            "\u{200b}=1",
            "\u{feff}=1",
            "\u{202e}=1",
            "＝1+2",
            " ＠SUM(A1)",
        ] {
            assert!(defused(s), "{s:?} -> {}", csv_field(&Value::from(s)));
        }
        for s in [" plain", "\u{a0}text", "a=b", "1-2", "", "   "] {
            assert!(!defused(s), "{s:?} -> {}", csv_field(&Value::from(s)));
        }
        // Quoted where a line break needs it, after the quote mark.
        assert_eq!(csv_field(&Value::from("\n=1")), "\"'\n=1\"");
        assert_eq!(csv_field(&Value::from(" =1")), "' =1");
    }
}
