//! The command's tables fit the terminal they are printed on: in a pseudo-terminal of 100 and
//! of 200 columns no line is wider than the terminal (in display columns: a CJK character or
//! an emoji counts 2), for `actions`, `runs`, `jobs` and `stats`, with their compact columns
//! and with `--wide`, over values far longer than a row; cells are cut with `…`, never in the
//! middle of an escape. `--columns` picks columns in every format and refuses an unknown
//! name; JSON and CSV keep every column and whole values otherwise; a short id is taken back
//! by `id=` and `runs --logs`.
#![cfg(all(unix, feature = "cli"))]

use crate::common::cli;
use crate::common::pty;

use std::path::Path;

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// Two actions of the same millisecond (their ids share their first 12 hex digits).
const A1: &str = "019a4a2b-7c3e-7d10-8a4f-1c2d3e4f5a6b";
const A2: &str = "019a4a2b-7c3e-7f22-9b5e-6d7c8b9a0f1e";
const R1: &str = "019a4a2b-7c3e-7a01-b111-222233334444";
const R2: &str = "019a4a2b-7c3f-7b02-8555-666677778888";
/// The relative times (`stats`' default week) count back from here.
const NOW: (&str, &str) = ("ACTIONLOG_NOW", "2026-11-04T00:00:00Z");

fn long_message() -> String {
    format!(
        "fetched {} and then 日本語のメッセージ 📦📦 {}",
        "the quarterly ticker history for every listed exchange ".repeat(6),
        "x".repeat(200)
    )
}

/// A store whose values are all longer than a row: messages, user and job ids, JSON, user
/// agents; wide characters, emoji and control characters among them.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let long_user = format!(
        "ユーザー-{}",
        "someone.with.a.very.long.account.name".repeat(4)
    );
    let long_job = format!(
        "ticker_backfill_{}",
        "with_a_long_job_identifier_".repeat(3)
    );
    let details = format!(
        r#"{{"symbols": "{}", "note": "詳細 🎉"}}"#,
        "AAPL,MSFT,GOOG,".repeat(30)
    );
    let metadata = format!(
        r#"{{"records": 12345, "sources": "{}", "next_scheduled_run": "2999-01-01T00:00:00Z"}}"#,
        "exchange-".repeat(40)
    );
    let sql = format!(
        "INSERT INTO action_logs (id, action_timestamp, action_type, status, user_id, source, job_id, job_execution_id, result_message, error_message, request_duration_seconds, ip_address, user_agent, action_details) VALUES
         ('{A1}', '2026-11-03T10:00:05.123456Z', 'data_collection_start_for_every_listed_exchange', 'completed', '{long_user}', 'scheduler', '{long_job}', '{R1}', '{msg}', NULL, 0.52, '2001:db8:85a3::8a2e:370:7334', '{ua}', '{details}'),
         ('{A2}', '2026-11-03T10:00:05.123999Z', 'login', 'failed', 'evil' || char(27) || '[2J' || char(27) || ']0;owned' || char(7) || '{long_user}', 'web', NULL, NULL, NULL,
          'refused: ' || char(10) || 'line two' || char(13) || char(27) || '[31mred' || char(155) || ' 🔥 ' || '{msg}', 245.9, '10.0.0.1', NULL, NULL);
         INSERT INTO job_executions (id, job_id, status, started_at, completed_at, duration_seconds, error_message, logs, metadata) VALUES
         ('{R1}', '{long_job}', 'success', '2026-11-03T10:00:00.000001Z', '2026-11-03T10:00:12.5Z', 12.5, NULL, 'job started' || char(10) || 'fetched 3 symbols', '{metadata}'),
         ('{R2}', '{long_job}', 'failed', '2026-11-03T11:00:00.000001Z', '2026-11-03T11:02:03Z', 123.0,
          'upstream said: ' || char(27) || '[5m' || '{msg}', 'job started' || char(10) || 'failed', '{metadata}');
         INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, enabled, last_attempted_run, next_scheduled_run, consecutive_failures, max_consecutive_failures)
         VALUES ('{long_job}', '{long_job} — ジョブ', 'cron', '0 */15 * * * * and a very long schedule description', 1, '2026-11-03T11:00:00.000001Z', '2999-01-01T00:00:00.000000Z', 1, 3);",
        msg = long_message(),
        ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ".repeat(3),
    );
    cli::sqlite_store(dir.path(), &sql);
    dir
}

/// `text` without the SGR colour sequences the command itself may write.
fn strip_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(j) if after[j..].starts_with('m') => rest = &after[j + 1..],
            _ => {
                out.push_str("\u{1b}[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every line fits `width` display columns; no raw control character reaches the terminal;
/// every escape is whole (`\u{…}` with its closing brace). Returns the widest line's width.
fn assert_fits(what: &str, text: &str, width: usize) -> usize {
    let text = strip_colours(text);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what}: a raw control character:\n{text:?}"
    );
    let mut widest = 0;
    for line in text.lines() {
        let w = line.width();
        assert!(
            w <= width,
            "{what}: a line of {w} columns on a terminal of {width}:\n{line}\n\n{text}"
        );
        widest = widest.max(w);
        for (i, _) in line.match_indices("\\u{") {
            let after = &line[i + 3..];
            let hex = after
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(after.len());
            assert!(
                hex > 0 && after[hex..].starts_with('}'),
                "{what}: an escape cut in two: {line}"
            );
        }
    }
    widest
}

fn shown(dir: &Path, columns: u16, args: &[&str]) -> String {
    let out = pty::run(dir, columns, args, &[NOW]);
    assert_eq!(
        out.code,
        Some(0),
        "actionlog {args:?}: {}\n{}",
        out.stderr,
        out.text
    );
    out.text
}

#[test]
fn tables_fit_terminals_of_100_and_200_columns() {
    let dir = store();
    for columns in [100u16, 200] {
        let width = usize::from(columns);
        for args in [
            &["actions"][..],
            &["actions", "--wide"],
            &["runs"],
            &["runs", "--wide"],
            &["jobs"],
            &["jobs", "--wide"],
            &["stats"],
            &["status"],
        ] {
            let text = shown(dir.path(), columns, args);
            let what = format!("{args:?} at {columns}");
            let widest = assert_fits(&what, &text, width);
            if args[0] != "status" {
                assert!(text.contains('…'), "{what}: nothing was cut:\n{text}");
                // The table takes the room it is given (a wide character may leave one
                // column unused).
                assert!(widest + 1 >= width, "{what}: {widest} of {width}:\n{text}");
            }
        }

        // The compact set: times to the second, short ids (the part that differs between
        // two ids of one millisecond), the failed action's error as its message.
        let actions = shown(dir.path(), columns, &["actions"]);
        let header = actions.lines().nth(1).unwrap();
        for h in [
            "time", "id", "type", "status", "user", "job", "duration", "message",
        ] {
            assert!(header.contains(h), "{header}");
        }
        assert!(actions.contains("2026-11-03T10:00:05Z"), "{actions}");
        assert!(!actions.contains(".123456"), "{actions}");
        assert!(
            actions.contains("3e4f5a6b") && actions.contains("8b9a0f1e"),
            "{actions}"
        );
        assert!(!actions.contains(A1), "{actions}");
        assert!(
            actions.contains("0.520s") && actions.contains("4m05s"),
            "{actions}"
        );
        assert!(actions.contains("refused"), "{actions}");
        let runs = shown(dir.path(), columns, &["runs"]);
        assert!(
            runs.contains("33334444") && runs.contains("2026-11-03T11:00:00Z"),
            "{runs}"
        );
        assert!(runs.contains("12.5s") && runs.contains("2m03s"), "{runs}");
        let jobs = shown(dir.path(), columns, &["jobs"]);
        assert!(jobs.contains("scheduled_jobs_status") && jobs.contains("job_execution_summary"));
        assert!(
            jobs.contains("next run") && jobs.contains("2999-01-01T00:00:00Z"),
            "{jobs}"
        );
    }

    // At 200 columns the message keeps more of itself than at 100.
    let msg_at = |columns| {
        let text = shown(dir.path(), columns, &["actions"]);
        let row = text
            .lines()
            .find(|l| l.contains("3e4f5a6b"))
            .unwrap()
            .to_owned();
        let message = &row[row.find("fetc").expect(&text)..];
        message.chars().take_while(|c| *c != '…').count()
    };
    assert!(msg_at(200) > msg_at(100), "the message takes the room");
}

#[test]
fn columns_overrides_the_terminal_and_a_table_off_a_terminal_is_80_wide() {
    let dir = store();
    let out = pty::run(dir.path(), 200, &["actions"], &[NOW, ("COLUMNS", "120")]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let widest = assert_fits("COLUMNS=120", &out.text, 120);
    assert!(widest >= 119, "{}", out.text);

    let piped = cli::run(dir.path(), &["actions", "--format", "table"], &[]);
    assert!(piped.status.success());
    let text = String::from_utf8(piped.stdout).unwrap();
    assert_fits("a pipe", &text, 80);
    let wide = cli::run(
        dir.path(),
        &["actions", "--format", "table", "--wide"],
        &[("COLUMNS", "600")],
    );
    let text = String::from_utf8(wide.stdout).unwrap();
    assert!(
        text.contains(A1),
        "--wide at 600 columns has room for whole ids:\n{text}"
    );
    assert_fits("COLUMNS=600", &text, 600);
}

#[test]
fn columns_picks_table_columns_and_refuses_unknown_names() {
    let dir = store();
    let text = shown(dir.path(), 100, &["actions", "--columns", "id,status"]);
    assert_fits("--columns", &text, 100);
    let header: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(header, ["│", "id", "status", "│"], "{text}");
    assert!(
        text.contains(A1) && text.contains(A2),
        "whole values as stored:\n{text}"
    );

    let text = shown(
        dir.path(),
        100,
        &["jobs", "--columns", "job_status,success_rate"],
    );
    assert_fits("jobs --columns", &text, 100);
    assert!(
        text.contains("job_status") && text.contains("success_rate"),
        "{text}"
    );
    assert!(!text.contains("next_scheduled_run"), "{text}");

    for (args, answer) in [
        (&["actions", "--columns", "id,colour"][..], "actions"),
        (&["runs", "--columns", "colour"], "runs"),
        (
            &["jobs", "--columns", "job_id,colour", "--format", "json"],
            "jobs",
        ),
    ] {
        let out = pty::run(dir.path(), 100, args, &[NOW]);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.text);
        assert!(out.text.is_empty(), "{args:?} printed {}", out.text);
        assert!(
            out.stderr
                .contains(&format!("unknown column \"colour\" for {answer}")),
            "{}",
            out.stderr
        );
        let valid = match answer {
            "actions" => "action_timestamp, action_type",
            "runs" => "started_at, job_id",
            _ => "job_status",
        };
        assert!(out.stderr.contains(valid), "{}", out.stderr);
    }
}

#[test]
fn json_and_csv_keep_every_column_and_whole_values_unless_columns_names_some() {
    let dir = store();
    // On a terminal as well as through a pipe.
    let text = shown(dir.path(), 100, &["actions", "--format", "json"]);
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["id"], A1);
    // Every column of the store: the fourteen written from fields and the trace ids.
    assert_eq!(rows[1].as_object().unwrap().len(), 16, "{:?}", rows[1]);
    assert_eq!(rows[1]["trace_id"], Value::Null);
    assert_eq!(rows[1]["result_message"], long_message().as_str());
    assert_eq!(rows[1]["action_timestamp"], "2026-11-03T10:00:05.123456Z");

    let csv = shown(dir.path(), 100, &["runs", "--format", "csv"]);
    assert_eq!(
        csv.lines().next().unwrap(),
        "id,started_at,job_id,status,completed_at,duration_seconds,error_message,metadata,trace_id,span_id"
    );
    assert!(csv.contains(&"exchange-".repeat(40)), "{csv}");

    let named = cli::json(
        dir.path(),
        &["actions", "--columns", "status,id", "--format", "json"],
        &[],
    );
    assert_eq!(
        named,
        [
            serde_json::json!({"status": "failed", "id": A2}),
            serde_json::json!({"status": "completed", "id": A1})
        ]
    );
    let csv = cli::run(
        dir.path(),
        &["runs", "--columns", "id,job_id", "--format", "csv"],
        &[],
    );
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().next(), Some("id,job_id"));
    assert_eq!(csv.lines().count(), 3);
    // `jobs`: each section keeps the named columns it has; a section with none is left out.
    let jobs = cli::json(dir.path(), &["jobs", "--columns", "job_status"], &[]);
    assert_eq!(
        jobs,
        [serde_json::json!({"job_status": "scheduled", "section": "scheduled_jobs_status"})]
    );
}

#[test]
fn short_ids_are_taken_back_where_ids_are() {
    let dir = store();
    let ids = |args: &[&str]| -> Vec<String> {
        cli::json(dir.path(), args, &[])
            .iter()
            .map(|r| cli::text(&r["id"]))
            .collect()
    };
    assert_eq!(ids(&["actions", "id=8b9a0f1e"]), [A2]);
    assert_eq!(ids(&["actions", "id=8B9A0F1E"]), [A2], "either case");
    assert_eq!(ids(&["actions", "job_execution_id=33334444"]), [A1]);
    assert_eq!(
        ids(&["actions", &format!("id={A1}")]),
        [A1],
        "whole ids as before"
    );
    // Digits that the id holds, but not at its end: no match.
    assert_eq!(ids(&["actions", "id=019a4a2b"]), Vec::<String>::new());
    assert_eq!(ids(&["runs", "id=77778888"]), [R2]);

    let logs = cli::run(dir.path(), &["runs", "--logs", "33334444"], &[]);
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert_eq!(
        String::from_utf8(logs.stdout).unwrap(),
        "job started\nfetched 3 symbols\n"
    );
    let none = cli::run(dir.path(), &["runs", "--logs", "0badc0de"], &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no run \"0badc0de\""));

    // Two runs ending alike: the short id is refused, naming both.
    let db = dir.path().join("logs/actions.db");
    let twin = "019a4a2c-0000-7000-8000-aaaa33334444";
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO job_executions (id, job_id, status, started_at) VALUES (?1, 'j', 'success', '2026-11-03T12:00:00Z')",
            [twin],
        )
        .unwrap();
    let twins = cli::run(dir.path(), &["runs", "--logs", "33334444"], &[]);
    assert_eq!(twins.status.code(), Some(2));
    let err = String::from_utf8_lossy(&twins.stderr);
    assert!(err.contains(R1) && err.contains(twin), "{err}");
}
