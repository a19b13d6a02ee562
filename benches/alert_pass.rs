//! One alert pass (`actionlog::alert::Engine::pass`) over a SQLite store of 1 000 000 actions,
//! 100 000 job runs and 50 scheduled jobs: the six default rules plus failure-rate rules over
//! a day and over a week, each pass reading the store (opened afresh, as every pass does),
//! the log directory, and writing its state file — what `actionlog alert` does every minute.
//! Beside it, the same pass with the store's rollups set aside (`Options::use_rollups` off):
//! what the rollups save.
//!
//! The store is built quickly: the sink makes the schema, the rollup triggers and tables are
//! dropped, the rows go in as one bulk insert (a recursive CTE), and the sink's next open
//! makes the rollups again from the rows already there — the per-day and per-hour tables
//! exactly as the sink keeps them row by row. Kept between runs
//! (`target/bench-alert/actions.db`) and rebuilt when its counts differ; its times follow the
//! clock of the build, so an old store fires different rules, not a different cost.
//!
//! Run: `cargo bench --features alert,sqlite --bench alert_pass`

use std::path::{Path, PathBuf};
use std::time::Duration;

use actionlog::alert::{Config, Engine};
use actionlog::query::{Options, Target};
use criterion::Criterion;

const ACTIONS: i64 = 1_000_000;
const RUNS: i64 = 100_000;

/// The rows: 10 action types, 5 % failed (one type, `checkout`, 60 % of its own), 10 %
/// initiated, timestamps over the last 6 days; runs of 50 jobs over the same days; the jobs'
/// next runs spread around now (some overdue), a few at their maximum of failures.
const FILL: &str = "
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
INSERT INTO action_logs (id, action_type, user_id, action_timestamp, job_id, status,
    error_message, source, request_duration_seconds)
SELECT printf('00000000-0000-7000-8000-%012x', i),
    CASE i % 10 WHEN 0 THEN 'checkout' WHEN 1 THEN 'ticker_backfill'
        WHEN 2 THEN 'add_interval_job' WHEN 3 THEN 'add_cron_job' WHEN 4 THEN 'run_job_now'
        WHEN 5 THEN 'pause_job' WHEN 6 THEN 'resume_job' WHEN 7 THEN 'remove_job'
        WHEN 8 THEN 'job_execution' ELSE 'job_recovery' END,
    'user' || (i % 1000),
    strftime('%Y-%m-%dT%H:%M:%S', 'now', printf('-%d seconds', (i * 7919) % 518400))
        || printf('.%06dZ', i % 1000000),
    CASE WHEN i % 10 >= 8 THEN 'job_' || (i % 50) END,
    CASE WHEN i % 10 = 0 AND i % 100 < 60 THEN 'failed' WHEN i % 20 = 5 THEN 'failed'
        WHEN i % 10 = 1 THEN 'initiated' ELSE 'completed' END,
    CASE WHEN i % 10 = 0 AND i % 100 < 60 THEN 'card declined' WHEN i % 20 = 5 THEN 'feed timed out' END,
    'ui_button',
    ((i * 31) % 2000) / 1000.0
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO job_executions (id, job_id, status, started_at, duration_seconds, error_message)
SELECT printf('00000000-0000-7000-9000-%012x', i), 'job_' || (i % 50),
    CASE WHEN i % 50 < 4 THEN 'failed' ELSE 'success' END,
    strftime('%Y-%m-%dT%H:%M:%S', 'now', printf('-%d seconds', (i * 7919) % 518400))
        || printf('.%06dZ', i % 1000000),
    ((i * 37) % 5000) / 1000.0, CASE WHEN i % 50 < 4 THEN 'feed down' END
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49)
INSERT INTO scheduled_jobs (job_id, schedule_type, schedule_value, consecutive_failures,
    next_scheduled_run)
SELECT 'job_' || i, 'interval', '60', CASE WHEN i % 10 = 0 THEN 3 ELSE 0 END,
    strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', printf('%d minutes', (i % 7) * 10 - 30))
FROM n;";

/// The rollups' triggers and tables and every index, dropped before the bulk insert and made
/// again (the rollups from the rows, the indexes in one sort each) by the sink's next open.
const WITHOUT_ROLLUPS: &str = "
DROP TRIGGER IF EXISTS action_logs_rollup_insert; DROP TRIGGER IF EXISTS action_logs_rollup_update;
DROP TRIGGER IF EXISTS action_logs_rollup_delete; DROP TRIGGER IF EXISTS action_logs_hourly_insert;
DROP TRIGGER IF EXISTS action_logs_hourly_status_update;
DROP TRIGGER IF EXISTS action_logs_hourly_failures_update;
DROP TRIGGER IF EXISTS action_logs_hourly_delete;
DROP TABLE IF EXISTS action_logs_daily_status; DROP TABLE IF EXISTS action_logs_daily_users;
DROP TABLE IF EXISTS action_logs_daily_durations; DROP TABLE IF EXISTS action_logs_hourly_status;
DROP TABLE IF EXISTS action_logs_hourly_failures; DROP INDEX IF EXISTS idx_action_logs_stats;
DROP INDEX IF EXISTS idx_action_logs_failed; DROP INDEX IF EXISTS idx_job_executions_stats;
DROP INDEX IF EXISTS idx_action_logs_action_type; DROP INDEX IF EXISTS idx_action_logs_user_id;
DROP INDEX IF EXISTS idx_action_logs_timestamp; DROP INDEX IF EXISTS idx_action_logs_job_id;
DROP INDEX IF EXISTS idx_action_logs_status; DROP INDEX IF EXISTS idx_job_executions_job_id;
DROP INDEX IF EXISTS idx_job_executions_started_at; DROP INDEX IF EXISTS idx_job_executions_status;";

fn store() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-alert");
    let db = dir.join("actions.db");
    let count = || -> Option<(i64, i64)> {
        let c =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        c.query_row(
            "SELECT (SELECT count(*) FROM action_logs), (SELECT count(*) FROM job_executions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    if count() != Some((ACTIONS, RUNS)) {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("building {} …", db.display());
        let t = std::time::Instant::now();
        drop(actionlog::sink::SqliteSink::open(&db).unwrap());
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(&format!("{WITHOUT_ROLLUPS} BEGIN; {FILL} COMMIT;"))
            .unwrap();
        drop(c);
        // The rollups (and their index) made from the rows, as for a store older than them.
        drop(actionlog::sink::SqliteSink::open(&db).unwrap());
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("ANALYZE").unwrap();
        eprintln!("built in {:?}", t.elapsed());
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    db
}

const RULES: &str = "
[rules.checkout_today]
kind = \"failure_rate\"
window = \"1d\"
action_type = \"checkout\"

[rules.failures_this_week]
kind = \"failure_rate\"
window = \"7d\"
";

fn engine(db: &Path, rollups: bool, state: &str) -> Engine {
    let logs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-alert/logs");
    Engine::builder(Target::Sqlite(db.to_path_buf()))
        .config(Config::parse(RULES).unwrap())
        .options(Options {
            statement_timeout: Duration::from_secs(120),
            use_rollups: rollups,
            ..Options::default()
        })
        .log_dir(&logs)
        .state_file(logs.join(state))
        .build()
        .unwrap()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let db = store();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("alert_pass_1m_actions");
    g.sample_size(20);
    for (name, rollups) in [("rollups", true), ("full_scan", false)] {
        let mut e = engine(&db, rollups, &format!("state-{name}.json"));
        let first = rt.block_on(e.pass()).unwrap();
        eprintln!(
            "{name}: {} firing, problems {:?}",
            first.firing.len(),
            first.problems
        );
        g.bench_function(name, |b| {
            b.iter(|| rt.block_on(e.pass()).unwrap());
        });
    }
    g.finish();
    c.final_summary();
}
