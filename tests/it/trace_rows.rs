//! Trace context on the rows: without any OpenTelemetry set-up, an action span, the job run it
//! sits in, an action event inside it and their day-file lines all carry one trace id, each
//! row the span id of the span it was made in; a `traceparent` on the job span puts the whole
//! tree, rows included, in the caller's trace. Through the stack `builder().build()` makes,
//! into the default SQLite store.

use crate::common;

use std::collections::HashSet;

use actionlog::Timezone;
use common::json_lines;
use rusqlite::Connection;
use tracing_subscriber::prelude::*;

const REMOTE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// (action type or `run`, trace_id, span_id) of each row.
type Rows = Vec<(String, String, String)>;
/// (trace_id, span_id) of each day-file line.
type Lines = Vec<(String, String)>;

/// Runs a job with an action span and an action event inside; returns the rows' and the
/// lines' ids.
fn run(traceparent: &str) -> (Rows, Lines) {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = actionlog::builder()
        .log_dir(dir.path())
        .console(false)
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let job = tracing::info_span!("job_execution", job_id = "nightly", traceparent);
        job.in_scope(|| {
            tracing::info!("run started");
            tracing::info_span!("order", action_type = "order_paid", user_id = "ada").in_scope(
                || {
                    tracing::info!("charging");
                },
            );
            tracing::info!(action_type = "mail_sent", "mail sent");
        });
    });
    assert!(guard.flush());
    let c = Connection::open(dir.path().join("actions.db")).unwrap();
    let mut rows: Rows = c
        .prepare(
            "SELECT action_type, trace_id, span_id FROM action_logs
             UNION ALL SELECT 'run', trace_id, span_id FROM job_executions ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    let lines = common::day_files(dir.path())
        .iter()
        .flat_map(|p| json_lines(p))
        .map(|l| {
            (
                l["trace_id"].as_str().unwrap().to_owned(),
                l["span_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    drop(guard);
    (rows, lines)
}

#[test]
fn an_action_its_job_run_and_their_lines_share_one_trace() {
    let (rows, lines) = run("");
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(kinds, ["mail_sent", "order_paid", "run"], "{rows:?}");
    let traces: HashSet<&str> = rows
        .iter()
        .map(|r| r.1.as_str())
        .chain(lines.iter().map(|l| l.0.as_str()))
        .collect();
    assert_eq!(
        traces.len(),
        1,
        "one trace for rows and lines: {rows:?} {lines:?}"
    );
    let trace = *traces.iter().next().unwrap();
    assert!(trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()));
    // The run and the event share the job span's span id; the action span has its own.
    let span = |kind: &str| rows.iter().find(|r| r.0 == kind).unwrap().2.clone();
    assert_eq!(span("run"), span("mail_sent"));
    assert_ne!(span("run"), span("order_paid"));
    // Every line is in one of those two spans.
    let spans: HashSet<String> = [span("run"), span("order_paid")].into();
    assert!(lines.iter().all(|l| spans.contains(&l.1)), "{lines:?}");
    assert!(lines.iter().any(|l| l.1 == span("order_paid")));
}

#[test]
fn a_traceparent_on_the_job_span_puts_the_rows_in_the_callers_trace() {
    let (rows, lines) = run(REMOTE);
    let remote_trace = &REMOTE[3..35];
    assert!(rows.iter().all(|r| r.1 == remote_trace), "{rows:?}");
    assert!(lines.iter().all(|l| l.0 == remote_trace), "{lines:?}");
    // A span id of its own, not the caller's.
    assert!(rows.iter().all(|r| r.2 != REMOTE[36..52]), "{rows:?}");
}
