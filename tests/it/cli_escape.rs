//! Control characters in any value never reach the terminal raw: tables escape them (`\n`,
//! `\u{1b}`, …), JSON lines hold them as JSON escapes, `tail` escapes them in console lines,
//! and error messages too.
#![cfg(feature = "cli")]

use crate::common::cli;

fn raw_controls(s: &str) -> Vec<char> {
    s.chars().filter(|c| c.is_control() && *c != '\n').collect()
}

#[test]
fn control_characters_are_escaped_in_tables_json_tail_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    cli::sqlite_store(
        dir.path(),
        &format!(
            "INSERT INTO action_logs (id, action_timestamp, action_type, user_id, error_message, action_details)
             VALUES ('{}', '2026-11-03T10:00:00.000000Z', 'evil', char(27) || '[2J' || char(27) || ']0;owned' || char(7),
                     'one' || char(10) || 'two' || char(13) || char(127) || char(155) || '31m', '{{\"k\": \"\\u001b[5m\"}}');",
            cli::id(7)
        ),
    );
    // Every column, and room for whole values.
    let out = cli::run(
        dir.path(),
        &["actions", "--format", "table", "--wide"],
        &[("COLUMNS", "400")],
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(raw_controls(&table), Vec::<char>::new(), "{table}");
    assert!(table.contains("\\u{1b}[2J\\u{1b}]0;owned\\u{7}"), "{table}");
    assert!(table.contains("one\\ntwo\\r\\u{7f}\\u{9b}31m"), "{table}");

    let out = cli::run(dir.path(), &["actions", "--format", "json"], &[]);
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(
        !json.contains('\u{1b}') && !json.contains('\u{7}'),
        "{json:?}"
    );
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        v["user_id"], "\u{1b}[2J\u{1b}]0;owned\u{7}",
        "the value itself is kept"
    );

    // A day-file line whose message and fields hold escapes (as JSON, the way the files do).
    let line = r#"{"timestamp":"2026-11-03T10:00:00.000000+00:00","level":"INFO","message":"hi \u001b[2J\u0007","logger":"t\u001b","metadata":{"k":"\u001b[31m\u009b"}}"#;
    std::fs::write(dir.path().join("logs/2026-11-03.log"), format!("{line}\n")).unwrap();
    let out = cli::run(dir.path(), &["tail"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text:?}");
    assert!(text.contains("[t\\u{1b}] hi \\u{1b}[2J\\u{7}"), "{text}");

    // A path holding ESC in an error message.
    let out = cli::run(dir.path(), &["--db", "x\u{1b}[2J.db", "stats"], &[]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(raw_controls(&err), Vec::<char>::new(), "{err:?}");
    assert!(err.contains("x\\u{1b}[2J.db"), "{err}");
}

/// The characters that reorder text on screen (a right-to-left override makes `exe.txt` read
/// `txt.exe`) and the line separators: escaped in tables, as JSON escapes in JSON on a
/// terminal.
fn reorders(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| {
            matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        })
        .collect()
}

#[test]
fn the_page_cursor_tail_timestamps_and_bidi_overrides_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A stored row whose id and time hold escapes (SQLite keeps any text), beside a good one:
    // the cursor printed for the next page names the last row of the page.
    cli::sqlite_store(
        dir.path(),
        &format!(
            "INSERT INTO action_logs (id, action_timestamp, action_type, user_id)
             VALUES ('{}', '2026-11-03T10:00:00.000000Z', 'ok', 'ana'),
                    ('x' || char(27) || ']0;owned' || char(7), '2026-11-02T10:00:00' || char(27) || '[2J', 'evil',
                     'admin' || char(8238) || 'txt.exe'),
                    ('{}', '2026-11-01T10:00:00.000000Z', 'older', 'ana');",
            cli::id(7),
            cli::id(8)
        ),
    );
    let out = cli::run(
        dir.path(),
        &["actions", "--format", "json", "--limit", "2"],
        &[],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(raw_controls(&err), Vec::<char>::new(), "{err:?}");
    assert!(err.contains("next page: --before "), "{err}");
    assert!(err.contains("\\u{1b}]0;owned\\u{7}"), "{err}");

    // The right-to-left override, in a table and in JSON on a terminal.
    let out = cli::run(
        dir.path(),
        &["actions", "--format", "table", "--wide"],
        &[("COLUMNS", "400")],
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(reorders(&table), Vec::<char>::new(), "{table}");
    assert!(table.contains("admin\\u{202e}txt.exe"), "{table}");
    let out = cli::run(dir.path(), &["actions", "--format", "json"], &[]);
    let json = String::from_utf8(out.stdout).unwrap();
    let evil: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["action_type"] == "evil")
        .unwrap();
    assert_eq!(evil["user_id"], "admin\u{202e}txt.exe", "the value is kept");

    // A day-file line whose timestamp carries a clipboard write (OSC 52): the first 19
    // characters `tail` shows of it are escaped.
    let line = r#"{"timestamp":"\u001b]52;c;aGk=\u0007 10:00:00","level":"INFO","message":"hi","logger":"t","metadata":{}}"#;
    std::fs::write(dir.path().join("logs/2026-11-03.log"), format!("{line}\n")).unwrap();
    let out = cli::run(dir.path(), &["tail"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text:?}");
    assert!(text.starts_with("\\u{1b}]52;c;aGk=\\u{7}"), "{text}");
}
