//! Action records into the real PostgreSQL (one schema per test): lifecycle rows, one-shot
//! events, `#[instrument(err)]`, idempotent replay, dead letters, a database unreachable at
//! start (through a loopback proxy the test owns), flush on guard drop, and the reference
//! "Using SQL" queries run verbatim with psql.
#![cfg(feature = "postgres")]

use crate::common;

use std::time::Duration;

use actionlog::{ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};
use common::pg::TestDb;
use common::proxy::{Proxy, upstream_of};
use common::wrap::Wrap;

fn fast_retries() -> PipelineConfig {
    PipelineConfig::default()
        .no_spool()
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

#[derive(Debug)]
struct Upstream(&'static str);
impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

#[tracing::instrument(err, fields(action_type = "run_job_now", source = "ui_button"))]
fn run_now(job_id: &str) -> Result<(), Upstream> {
    Err(Upstream("house feed timed out"))
}

#[test]
fn lifecycle_rows_have_the_right_columns() {
    let Some(db) = TestDb::new("lifecycle") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let exec = uuid::Uuid::now_v7().to_string();
    let guard = with_actions(db.sink(), dead.path(), &clock, fast_retries(), || {
        let ok = tracing::info_span!(
            "start_collection",
            action_type = "data_collection_start",
            user_id = "ana@example.com",
            source = "ui_button",
            ip_address = "203.0.113.7",
            user_agent = "Mozilla/5.0",
            lookback_days = 30,
            result_message = tracing::field::Empty,
        );
        ok.in_scope(|| {
            clock.advance(chrono::Duration::milliseconds(2250));
            tracing::Span::current().record("result_message", "128 disclosures");
        });
        drop(ok);
        let job = tracing::info_span!("job_execution", job_id = "data_collection", job_execution_id = %exec);
        job.in_scope(|| {
            tracing::info_span!("backfill", action_type = "ticker_backfill").in_scope(|| {
                tracing::error!("ticker service returned 500");
            });
        });
        let _ = run_now("nightly");
        tracing::info!(
            action_type = "pause_job",
            status = "initiated",
            job_id = "nightly",
            "pause clicked"
        );
    });
    assert!(guard.flush());
    let rows = db.query(
        "SELECT action_type, status, user_id, source, ip_address, user_agent, result_message, error_message,
                job_id, job_execution_id::text, request_duration_seconds::float8, action_details, action_timestamp
         FROM action_logs ORDER BY action_type",
    );
    assert_eq!(rows.len(), 4);
    let get = |t: &str| rows.iter().find(|r| r.get::<_, String>(0) == t).unwrap();
    let r = get("data_collection_start");
    assert_eq!(r.get::<_, String>(1), "completed");
    assert_eq!(
        r.get::<_, Option<String>>(2).as_deref(),
        Some("ana@example.com")
    );
    assert_eq!(r.get::<_, Option<String>>(3).as_deref(), Some("ui_button"));
    assert_eq!(
        r.get::<_, Option<String>>(4).as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(
        r.get::<_, Option<String>>(5).as_deref(),
        Some("Mozilla/5.0")
    );
    assert_eq!(
        r.get::<_, Option<String>>(6).as_deref(),
        Some("128 disclosures")
    );
    assert_eq!(r.get::<_, Option<f64>>(10), Some(2.25));
    assert_eq!(
        r.get::<_, serde_json::Value>(11),
        serde_json::json!({"lookback_days": 30})
    );
    assert_eq!(
        r.get::<_, chrono::DateTime<chrono::Utc>>(12),
        common::utc("2025-11-03T14:30:45Z")
    );

    let b = get("ticker_backfill");
    assert_eq!(b.get::<_, String>(1), "failed");
    assert_eq!(
        b.get::<_, Option<String>>(7).as_deref(),
        Some("ticker service returned 500")
    );
    assert_eq!(
        b.get::<_, Option<String>>(8).as_deref(),
        Some("data_collection")
    );
    assert_eq!(b.get::<_, Option<String>>(9), Some(exec));

    let i = get("run_job_now");
    assert_eq!(i.get::<_, String>(1), "failed");
    assert_eq!(
        i.get::<_, Option<String>>(7).as_deref(),
        Some("house feed timed out")
    );
    // The instrumented function's argument named like a column fills that column.
    assert_eq!(i.get::<_, Option<String>>(8).as_deref(), Some("nightly"));
    assert_eq!(i.get::<_, serde_json::Value>(11), serde_json::json!({}));

    let p = get("pause_job");
    assert_eq!(p.get::<_, String>(1), "initiated");
    assert_eq!(
        p.get::<_, serde_json::Value>(11),
        serde_json::json!({"message": "pause clicked"})
    );
}

#[test]
fn a_bad_row_is_dead_lettered_and_the_rest_land() {
    let Some(db) = TestDb::new("deadletter") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let too_long = "x".repeat(51);
    let guard = with_actions(db.sink(), dead.path(), &clock, fast_retries(), || {
        for i in 0..40 {
            tracing::info!(action_type = "remove_job", seq = i, note = "nul\0inside");
        }
        tracing::info!(action_type = too_long.as_str(), seq = 1000);
        tracing::info!(
            action_type = "resume_job",
            job_execution_id = "not-a-uuid",
            seq = 1001
        );
    });
    let stats = guard.shutdown(Duration::from_secs(10)).stats;
    assert_eq!(db.count(""), 40);
    // NUL bytes were cleaned, not rejected.
    assert_eq!(
        db.count("WHERE action_details->>'note' = 'nul\u{FFFD}inside'"),
        40
    );
    let letters = dead_letters(dead.path());
    assert_eq!(letters.len(), 2, "{letters:?}");
    let seqs: Vec<i64> = letters
        .iter()
        .map(|l| l["record"]["action_details"]["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.contains(&1000) && seqs.contains(&1001));
    assert!(
        letters
            .iter()
            .any(|l| l["error"].as_str().unwrap().contains("22001")),
        "{letters:?}"
    );
    assert!(
        letters
            .iter()
            .any(|l| l["error"].as_str().unwrap().contains("22P02")),
        "{letters:?}"
    );
    assert_eq!(
        (
            stats.actions_recorded,
            stats.actions_delivered,
            stats.actions_dead_lettered
        ),
        (42, 40, 2)
    );
}

#[test]
fn database_down_at_start_then_reachable_everything_lands() {
    let Some(db) = TestDb::new("outage") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), false);
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let (layer, guard) = actionlog::ActionLayer::builder(db.sink_at(&proxy.url(&db.url)))
        .pipeline(fast_retries().dead_letter_dir(dead.path()))
        .clock(clock.clone())
        .flush_deadline(Duration::from_millis(300))
        .build()
        .expect("a database that is down at start does not fail set-up");
    use tracing_subscriber::prelude::*;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..50 {
            tracing::info!(action_type = "scheduled_job_execution", seq = i);
        }
        // Cannot finish while the path is cut: the deadline expires, nothing is lost.
        assert!(!guard.flush());
        proxy.set_enabled(true);
        for i in 50..60 {
            tracing::info!(action_type = "scheduled_job_execution", seq = i);
        }
    });
    let done = guard.shutdown(Duration::from_secs(20));
    assert!(
        done.complete,
        "the worker acknowledged the shutdown: {done:?}"
    );
    let stats = done.stats;
    assert_accounted(&stats);
    assert_eq!(db.count(""), 60);
    assert!(stats.actions_retried >= 1, "{stats:?}");
    assert_eq!(
        (
            stats.actions_delivered,
            stats.actions_dropped,
            stats.actions_dead_lettered
        ),
        (60, 0, 0)
    );
}

#[test]
fn the_reference_sql_queries_run_verbatim() {
    let Some(db) = TestDb::new("referencesql") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    // Real time: the reference queries look at the last day and week.
    let (layer, guard) = actionlog::ActionLayer::builder(db.sink())
        .pipeline(fast_retries().dead_letter_dir(dead.path()))
        .build()
        .unwrap();
    use tracing_subscriber::prelude::*;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for user in ["ana", "ana", "ana", "bo"] {
            tracing::info_span!("c", action_type = "data_collection_start", user_id = user)
                .in_scope(|| {});
        }
        tracing::info_span!("p", action_type = "pause_job", user_id = "bo").in_scope(|| {
            tracing::error!("scheduler not running");
        });
    });
    drop(guard);

    let by_type = db.psql(
        "-- All actions in the last 24 hours
SELECT action_type, status, COUNT(*) as count
FROM action_logs
WHERE action_timestamp >= NOW() - INTERVAL '1 day'
GROUP BY action_type, status
ORDER BY count DESC;",
    );
    assert_eq!(
        by_type.trim(),
        "data_collection_start|completed|4\npause_job|failed|1"
    );

    let users = db.psql(
        "-- User activity
SELECT user_id, COUNT(*) as action_count, COUNT(DISTINCT action_type) as unique_actions
FROM action_logs
WHERE action_timestamp >= NOW() - INTERVAL '7 days'
GROUP BY user_id
ORDER BY action_count DESC;",
    );
    assert_eq!(users.trim(), "ana|3|1\nbo|2|2");

    let failed = db.psql(
        "-- Failed actions
SELECT * FROM action_logs
WHERE status = 'failed' AND action_timestamp >= NOW() - INTERVAL '1 day'
ORDER BY action_timestamp DESC;",
    );
    assert_eq!(failed.trim().lines().count(), 1);
    assert!(
        failed.contains("|pause_job|bo|") && failed.contains("scheduler not running"),
        "{failed}"
    );
}

#[test]
fn the_migration_runs_by_hand_and_twice() {
    let Some(db) = TestDb::new("migration") else {
        return;
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0001_action_logs.sql"
    );
    db.psql_file(path);
    db.psql_file(path);
    let idx = db.psql(&format!(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}' AND tablename = 'action_logs'",
        db.schema
    ));
    assert_eq!(idx.trim(), "6", "primary key + the five indexes");
    db.psql("INSERT INTO action_logs (action_type) VALUES ('manual')");
    db.psql("UPDATE action_logs SET status = 'completed', created_at = NOW() - INTERVAL '1 hour', updated_at = NOW() - INTERVAL '1 hour'");
    let moved = db.psql("SELECT updated_at > created_at FROM action_logs");
    assert_eq!(moved.trim(), "t", "the trigger keeps updated_at current");
    // Even by hand, an open status does not replace a final one.
    db.psql("UPDATE action_logs SET status = 'initiated'");
    assert_eq!(
        db.psql("SELECT status FROM action_logs").trim(),
        "completed"
    );
}

#[test]
fn values_survive_the_direct_copy_path() {
    let Some(db) = TestDb::new("copypath") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let exec = uuid::Uuid::now_v7();
    let durations = [
        0.0,
        0.001,
        0.0004,
        2.25,
        1234.5678,
        10_000.5,
        9_999_999.999,
        -3.5,
    ];
    let guard = with_actions(db.sink(), dead.path(), &clock, fast_retries(), || {
        for (i, d) in durations.iter().enumerate() {
            // One-shot actions are first writes: they take the COPY-into-the-table path.
            tracing::info!(action_type = "job_execution", seq = i, duration_seconds = *d, job_execution_id = %exec, source = "scheduled_job");
        }
        // Out of the column's range: taken off the fast path and rejected by PostgreSQL itself.
        tracing::info!(
            action_type = "job_execution",
            seq = 99,
            duration_seconds = 1e12
        );
    });
    let stats = guard.shutdown(Duration::from_secs(10)).stats;
    let rows = db.query(
        "SELECT (action_details->>'seq')::int, request_duration_seconds::text, job_execution_id::text, source
         FROM action_logs ORDER BY 1",
    );
    let got: Vec<String> = rows.iter().map(|r| r.get::<_, String>(1)).collect();
    assert_eq!(
        got,
        [
            "0.000",
            "0.001",
            "0.000",
            "2.250",
            "1234.568",
            "10000.500",
            "9999999.999",
            "-3.500"
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.get::<_, String>(2) == exec.to_string()
                && r.get::<_, String>(3) == "scheduled_job")
    );
    assert_eq!(
        (stats.actions_delivered, stats.actions_dead_lettered),
        (durations.len() as u64, 1)
    );
    let letters = dead_letters(dead.path());
    assert!(
        letters[0]["error"].as_str().unwrap().contains("22003"),
        "{letters:?}"
    );
}

#[test]
fn shutdown_with_the_database_down_keeps_every_record_in_the_dead_letter_file() {
    let Some(db) = TestDb::new("downatexit") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), false);
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let guard = with_actions(
        db.sink_at(&proxy.url(&db.url)),
        dead.path(),
        &clock,
        fast_retries(),
        || {
            for i in 0..30 {
                tracing::info!(action_type = "scheduled_job_execution", seq = i);
            }
        },
    );
    let done = guard.shutdown(Duration::from_secs(4));
    assert!(done.complete, "{done:?}");
    let s = done.stats;
    assert_accounted(&s);
    assert_eq!(
        (
            s.actions_recorded,
            s.actions_delivered,
            s.actions_dead_lettered,
            s.actions_dropped
        ),
        (30, 0, 30, 0)
    );
    assert!(s.actions_retried >= 1);
    let letters = dead_letters(dead.path());
    assert_eq!(letters.len(), 30);
    assert!(
        letters
            .iter()
            .all(|l| l["error"].as_str().unwrap().contains("shutdown deadline"))
    );
    // The database was never reached: not even the migration ran.
    assert!(db.query("SELECT to_regclass('action_logs') IS NULL")[0].get::<_, bool>(0));
}

#[test]
fn records_of_one_action_merge_inside_a_batch() {
    let Some(db) = TestDb::new("merge") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let sink = Wrap::new(db.sink());
    let sizes = sink.sizes.clone();
    let config = fast_retries().linger(Duration::from_secs(3600));
    let guard = with_actions(sink, dead.path(), &clock, config, || {
        for i in 0..4 {
            tracing::info_span!("s", action_type = "add_interval_job", seq = i).in_scope(|| {});
        }
    });
    assert!(guard.flush());
    // Eight records (initiated + completed each) went to the database as one batch of four rows.
    assert_eq!(*sizes.lock().unwrap(), vec![4]);
    assert_eq!(db.count("WHERE status = 'completed'"), 4);
    let s = guard.stats();
    assert_eq!((s.actions_recorded, s.actions_delivered), (8, 8));
}

#[test]
fn what_the_database_could_not_take_at_shutdown_is_spooled_and_delivered_by_the_next_start() {
    let Some(db) = TestDb::new("spool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let proxy = Proxy::start(upstream_of(&db.url), false);
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let config = || fast_retries().spool_dir(&spool);
    // First run: the database is unreachable until the end.
    let guard = with_actions(
        db.sink_at(&proxy.url(&db.url)),
        &dir.path().join("dead"),
        &clock,
        config(),
        || {
            for i in 0..30 {
                tracing::info_span!("s", action_type = "scheduled_job_execution", seq = i)
                    .in_scope(|| {});
            }
        },
    );
    let first = guard.shutdown(Duration::from_secs(4));
    assert!(first.complete, "{first:?}");
    let s = first.stats;
    assert_accounted(&s);
    assert_eq!(
        (
            s.actions_recorded,
            s.actions_delivered,
            s.actions_spooled,
            s.actions_dead_lettered
        ),
        (60, 0, 60, 0)
    );
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1, "one segment");

    // Next start, database reachable: the spool goes first, and is removed once delivered.
    proxy.set_enabled(true);
    let guard = with_actions(
        db.sink_at(&proxy.url(&db.url)),
        &dir.path().join("dead"),
        &clock,
        config(),
        || {},
    );
    assert!(guard.flush());
    let second = guard.shutdown(Duration::from_secs(5)).stats;
    assert_accounted(&second);
    assert_eq!(
        (
            second.actions_replayed,
            second.actions_delivered,
            second.actions_dropped
        ),
        (30, 30, 0)
    );
    assert_eq!(db.count("WHERE status = 'completed'"), 30);
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "segment deleted after delivery"
    );
}
