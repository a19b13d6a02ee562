//! A PostgreSQL connection killed after the server committed a batch but before the client saw
//! the reply: the worker sees a failure, retries, and the rows still land exactly once.
//!
//! The test-owned proxy forwards the sink's `COMMIT` and swallows the server's answer (sent only
//! once the commit is done), then cuts the connection and refuses new ones. While the path is
//! down the test checks that the server really committed: the rows are in the table although
//! the worker has not counted them delivered and has counted a retry. After the path is back,
//! the retried batch must change nothing (the table is identical to what the server committed),
//! rows = actions, no duplicate ids, and the counters account for every record.
//!
//! Two cases: a batch of new rows (binary COPY straight into the table; its retry hits the
//! unique key and falls back to the upsert), and a batch of final records updating existing
//! rows (staging table + upsert).
#![cfg(feature = "postgres")]

use crate::common;

use std::time::Duration;

use actionlog::{ActionFilter, ActionLayer, Guard, PipelineConfig};
use common::actions::assert_accounted;
use common::pg::TestDb;
use common::proxy::{Proxy, upstream_of};
use common::wait_until;
use tracing_subscriber::prelude::*;

const N: u64 = 200;
/// Generous: a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// An action layer writing through `proxy` (without TLS, so the proxy can spot the `COMMIT`);
/// batches close only on a flush (long linger), so each flush writes exactly one batch in one
/// transaction.
fn layer(db: &TestDb, proxy: &Proxy, dead: &std::path::Path) -> (ActionLayer, Guard) {
    ActionLayer::builder(db.sink_at(&proxy.plain_url(&db.url)))
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .linger(Duration::from_secs(3600))
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
                .dead_letter_dir(dead),
        )
        .flush_deadline(DEADLINE)
        .build()
        .unwrap()
}

/// Every row as JSON, in id order: the table's full state.
fn snapshot(db: &TestDb) -> Vec<String> {
    db.query("SELECT row_to_json(a)::text FROM action_logs a ORDER BY id")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Flushes on another thread while the proxy swallows the reply to the batch's `COMMIT`;
/// checks the commit happened although the worker saw a failure; restores the path; returns
/// the table as the server had committed it.
fn flush_through_a_lost_commit_reply(
    guard: &Guard,
    proxy: &Proxy,
    db: &TestDb,
    expect_rows: i64,
    committed: &str,
) -> Vec<String> {
    let delivered_before = guard.stats().actions_delivered;
    std::thread::scope(|s| {
        let flusher = s.spawn(|| guard.flush());
        wait_until("the proxy to swallow a commit reply", DEADLINE, || {
            proxy.cuts() >= 1
        });
        wait_until("the worker to see the failure", DEADLINE, || {
            guard.stats().actions_retried >= 1
        });
        // The path is still down (the proxy disabled itself): the worker cannot have written
        // anything since. Yet the rows are there: the server committed before the cut.
        assert_eq!(db.count(committed), expect_rows, "the server committed");
        assert_eq!(
            guard.stats().actions_delivered,
            delivered_before,
            "the client never saw the commit succeed"
        );
        let at_cut = snapshot(db);
        proxy.set_enabled(true);
        assert!(
            flusher.join().unwrap(),
            "the flush completes once the path is back"
        );
        at_cut
    })
}

#[test]
fn new_rows_committed_then_cut_land_once() {
    let Some(db) = TestDb::new("commitcut_new") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), true);
    let (layer, guard) = layer(&db, &proxy, dead.path());
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    let at_cut = tracing::subscriber::with_default(subscriber, || {
        // Connect (and migrate) first, so the armed fault hits the batch's own COMMIT.
        tracing::info!(action_type = "scheduled_job_execution", seq = -1);
        assert!(guard.flush());
        assert_eq!(db.count(""), 1);

        proxy.cut_after_next_commit();
        for i in 0..N {
            tracing::info!(action_type = "scheduled_job_execution", seq = i);
        }
        flush_through_a_lost_commit_reply(&guard, &proxy, &db, N as i64 + 1, "")
    });

    let done = guard.shutdown(DEADLINE);
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
        (N + 1, N + 1, 0, 0),
        "{s:?}"
    );
    assert!(s.actions_retried >= 1, "{s:?}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(db.count("") as u64, N + 1);
    db.assert_no_duplicate_ids();
    let seqs: i64 =
        db.query("SELECT count(DISTINCT action_details->>'seq') FROM action_logs")[0].get(0);
    assert_eq!(seqs as u64, N + 1);
    assert_eq!(
        snapshot(&db),
        at_cut,
        "the retried batch changed nothing the server had committed"
    );
}

#[test]
fn final_records_committed_then_cut_land_once() {
    let Some(db) = TestDb::new("commitcut_upd") else {
        return;
    };
    let dead = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), true);
    let (layer, guard) = layer(&db, &proxy, dead.path());
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    let at_cut = tracing::subscriber::with_default(subscriber, || {
        // Open actions: their `initiated` rows land first.
        let spans: Vec<tracing::Span> = (0..N)
            .map(|i| tracing::info_span!("job", action_type = "run_job_now", seq = i))
            .collect();
        assert!(guard.flush());
        assert_eq!(db.count("WHERE status = 'initiated'"), N as i64);

        // Their final records update those rows, in one batch whose commit reply is lost.
        proxy.cut_after_next_commit();
        drop(spans);
        flush_through_a_lost_commit_reply(
            &guard,
            &proxy,
            &db,
            N as i64,
            "WHERE status = 'completed'",
        )
    });

    let done = guard.shutdown(DEADLINE);
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
        (2 * N, 2 * N, 0, 0),
        "{s:?}"
    );
    assert!(s.actions_retried >= 1, "{s:?}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(db.count("") as u64, N);
    assert_eq!(db.count("WHERE status = 'completed'") as u64, N);
    db.assert_no_duplicate_ids();
    assert_eq!(
        snapshot(&db),
        at_cut,
        "the retried batch changed nothing the server had committed (not even updated_at)"
    );
}
