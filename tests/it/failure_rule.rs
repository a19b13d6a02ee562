//! What fails an action or a job run, as `tracing` users write failures: an ERROR event, or an
//! event of any level with an `error` field — `#[instrument(err(level = "warn"))]` included —
//! whose text, causes and all, becomes `error_message`. `FailureRule::ErrorEvents` keeps to
//! ERROR events.

use crate::common;

use actionlog::sink::SqliteSink;
use actionlog::{ActionFilter, ActionLayer, FailureRule, JobFilter, ManualClock, PipelineConfig};
use anyhow::Context;
use rusqlite::Connection;
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// A job run as (`job_id`, `status`, `error_message`).
type Run = (String, String, Option<String>);

/// Runs `f` with the action and job layers (rule `rule`) into a fresh SQLite store; returns
/// the action rows and the job runs once delivered.
fn record(rule: FailureRule, f: impl FnOnce()) -> (Vec<Value>, Vec<Run>) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let (actions, guard) = ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dir.path()),
        )
        .clock(ManualClock::at(common::utc("2026-12-06T10:00:00Z")))
        .failure_rule(rule)
        .build()
        .unwrap();
    let jobs = actions.job_layer();
    let subscriber = tracing_subscriber::registry()
        .with(jobs.with_filter(JobFilter::new(tracing_subscriber::EnvFilter::new("info"))))
        .with(actions.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, f);
    assert!(guard.flush());
    let c = Connection::open(&db).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT json_object('action_type', action_type, 'status', status,
               'error_message', error_message, 'details', json(action_details))
             FROM action_logs ORDER BY action_timestamp, id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| serde_json::from_str(&s.unwrap()).unwrap())
        .collect();
    let mut stmt = c
        .prepare("SELECT job_id, status, error_message FROM job_executions ORDER BY job_id")
        .unwrap();
    let runs = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (rows, runs)
}

fn row<'a>(rows: &'a [Value], action_type: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["action_type"] == action_type)
        .unwrap_or_else(|| panic!("no {action_type} row in {rows:#?}"))
}

/// The error of a service's handler: a thiserror enum whose unexpected case wraps an anyhow
/// chain, transparently (as many actix-web and axum services write it).
#[derive(Debug, thiserror::Error)]
enum SubscribeError {
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn insert_subscriber() -> Result<(), std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused by the database",
    ))
}

#[tracing::instrument(err(level = "warn"), fields(action_type = "subscribe"))]
fn subscribe(name: &str) -> Result<(), SubscribeError> {
    if name.is_empty() {
        return Err(SubscribeError::Validation("the name is empty".into()));
    }
    insert_subscriber().context("Failed to insert new subscriber in the database.")?;
    Ok(())
}

#[tracing::instrument(err(level = "warn"), fields(action_type = "validate"))]
fn validate(name: &str) -> Result<(), SubscribeError> {
    subscribe(name)
}

#[test]
fn a_warn_level_instrument_err_fails_the_action_with_the_cause_chain() {
    let (rows, _) = record(FailureRule::default(), || {
        let _ = subscribe("ana");
        let _ = validate("");
    });
    let failed = rows
        .iter()
        .find(|r| r["action_type"] == "subscribe" && r["details"]["name"] == "ana")
        .unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["error_message"],
        "Failed to insert new subscriber in the database.: connection refused by the database"
    );
    // Its caller's action fails too: the error came back through it.
    let outer = row(&rows, "validate");
    assert_eq!(outer["status"], "failed", "{outer}");
    assert_eq!(outer["error_message"], "the name is empty");
}

#[derive(Debug)]
struct ConfigError {
    path: &'static str,
    source: std::io::Error,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}", self.path)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Rejection {
    code: u16,
    reason: &'static str,
}

#[test]
fn an_error_field_at_any_level_fails_the_action_and_an_error_value_keeps_its_sources() {
    let (rows, _) = record(FailureRule::default(), || {
        tracing::info_span!("load", action_type = "load_config").in_scope(|| {
            let e = ConfigError {
                path: "/etc/tracker.toml",
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            };
            tracing::info!(error = &e as &dyn std::error::Error, "could not load");
        });
        tracing::info_span!("pay", action_type = "payment").in_scope(|| {
            // A Debug value stays on one line: never pretty-printed.
            let r = Rejection {
                code: 402,
                reason: "card declined",
            };
            tracing::warn!(error = ?r);
        });
        // A one-shot action event with an error field is a failed action.
        tracing::info!(
            action_type = "login",
            user_id = "ana",
            error = "bad password"
        );
        // `exception.message`, as OpenTelemetry's conventions (and tracing-actix-web) name it.
        tracing::info_span!(
            "request",
            action_type = "http_request",
            "exception.message" = tracing::field::Empty
        )
        .in_scope(|| {
            tracing::Span::current().record("exception.message", "upstream timed out");
        });
        tracing::info_span!("ok", action_type = "healthy").in_scope(|| {
            tracing::warn!(retries = 2, "slow, but no error");
        });
    });
    let load = row(&rows, "load_config");
    assert_eq!(load["status"], "failed");
    assert_eq!(
        load["error_message"],
        "cannot read /etc/tracker.toml: no such file"
    );
    let pay = row(&rows, "payment");
    assert_eq!(pay["status"], "failed");
    assert_eq!(
        pay["error_message"],
        "Rejection { code: 402, reason: \"card declined\" }"
    );
    let login = row(&rows, "login");
    assert_eq!(
        (&login["status"], &login["error_message"]),
        (&Value::from("failed"), &Value::from("bad password"))
    );
    let req = row(&rows, "http_request");
    assert_eq!(
        (&req["status"], &req["error_message"]),
        (&Value::from("failed"), &Value::from("upstream timed out"))
    );
    assert_eq!(row(&rows, "healthy")["status"], "completed");
}

#[test]
fn a_warn_with_an_error_field_fails_a_job_run_too() {
    let (_, runs) = record(FailureRule::default(), || {
        tracing::info_span!("job_execution", job_id = "house_feed").in_scope(|| {
            let e = anyhow::anyhow!("HTTP 503").context("fetching the house feed");
            tracing::warn!(error = %e, "giving up for now");
        });
        tracing::info_span!("job_execution", job_id = "senate_feed").in_scope(|| {
            tracing::warn!("slow feed");
        });
    });
    assert_eq!(
        runs,
        vec![
            (
                "house_feed".into(),
                "failed".into(),
                Some("fetching the house feed: HTTP 503".into())
            ),
            ("senate_feed".into(), "success".into(), None),
        ]
    );
}

#[test]
fn the_error_events_rule_keeps_to_error_events() {
    let (rows, runs) = record(FailureRule::ErrorEvents, || {
        let _ = subscribe("ana");
        tracing::info_span!("job_execution", job_id = "house_feed").in_scope(|| {
            tracing::warn!(error = "HTTP 503", "giving up for now");
        });
        tracing::info_span!("boom", action_type = "explode").in_scope(|| {
            tracing::error!("it broke");
        });
    });
    assert_eq!(row(&rows, "subscribe")["status"], "completed");
    assert_eq!(runs[0].1, "success");
    let boom = row(&rows, "explode");
    assert_eq!(
        (&boom["status"], &boom["error_message"]),
        (&Value::from("failed"), &Value::from("it broke"))
    );
}
