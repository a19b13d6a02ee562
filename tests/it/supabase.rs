//! The Supabase sink against a PostgREST contract double (`common::postgrest`: PostgREST cannot
//! be installed here; the double enforces its documented contract and writes into the real
//! PostgreSQL). Each response class is handled as specified and rows are checked in the
//! database; a canary key must never show up in any output.
#![cfg(all(feature = "supabase", feature = "postgres"))]

use crate::common;

use std::time::Duration;

use actionlog::sink::{Sink, SupabaseSink};
use actionlog::{ManualClock, PipelineConfig};
use common::actions::{dead_letters, with_actions};
use common::pg::TestDb;
use common::postgrest::{Double, Fault};

const KEY: &str = "CANARY-sb-key-6f1d2c";

struct Env {
    db: TestDb,
    double: Double,
    dead: tempfile::TempDir,
}

fn env(name: &str) -> Option<Env> {
    let db = TestDb::new(name)?;
    db.psql_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0001_action_logs.sql"
    ));
    let double = Double::start(&db.url, &db.schema, KEY);
    Some(Env {
        db,
        double,
        dead: tempfile::tempdir().unwrap(),
    })
}

impl Env {
    fn sink(&self) -> SupabaseSink {
        SupabaseSink::new(&self.double.url, KEY)
            .unwrap()
            .timeout(Duration::from_millis(500))
            .unwrap()
    }

    /// Runs `f` through an action layer on this env's sink; returns the shutdown result.
    fn run(&self, sink: SupabaseSink, f: impl FnOnce()) -> actionlog::Shutdown {
        let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
        let config = PipelineConfig::default()
            .no_spool()
            .retry_backoff(Duration::from_millis(10), Duration::from_secs(2));
        let guard = with_actions(sink, self.dead.path(), &clock, config, f);
        let done = guard.shutdown(Duration::from_secs(5));
        common::actions::assert_accounted(&done.stats);
        done
    }

    /// The canary must not be in any file this test wrote.
    fn assert_no_canary(&self) {
        for e in std::fs::read_dir(self.dead.path()).into_iter().flatten() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(
                !text.contains("CANARY"),
                "key leaked into a dead letter: {text}"
            );
        }
        assert!(
            self.double.violations().is_empty(),
            "{:?}",
            self.double.violations()
        );
    }
}

fn actions(n: usize) {
    for i in 0..n {
        tracing::info_span!("s", action_type = "run_job_now", seq = i, user_id = "ana")
            .in_scope(|| {});
    }
}

#[test]
fn delivers_and_keeps_final_status() {
    let Some(env) = env("sb_ok") else { return };
    let done = env.run(env.sink(), || actions(20));
    assert!(done.complete);
    assert_eq!(done.stats.actions_delivered, 40);
    assert_eq!(env.db.count("WHERE status = 'completed'"), 20);
    // A late initiated through the same API does not undo the final status (the trigger).
    let id: uuid::Uuid = env.db.query("SELECT id FROM action_logs LIMIT 1")[0].get(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = env.sink();
    rt.block_on(sink.write(&vec![actionlog::ActionRecord::blank(id, "run_job_now")].into()))
        .unwrap();
    assert_eq!(env.db.count("WHERE status = 'completed'"), 20);
    env.assert_no_canary();
}

#[test]
fn server_errors_are_retried_until_success() {
    let Some(env) = env("sb_500") else { return };
    for _ in 0..3 {
        env.double.push(Fault::Status(500));
    }
    env.double.push(Fault::Status(503));
    let done = env.run(env.sink(), || actions(5));
    assert_eq!(
        (done.stats.actions_delivered, done.stats.actions_retried),
        (10, 4)
    );
    assert_eq!(env.db.count(""), 5);
    env.assert_no_canary();
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let Some(env) = env("sb_429") else { return };
    env.double.push(Fault::RetryAfter(1));
    let done = env.run(env.sink(), || actions(3));
    assert_eq!(done.stats.actions_delivered, 6);
    let at = env.double.arrivals();
    // The retry came no sooner than the server asked (backoff alone would be ~10 ms).
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "{:?}",
        at[1] - at[0]
    );
    env.assert_no_canary();
}

#[test]
fn a_rejected_key_is_reported_without_the_key_and_records_are_kept() {
    let Some(env) = env("sb_401") else { return };
    let wrong = SupabaseSink::new(&env.double.url, "CANARY-wrong-key").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut probe = SupabaseSink::new(&env.double.url, "CANARY-wrong-key").unwrap();
    let err = rt
        .block_on(
            probe.write(&vec![actionlog::ActionRecord::blank(uuid::Uuid::now_v7(), "x")].into()),
        )
        .unwrap_err();
    assert_eq!(err.kind, actionlog::sink::FailureKind::Config);
    assert!(
        err.message.contains("rejected the API key") && err.message.contains("401"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("CANARY"), "{}", err.message);
    assert!(!format!("{err:?} {wrong:?}").contains("CANARY"));

    // Through the pipeline: nothing lands, nothing is lost (kept in the dead-letter file).
    let done = env.run(wrong, || actions(4));
    assert_eq!(
        (
            done.stats.actions_delivered,
            done.stats.actions_dead_lettered
        ),
        (0, 8)
    );
    let letters = dead_letters(env.dead.path());
    assert!(letters.iter().all(|l| {
        l["error"]
            .as_str()
            .unwrap()
            .contains("rejected the API key")
    }));
    assert_eq!(env.db.count(""), 0);
    env.assert_no_canary();
}

#[test]
fn a_missing_table_points_at_the_migration() {
    let Some(env) = env("sb_404") else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = env.sink().table("no_such_table").unwrap();
    let err = rt
        .block_on(
            sink.write(&vec![actionlog::ActionRecord::blank(uuid::Uuid::now_v7(), "x")].into()),
        )
        .unwrap_err();
    assert_eq!(err.kind, actionlog::sink::FailureKind::Config);
    assert!(
        err.message.contains("no_such_table")
            && err.message.contains("migrations/0001_action_logs.sql"),
        "{}",
        err.message
    );
    assert!(err.message.contains("PGRST205"), "{}", err.message);
}

#[test]
fn a_marked_row_is_dead_lettered_and_the_good_rows_land() {
    let Some(env) = env("sb_400") else { return };
    let too_long = "y".repeat(60);
    let done = env.run(env.sink(), || {
        for i in 0..12 {
            tracing::info!(action_type = "remove_job", seq = i);
        }
        tracing::info!(action_type = "remove_job", seq = 100, reject = true);
        tracing::info!(action_type = too_long.as_str(), seq = 101);
    });
    assert_eq!(
        (
            done.stats.actions_delivered,
            done.stats.actions_dead_lettered
        ),
        (12, 2)
    );
    assert_eq!(env.db.count(""), 12);
    let letters = dead_letters(env.dead.path());
    let errors: Vec<&str> = letters
        .iter()
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert!(errors.iter().any(|e| e.contains("23514")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("22001")), "{errors:?}");
    env.assert_no_canary();
}

#[test]
fn a_slow_answer_past_the_timeout_and_a_reset_after_commit_leave_no_duplicates() {
    let Some(env) = env("sb_slow") else { return };
    env.double.push(Fault::Slow(Duration::from_millis(900)));
    env.double.push(Fault::ResetAfterCommit);
    let done = env.run(env.sink(), || {
        for i in 0..10 {
            tracing::info!(action_type = "scheduled_job_execution", seq = i);
        }
    });
    assert_eq!(done.stats.actions_delivered, 10);
    assert!(done.stats.actions_retried >= 2, "{done:?}");
    // Every attempt committed the same ids: still exactly one row each.
    assert_eq!(env.db.count(""), 10);
    assert!(env.double.requests() >= 3);
    env.assert_no_canary();
}

#[test]
fn oversized_batches_are_split_into_several_requests() {
    let Some(env) = env("sb_split") else { return };
    let sink = env.sink().max_request_bytes(4096);
    let big = "z".repeat(600);
    let done = env.run(sink, || {
        for i in 0..20 {
            tracing::info!(action_type = "backfill", seq = i, note = big.as_str());
        }
    });
    assert_eq!(done.stats.actions_delivered, 20);
    assert_eq!(env.db.count(""), 20);
    assert!(env.double.requests() >= 4, "{}", env.double.requests());
}

#[test]
fn a_retry_budget_gives_up_into_the_dead_letter_file() {
    let Some(env) = env("sb_budget") else { return };
    for _ in 0..1000 {
        env.double.push(Fault::Status(503));
    }
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let config = PipelineConfig::default()
        .no_spool()
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .retry_budget(Duration::from_millis(200));
    let guard = with_actions(env.sink(), env.dead.path(), &clock, config, || actions(3));
    // The flush completes although the server never recovers: the budget ran out.
    assert!(guard.flush());
    let s = guard.stats();
    assert_eq!((s.actions_delivered, s.actions_dead_lettered), (0, 6));
    let letters = dead_letters(env.dead.path());
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("retry budget"),
        "{letters:?}"
    );
    assert!(
        letters[0]["error"].as_str().unwrap().contains("503"),
        "{letters:?}"
    );
    env.assert_no_canary();
}

/// Job runs through PostgREST: `job_executions` rows with `resolution=ignore-duplicates`, and
/// the `scheduled_jobs` upkeep through `POST /rest/v1/rpc/actionlog_refresh_scheduled_jobs`;
/// replaying the batches changes nothing.
#[test]
fn job_runs_and_scheduled_jobs_through_postgrest() {
    let Some(e) = env("sb_jobs") else { return };
    e.db.psql_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0002_jobs.sql"
    ));
    e.db.psql(
        "INSERT INTO scheduled_jobs (job_id, job_name) VALUES ('data_collection', 'Data collection')",
    );
    let tap = common::wrap::Wrap::new(e.sink().scheduled_jobs(true));
    let jobs = tap.jobs.clone();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let guard = common::jobs::with_jobs(tap, e.dead.path(), &clock, "info", 1 << 16, || {
        common::jobs::workload(&clock)
    });
    let stats = guard.shutdown(Duration::from_secs(10)).stats;
    common::actions::assert_accounted(&stats);
    assert_eq!(
        stats.actions_dead_lettered + stats.actions_dropped,
        0,
        "{stats:?}"
    );
    let snapshot = || {
        e.db.psql("SELECT id, job_id, status, error_message, logs FROM job_executions ORDER BY started_at")
            + &e.db.psql("SELECT * FROM scheduled_jobs")
    };
    let before = snapshot();
    assert_eq!(
        e.db.psql("SELECT string_agg(status, ',' ORDER BY started_at) FROM job_executions")
            .trim(),
        "success,failed,cancelled,failed"
    );
    assert_eq!(
        e.db.psql(
            "SELECT consecutive_failures, last_successful_run, next_scheduled_run FROM scheduled_jobs"
        )
        .trim(),
        "1|2025-11-03 14:30:45+00|2025-11-03 15:30:45+00"
    );
    let written = jobs.lock().unwrap().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        e.sink()
            .scheduled_jobs(true)
            .write_jobs(&written.clone().into()),
    )
    .unwrap();
    assert_eq!(snapshot(), before);
    e.assert_no_canary();
}
