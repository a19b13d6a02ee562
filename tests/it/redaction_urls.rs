//! Connection strings never leak: a field named like one (`database_url`, `dsn`, …) is hidden,
//! and the password of any URL's user-info is scrubbed from every string value and message —
//! console, day files, action rows —, also when it holds an unescaped `@`. The PostgreSQL sink
//! never shows part of such a password as a host name.

use crate::common;

use actionlog::sink::SqliteSink;
use actionlog::{
    ActionFilter, ActionLayer, ColorMode, ConsoleLayer, FileLayer, PipelineConfig, Timezone,
};
use common::SharedBuf;
use tracing_subscriber::prelude::*;

/// Every output of one run, as text.
struct Outputs {
    console: String,
    files: String,
    rows: String,
}

fn run(f: impl FnOnce()) -> Outputs {
    let dir = tempfile::tempdir().unwrap();
    let buf = SharedBuf::default();
    let (files, fg) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let console = ConsoleLayer::with_writer(buf.clone()).color(ColorMode::Never);
    let db = dir.path().join("actions.db");
    let (actions, ag) = ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dir.path().join("dead-letter")),
        )
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(files)
        .with(console)
        .with(actions.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, f);
    let guard = fg.merge(ag);
    let stats = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    common::actions::assert_accounted(&stats);
    assert_eq!(
        stats.actions_dropped + stats.actions_dead_lettered,
        0,
        "{stats:?}"
    );
    let files = common::day_files(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT action_type || '|' || coalesce(action_details, '') || '|' \
             || coalesce(error_message, '') FROM action_logs",
        )
        .unwrap();
    let rows: String = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap() + "\n")
        .collect();
    assert_eq!(rows.lines().count(), 2, "{rows}");
    Outputs {
        console: buf.text(),
        files,
        rows,
    }
}

#[test]
fn url_passwords_are_scrubbed_in_every_output() {
    let out = run(|| {
        let span = tracing::info_span!(
            "migrate",
            action_type = "db_migrate",
            replica = "postgres://repl:SPAN-s3cret@replica/prod",
        );
        span.in_scope(|| {
            tracing::info!(
                database_url = "postgres://app:NAMED-s3cret@db/prod",
                dsn = "mysql://root:NAMED-s3cret@db",
                target = "postgres://w:AT-p@ss@db:5432/prod",
                "connecting to redis://:MSG-s3cret@cache:6379/0"
            );
            tracing::error!(error = %"could not reach postgres://w:ERR-p@ss@db/prod", "failed");
        });
        drop(span);
        tracing::info!(
            action_type = "fetch",
            endpoint = ?"https://bot:DBG-s3cret@api.example.com/v1?mail=a@b",
            callback_url = "https://example.com/done?user=a@b"
        );
    });
    for (name, text) in [
        ("console", &out.console),
        ("files", &out.files),
        ("rows", &out.rows),
    ] {
        assert!(
            !text.contains("s3cret"),
            "{name} leaked a password:\n{text}"
        );
        assert!(
            !text.contains("ss@db"),
            "{name} leaked part of a password:\n{text}"
        );
    }
    // The rest of each URL stays readable, and URLs without a password are kept whole.
    assert!(
        out.files.contains("redis://:[REDACTED]@cache:6379/0"),
        "{}",
        out.files
    );
    assert!(
        out.files.contains("postgres://w:[REDACTED]@db:5432/prod"),
        "{}",
        out.files
    );
    assert!(
        out.console
            .contains("postgres://repl:[REDACTED]@replica/prod"),
        "{}",
        out.console
    );
    assert!(
        out.rows
            .contains("https://bot:[REDACTED]@api.example.com/v1?mail=a@b"),
        "{}",
        out.rows
    );
    assert!(
        out.rows.contains("postgres://w:[REDACTED]@db/prod"),
        "{}",
        out.rows
    );
    assert!(
        out.rows.contains("https://example.com/done?user=a@b"),
        "{}",
        out.rows
    );
}

/// A URL on the line after another one, and one right after a scheme separator: the day
/// file's JSON writes the line break as `\n`, no whitespace, so the first URL's authority ran
/// on to the second one's `://` and the scanner went past it.
#[test]
fn a_url_after_a_line_break_or_a_scheme_is_scrubbed() {
    let out = run(|| {
        tracing::info!(
            action_type = "connect",
            note = "see https://example.com\npostgres://u:LB-s3cret@db/prod"
        );
        tracing::info!(action_type = "retry", "tried x://postgres://u:SEP-s3cret@h");
    });
    for (name, text) in [
        ("console", &out.console),
        ("files", &out.files),
        ("rows", &out.rows),
    ] {
        assert!(
            !text.contains("s3cret"),
            "{name} leaked a password:\n{text}"
        );
    }
    assert!(
        out.files
            .contains(r"https://example.com\npostgres://u:[REDACTED]@db/prod"),
        "{}",
        out.files
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_sink_never_shows_a_password_as_a_host() {
    use actionlog::sink::PostgresSink;
    let sink = PostgresSink::new("postgres://w:p@ss-word@db.internal:5433/prod").unwrap();
    let shown = format!("{sink:?}");
    assert!(!shown.contains("ss-word"), "{shown}");
    assert!(
        shown.contains("postgres://w@db.internal:5433/prod"),
        "{shown}"
    );
    let err = PostgresSink::new("postgres://w:p@ss-word@db.internal:notaport/prod").unwrap_err();
    assert!(!err.to_string().contains("ss-word"), "{err}");
}
