//! `--format csv`: a header row, RFC 4180 quoting, and text cells that a spreadsheet would run
//! as a formula (`=`, `+`, `-`, `@`, tab, CR first) prefixed with `'`; numbers stay numbers.
#![cfg(feature = "cli")]

use crate::common::cli;

/// Splits RFC 4180 CSV (CRLF records, `"` quoting) into records of fields.
fn parse(csv: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = csv.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[test]
fn formula_cells_are_defused_and_quoting_holds() {
    let dir = tempfile::tempdir().unwrap();
    cli::sqlite_store(
        dir.path(),
        &format!(
            "INSERT INTO action_logs (id, action_timestamp, action_type, user_id, result_message, error_message, source, user_agent, request_duration_seconds)
             VALUES ('{}', '2026-11-03T10:00:00.000000Z', '=HYPERLINK(\"http://evil\",\"x\")', '+1', '-2+3', '@SUM(A1)', char(9) || '=1', 'a, \"quoted\"' || char(10) || 'line', -1.5);",
            cli::id(1)
        ),
    );
    let out = cli::run(dir.path(), &["actions", "--format", "csv"], &[]);
    assert!(out.status.success());
    let rows = parse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.len(), 2, "{rows:?}");
    let col = |name: &str| {
        let i = rows[0].iter().position(|c| c == name).unwrap();
        rows[1][i].clone()
    };
    assert_eq!(col("action_type"), "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(col("user_id"), "'+1");
    assert_eq!(col("result_message"), "'-2+3");
    assert_eq!(col("error_message"), "'@SUM(A1)");
    assert_eq!(col("source"), "'\t=1");
    assert_eq!(col("user_agent"), "a, \"quoted\"\nline");
    assert_eq!(
        col("request_duration_seconds"),
        "-1.5",
        "a number is not a formula"
    );
    assert_eq!(col("id"), cli::id(1));

    // Multi-part answers carry their section in the first column.
    let out = cli::run(
        dir.path(),
        &["stats", "--format", "csv", "--since", "2000-01-01"],
        &[],
    );
    let rows = parse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows[0][0], "section");
    assert!(
        rows.iter()
            .any(|r| r[0] == "actions_by_type_status" && r[1].starts_with("'="))
    );
}
