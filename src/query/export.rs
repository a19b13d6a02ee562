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

/// One CSV field: quoted when needed; a text cell starting with `=`, `+`, `-`, `@`, tab or
/// CR gets a leading `'` so a spreadsheet shows it instead of running it (OWASP's advice).
///
/// ```
/// use actionlog::query::export::csv_field;
/// assert_eq!(csv_field(&"=1+2".into()), "'=1+2");
/// ```
pub fn csv_field(v: &Value) -> String {
    let mut s = cell_text(v);
    if v.is_string() && s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
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
}
