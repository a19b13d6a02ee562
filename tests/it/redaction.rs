//! Redaction: secret-looking fields never reach the console, the day files or the action rows,
//! whether they are event fields, span fields (also recorded later) or action details; the
//! deny-list is configurable.

use crate::common;

use actionlog::sink::SqliteSink;
use actionlog::{
    ActionFilter, ActionLayer, ColorMode, ConsoleLayer, FileLayer, PipelineConfig, Redaction,
    Timezone,
};
use common::SharedBuf;
use tracing_subscriber::prelude::*;

const CANARY: &str = "CANARY-0xdeadbeef";

struct Outputs {
    console: String,
    files: String,
    rows: String,
}

fn run(redaction: Redaction, f: impl FnOnce()) -> Outputs {
    let dir = tempfile::tempdir().unwrap();
    let buf = SharedBuf::default();
    let (files, fg) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .redaction(redaction.clone())
        .build()
        .unwrap();
    let console = ConsoleLayer::with_writer(buf.clone())
        .color(ColorMode::Never)
        .redaction(redaction.clone());
    let db = dir.path().join("actions.db");
    let (actions, ag) = ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dir.path().join("dead-letter")),
        )
        .redaction(redaction)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(files)
        .with(console)
        .with(actions.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, f);
    drop(fg.merge(ag));
    let files = common::day_files(dir.path())
        .iter()
        .map(|p| common::day_text(p))
        .collect::<String>();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT action_type || '|' || coalesce(action_details, '') || '|' || coalesce(user_id, '') FROM action_logs")
        .unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap() + "\n")
        .collect();
    Outputs {
        console: buf.text(),
        files,
        rows,
    }
}

#[test]
fn default_deny_list_hides_canaries_everywhere() {
    let out = run(Redaction::default(), || {
        let span = tracing::info_span!(
            "login",
            action_type = "user_login",
            user_id = "ana",
            password = CANARY,
            session_token = tracing::field::Empty,
        );
        span.in_scope(|| {
            tracing::Span::current().record("session_token", CANARY);
            tracing::info!(api_key = CANARY, "X-Api-Key" = CANARY, Authorization = %format!("Bearer {CANARY}"), attempt = 1, "signing in");
        });
        drop(span);
        tracing::info!(
            action_type = "add_card",
            creditCardNumber = CANARY,
            cookie = CANARY,
            card_last4 = "4242"
        );
    });
    for (name, text) in [
        ("console", &out.console),
        ("files", &out.files),
        ("rows", &out.rows),
    ] {
        assert!(!text.contains("CANARY"), "{name} leaked a secret:\n{text}");
        assert!(
            text.contains("[REDACTED]"),
            "{name} shows nothing redacted:\n{text}"
        );
    }
    // What is not secret is kept.
    assert!(out.files.contains(r#""attempt":1"#) && out.files.contains(r#""user_id":"ana""#));
    assert!(out.rows.contains("4242") && out.rows.contains("user_login|"));
    assert_eq!(out.rows.lines().count(), 2);
}

#[test]
fn the_list_is_configurable() {
    let out = run(Redaction::new(["pin"]), || {
        tracing::info!(
            action_type = "unlock",
            user_pin = CANARY,
            password = "shown-because-not-listed"
        );
    });
    assert!(
        !out.files.contains("CANARY")
            && !out.rows.contains("CANARY")
            && !out.console.contains("CANARY")
    );
    assert!(out.files.contains("shown-because-not-listed"));
    let none = run(Redaction::none(), || tracing::info!(password = "visible"));
    assert!(none.files.contains("visible"));
}
