//! Job runs into the real PostgreSQL (one schema per test): the shared workload's four runs
//! (success, failure, cancelled, failed `try_run`) land with their captured logs, the action
//! inside a run carries its `job_execution_id`, `scheduled_jobs` is kept current by the
//! migration's function, a replayed batch changes nothing, and the reference job queries and both
//! views run verbatim with psql and return what the workload did.
#![cfg(feature = "postgres")]

use crate::common;

use actionlog::ManualClock;
use actionlog::sink::Sink;
use common::actions::assert_accounted;
use common::jobs::{with_jobs, workload};
use common::pg::TestDb;

#[test]
fn runs_land_with_logs_and_the_reference_queries_answer() {
    let Some(db) = TestDb::new("jobs") else {
        return;
    };
    // The migration runs on the sink's first connection; create the known jobs first.
    db.exec(&format!("SET search_path TO {}", db.schema));
    db.psql_file("migrations/0001_action_logs.sql");
    db.psql_file("migrations/0002_jobs.sql");
    db.psql(
        "INSERT INTO scheduled_jobs (job_id, job_name, job_function, schedule_type, schedule_value)
         VALUES ('data_collection', 'Data collection', 'tracker::collect', 'interval', '3600'),
                ('ticker_backfill', 'Ticker backfill', 'tracker::backfill', 'cron', '0 3 * * *'),
                ('idle', 'Never ran', 'tracker::idle', 'interval', '60')",
    );
    let tap = common::wrap::Wrap::new(db.sink().scheduled_jobs(true));
    let jobs = tap.jobs.clone();
    // Recent times, so the reference queries' "today" / "7 days" windows include the runs.
    let clock = ManualClock::at(chrono::Utc::now() - chrono::Duration::minutes(10));
    let dead = tempfile::tempdir().unwrap();
    let guard = with_jobs(tap, dead.path(), &clock, "info", 1 << 16, || {
        workload(&clock)
    });
    let stats = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    assert_accounted(&stats);
    assert_eq!(
        stats.actions_dead_lettered + stats.actions_dropped,
        0,
        "{stats:?}"
    );

    let runs = db.query(
        "SELECT id::text, job_id, status, duration_seconds::float8, error_message, logs,
                metadata->>'api_token'
         FROM job_executions ORDER BY started_at",
    );
    let got: Vec<(String, String, Option<String>)> = runs
        .iter()
        .map(|r| (r.get(1), r.get(2), r.get(4)))
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        vec![
            (s("data_collection"), s("success"), None),
            (
                s("data_collection"),
                s("failed"),
                Some(s("house feed timed out"))
            ),
            (s("ticker_backfill"), s("cancelled"), None),
            (s("ticker_backfill"), s("failed"), Some(s("quota exceeded"))),
        ]
    );
    assert_eq!(runs[0].get::<_, f64>(3), 1.5);
    let logs: String = runs[0].get(5);
    assert!(logs.contains(" INFO     [") && logs.contains("collected {\"records\": 12"));
    assert!(!logs.contains("below the filter"));
    assert_eq!(runs[0].get::<_, String>(6), actionlog::REDACTED);
    let failed_logs: String = runs[1].get(5);
    assert_eq!(failed_logs.lines().count(), 2);

    // The action inside the successful run.
    let action = db.query("SELECT action_type, job_id, job_execution_id::text FROM action_logs");
    assert_eq!(action.len(), 1);
    assert_eq!(action[0].get::<_, String>(1), "data_collection");
    assert_eq!(action[0].get::<_, String>(2), runs[0].get::<_, String>(0));

    // scheduled_jobs, derived by actionlog_refresh_scheduled_jobs.
    let sj = |job: &str| {
        db.psql(&format!(
            "SELECT last_attempted_run IS NOT NULL, last_successful_run IS NOT NULL,
                    consecutive_failures, next_scheduled_run
             FROM scheduled_jobs WHERE job_id = '{job}'"
        ))
    };
    assert_eq!(sj("data_collection").trim(), "t|t|1|2025-11-03 15:30:45+00");
    assert_eq!(sj("ticker_backfill").trim(), "t|f|1|");
    assert_eq!(sj("idle").trim(), "f|f|0|");

    // Replaying every job batch changes nothing, not even updated_at.
    let snapshot = || {
        db.psql("SELECT * FROM job_executions ORDER BY id")
            + &db.psql("SELECT * FROM scheduled_jobs ORDER BY id")
    };
    let before = snapshot();
    let written = jobs.lock().unwrap().clone();
    assert_eq!(written.len(), 4);
    let mut sink = db.sink().scheduled_jobs(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(sink.write_jobs(&written.clone().into()))
        .unwrap();
    assert_eq!(snapshot(), before);

    // The reference job_executions queries, verbatim.
    let last10 = db.psql_rows(
        "-- Last 10 executions of a job
SELECT * FROM job_executions 
WHERE job_id = 'data_collection'
ORDER BY started_at DESC
LIMIT 10;",
    );
    assert_eq!(last10.len(), 2);
    assert!(last10[0].contains("|failed|"));
    let failed_today = db.psql_rows(
        "-- Failed executions today
SELECT * FROM job_executions
WHERE status = 'failed' 
AND started_at >= NOW() - INTERVAL '1 day'
ORDER BY started_at DESC;",
    );
    assert_eq!(failed_today.len(), 2);
    let rate = db.psql(
        "-- Success rate for a job
SELECT 
    job_id,
    COUNT(*) as total,
    SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as successes,
    ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM job_executions
WHERE started_at >= NOW() - INTERVAL '7 days'
GROUP BY job_id;",
    );
    let mut rate: Vec<&str> = rate.lines().collect();
    rate.sort();
    assert_eq!(
        rate,
        vec!["data_collection|2|1|50.00", "ticker_backfill|2|0|0.00"]
    );

    // The reference scheduled_jobs queries, verbatim.
    let enabled = db.psql(
        "-- All enabled jobs
SELECT job_id, job_name, schedule_type, schedule_value, next_scheduled_run
FROM scheduled_jobs
WHERE enabled = true
ORDER BY next_scheduled_run;",
    );
    assert_eq!(enabled.lines().count(), 3);
    assert!(enabled.starts_with("data_collection|Data collection|interval|3600|2025-11-03"));
    let overdue = db.psql(
        "-- Jobs that are overdue
SELECT job_id, job_name, next_scheduled_run, consecutive_failures
FROM scheduled_jobs
WHERE enabled = true AND next_scheduled_run <= NOW();",
    );
    assert_eq!(
        overdue.trim(),
        "data_collection|Data collection|2025-11-03 15:30:45+00|1"
    );
    let summary = db.psql(
        "-- Job status summary
SELECT 
    job_id,
    job_name,
    CASE 
        WHEN NOT enabled THEN 'disabled'
        WHEN consecutive_failures >= max_consecutive_failures THEN 'failed_max_retries'
        WHEN next_scheduled_run <= NOW() THEN 'overdue'
        ELSE 'scheduled'
    END as job_status,
    last_successful_run,
    consecutive_failures
FROM scheduled_jobs;",
    );
    let mut statuses: Vec<String> = summary
        .lines()
        .map(|l| l.split('|').take(3).collect::<Vec<_>>().join("|"))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![
            "data_collection|Data collection|overdue",
            "idle|Never ran|scheduled",
            "ticker_backfill|Ticker backfill|scheduled",
        ]
    );

    // Both views, with the reference queries.
    let view = db.psql(
        "SELECT * FROM scheduled_jobs_status
WHERE job_status IN ('overdue', 'failed_max_retries')
ORDER BY job_id;",
    );
    assert_eq!(view.lines().count(), 1);
    assert!(view.starts_with("data_collection|") && view.contains("|overdue|"));
    assert!(view.contains("|failed|"), "last execution status: {view}");
    let per_job = db.psql(
        "SELECT * FROM job_execution_summary
ORDER BY last_execution DESC;",
    );
    let per_job: Vec<Vec<&str>> = per_job
        .lines()
        .map(|l| l.split('|').take(6).collect())
        .collect();
    assert_eq!(
        per_job,
        vec![
            vec!["ticker_backfill", "2", "0", "1", "1", "0.00"],
            vec!["data_collection", "2", "1", "1", "0", "50.00"],
        ]
    );
}
