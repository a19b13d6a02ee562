//! Job runs into the embedded SQLite store: a successful, a failing, a cancelled and a failed
//! `try_run` run give the right `job_executions` rows with their captured log lines; an action
//! inside a run carries its `job_execution_id`; `scheduled_jobs` counters move as specified and a
//! replayed batch changes nothing; the log cap and the log filter apply to captured lines only;
//! runs kept in the spool while the store is down land, with their logs, at the next start.

use crate::common;

use actionlog::ManualClock;
use actionlog::sink::{Sink, SqliteSink};
use common::actions::{Down, assert_accounted};
use common::jobs::{with_jobs, workload};
use common::utc;
use rusqlite::Connection;
use serde_json::Value;

fn clock() -> ManualClock {
    ManualClock::at(utc("2025-11-03T14:30:45Z"))
}

/// `sql` as JSON rows (the statement must select one `json_object(...)` column).
fn rows(db: &std::path::Path, sql: &str) -> Vec<Value> {
    let c = Connection::open(db).unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| serde_json::from_str(&s.unwrap()).unwrap())
        .collect()
}

const RUNS: &str = "SELECT json_object('id', id, 'job_id', job_id, 'status', status,
    'started_at', started_at, 'completed_at', completed_at, 'duration', duration_seconds,
    'error', error_message, 'logs', logs, 'metadata', json(metadata))
    FROM job_executions ORDER BY started_at";

#[test]
fn runs_actions_and_scheduled_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let sink = SqliteSink::open(&db).unwrap().scheduled_jobs(true);
    // Known jobs: the upkeep touches only these rows.
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value)
             VALUES ('data_collection', 'Data collection', 'interval', '3600'),
                    ('ticker_backfill', 'Ticker backfill', 'cron', '0 3 * * *'),
                    ('idle', 'Never ran', 'interval', '60');",
        )
        .unwrap();
    let tap = common::wrap::Wrap::new(sink);
    let jobs = tap.jobs.clone();
    let clock = clock();
    let guard = with_jobs(
        tap,
        &dir.path().join("dead"),
        &clock,
        "info",
        1 << 16,
        || workload(&clock),
    );
    let stats = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    assert_accounted(&stats);
    assert_eq!(stats.actions_dead_lettered + stats.actions_dropped, 0);

    let runs = rows(&db, RUNS);
    let summary: Vec<(&str, &str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["job_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["started_at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("data_collection", "success", "2025-11-03T14:30:45.000000Z"),
            ("data_collection", "failed", "2025-11-03T14:31:45.000000Z"),
            (
                "ticker_backfill",
                "cancelled",
                "2025-11-03T14:32:45.000000Z"
            ),
            ("ticker_backfill", "failed", "2025-11-03T14:33:45.000000Z"),
        ]
    );

    // The success: its line, the span's fields as metadata (secret redacted), 1.5 s.
    let ok = &runs[0];
    assert_eq!(ok["duration"], 1.5);
    assert_eq!(ok["completed_at"], "2025-11-03T14:30:46.500000Z");
    assert_eq!(ok["error"], Value::Null);
    let logs = ok["logs"].as_str().unwrap();
    assert_eq!(logs.lines().count(), 2, "{logs}");
    assert!(
        logs.lines()
            .nth(1)
            .unwrap()
            .contains("] stored {\"rows\": 12"),
        "{logs}"
    );
    assert!(
        logs.starts_with(
            "2025-11-03T14:30:45 INFO     [it::common::jobs] collected {\"records\": 12"
        ),
        "{logs}"
    );
    assert!(!logs.contains("below the filter") && !logs.contains('\x1b'));
    assert!(!logs.contains("canary-job-token"), "{logs}");
    assert_eq!(ok["metadata"]["trigger"], "scheduled");
    assert_eq!(ok["metadata"]["api_token"], actionlog::REDACTED);
    assert_eq!(
        ok["metadata"]["next_scheduled_run"],
        "2025-11-03T15:30:45.000000Z"
    );

    // The failure: error from the ERROR event's `error` field; both lines kept, in order.
    let failed = &runs[1];
    assert_eq!(failed["error"], "house feed timed out");
    let lines: Vec<&str> = failed["logs"].as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains(" WARNING  [") && lines[0].contains("retrying"));
    assert!(lines[1].contains(" ERROR    [") && lines[1].contains("collection failed"));

    // Cancelled: its line and the cancellation marker; no error.
    let cancelled = &runs[2];
    assert_eq!(cancelled["error"], Value::Null);
    let logs = cancelled["logs"].as_str().unwrap();
    assert!(logs.contains("started") && logs.contains("job run cancelled before it finished"));

    // try_run's Err: the error's Display.
    assert_eq!(runs[3]["error"], "quota exceeded");

    // The action inside the first run carries its id and job.
    let actions = rows(
        &db,
        "SELECT json_object('type', action_type, 'job', job_id, 'exec', job_execution_id,
            'status', status) FROM action_logs",
    );
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["type"], "store_disclosures");
    assert_eq!(actions[0]["status"], "completed");
    assert_eq!(actions[0]["job"], "data_collection");
    assert_eq!(actions[0]["exec"], ok["id"]);

    // scheduled_jobs, derived from the runs.
    const JOBS: &str = "SELECT json_object('job', job_id, 'attempted', last_attempted_run,
        'success', last_successful_run, 'failures', consecutive_failures,
        'next', next_scheduled_run, 'updated', updated_at) FROM scheduled_jobs ORDER BY job_id";
    let before = rows(&db, JOBS);
    let strip = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("updated");
                r
            })
            .collect()
    };
    assert_eq!(
        strip(&before),
        vec![
            serde_json::json!({"job": "data_collection", "attempted": "2025-11-03T14:31:45.000000Z",
                "success": "2025-11-03T14:30:45.000000Z", "failures": 1,
                "next": "2025-11-03T15:30:45.000000Z"}),
            serde_json::json!({"job": "idle", "attempted": null, "success": null, "failures": 0,
                "next": null}),
            serde_json::json!({"job": "ticker_backfill", "attempted": "2025-11-03T14:33:45.000000Z",
                "success": null, "failures": 1, "next": null}),
        ]
    );

    // Replaying every batch (a retry after a lost reply, a spool replay) changes nothing.
    let written = jobs.lock().unwrap().clone();
    assert_eq!(written.len(), 4);
    let mut sink = SqliteSink::open(&db).unwrap().scheduled_jobs(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(sink.write_jobs(&written.clone().into()))
        .unwrap();
    assert_eq!(rows(&db, RUNS), runs);
    assert_eq!(rows(&db, JOBS), before);

    // The views answer too.
    let status = rows(
        &db,
        "SELECT json_object('job', job_id, 'status', job_status, 'last', last_execution_status)
         FROM scheduled_jobs_status ORDER BY job_id",
    );
    assert_eq!(status[0]["last"], "failed");
    assert_eq!(status[2]["last"], "failed");
    let summary = rows(
        &db,
        "SELECT json_object('job', job_id, 'total', total_executions, 'ok', successful_executions,
            'failed', failed_executions, 'cancelled', cancelled_executions, 'rate', success_rate)
         FROM job_execution_summary ORDER BY job_id",
    );
    assert_eq!(
        summary,
        vec![
            serde_json::json!({"job": "data_collection", "total": 2, "ok": 1, "failed": 1, "cancelled": 0, "rate": 50.0}),
            serde_json::json!({"job": "ticker_backfill", "total": 2, "ok": 0, "failed": 1, "cancelled": 1, "rate": 0.0}),
        ]
    );
}

#[test]
fn captured_logs_are_capped_and_follow_the_log_filter() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let clock = clock();
    let guard = with_jobs(
        SqliteSink::open(&db).unwrap(),
        &dir.path().join("dead"),
        &clock,
        "warn",
        300,
        || {
            // An INFO span: still a run under a WARN filter.
            tracing::info_span!("job_execution", job_id = "noisy").in_scope(|| {
                for i in 0..20 {
                    tracing::warn!(i, "line {i}");
                    tracing::info!("dropped by the filter");
                }
            });
        },
    );
    assert!(guard.flush());
    // The store is no more readable than the day files.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let runs = rows(&db, RUNS);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "success");
    let logs = runs[0]["logs"].as_str().unwrap();
    assert!(!logs.contains("dropped by the filter"));
    let (kept, marker) = logs.rsplit_once('\n').unwrap();
    assert!(kept.len() <= 300, "{}", kept.len());
    assert!(kept.starts_with("2025-11-03T14:30:45 WARNING  ") && kept.contains("line 0"));
    let cut: usize = marker
        .strip_prefix("…[truncated ")
        .and_then(|m| m.strip_suffix(" bytes]"))
        .unwrap()
        .parse()
        .unwrap();
    // Every line of the 20 is either kept whole or counted in the marker.
    let line_len = kept.lines().next().unwrap().len() + 1;
    assert!(cut > 0);
    assert_eq!(kept.lines().count(), 300 / line_len);
    assert!(cut >= (20 - kept.lines().count()) * (line_len - 2));
}

#[test]
fn a_panic_unwinding_out_of_a_run_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let clock = clock();
    let guard = with_jobs(
        SqliteSink::open(&db).unwrap(),
        &dir.path().join("dead"),
        &clock,
        "info",
        1 << 16,
        || {
            let run = tracing::info_span!("job_execution", job_id = "fragile");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run.in_scope(|| panic!("boom"))
            }));
            assert!(r.is_err());
            drop(run);
        },
    );
    assert!(guard.flush());
    let runs = rows(&db, RUNS);
    assert_eq!(
        (runs[0]["status"].as_str(), runs[0]["error"].as_str()),
        (Some("failed"), Some("panicked"))
    );
}

#[test]
fn runs_kept_in_the_spool_while_the_store_is_down_land_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let dead = dir.path().join("dead");
    let clock = clock();
    let build = |sink: Box<dyn Sink>| {
        actionlog::ActionLayer::builder(sink)
            .pipeline(
                actionlog::PipelineConfig::default()
                    .no_spool()
                    .spool_dir(&spool)
                    .dead_letter_dir(&dead)
                    .retry_backoff(
                        std::time::Duration::from_millis(10),
                        std::time::Duration::from_millis(50),
                    ),
            )
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let (actions, guard) = build(Box::new(Down));
    let jobs = actions.job_layer().timezone(actionlog::Timezone::Utc);
    use tracing_subscriber::prelude::*;
    let subscriber = tracing_subscriber::registry()
        .with(jobs.with_filter(actionlog::JobFilter::new(
            tracing_subscriber::EnvFilter::new("info"),
        )))
        .with(actions.with_filter(actionlog::ActionFilter));
    tracing::subscriber::with_default(subscriber, || workload(&clock));
    let first = guard.shutdown(std::time::Duration::from_secs(2)).stats;
    assert_accounted(&first);
    // Four runs and one action (initiated + completed): all in the spool.
    assert_eq!(
        (first.actions_recorded, first.actions_spooled),
        (6, 6),
        "{first:?}"
    );

    let db = dir.path().join("actions.db");
    let (layer, guard) = build(Box::new(SqliteSink::open(&db).unwrap()));
    drop(layer);
    assert!(guard.flush());
    let second = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    assert_accounted(&second);
    let runs = rows(&db, RUNS);
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["success", "failed", "cancelled", "failed"]);
    assert!(
        runs[1]["logs"]
            .as_str()
            .unwrap()
            .contains("collection failed")
    );
    assert_eq!(
        rows(&db, "SELECT json_object('s', status) FROM action_logs").len(),
        1
    );
}
