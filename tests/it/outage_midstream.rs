//! PostgreSQL unreachable for a while in the middle of a continuous stream of actions: four
//! threads keep emitting one-shot actions while the test-owned proxy is cut (live connections
//! included) and later restored, with a spool directory so the channel keeps draining. Proves
//! that every record emitted lands exactly once (rows = records emitted, no duplicate ids, no
//! duplicate (thread, seq)), that the counters account for every record, and that no emitting
//! thread was ever held longer than the documented bound of `Overflow::Block` (100 ms by
//! default) plus a generous slack for a loaded 2-core machine. That last check is the
//! "documented upper bound on how long an emitting thread was blocked", not a speed claim.
//!
//! Every phase change waits for an observed state (rows delivered, a failed write retried,
//! records spilled, more records emitted), with a generous deadline; the emitters pause 1 ms
//! between actions only to keep the volume at a few thousand records.
#![cfg(feature = "postgres")]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actionlog::{ActionFilter, ActionLayer, Overflow, PipelineConfig};
use common::actions::assert_accounted;
use common::pg::TestDb;
use common::proxy::{Proxy, upstream_of};
use common::wait_until;
use tracing_subscriber::prelude::*;

const EMITTERS: u64 = 4;
/// Small enough that an outage of a second fills half of it and spills to the spool.
const CAPACITY: usize = 512;
/// The documented default of `PipelineConfig::block_timeout`.
const BLOCK_BOUND: Duration = Duration::from_millis(100);
/// Scheduling noise allowed on top of the bound (2 cores, another build running).
const SLACK: Duration = Duration::from_secs(1);
/// How long any one phase may take before the test fails instead of hanging.
const PHASE: Duration = Duration::from_secs(60);

#[test]
fn outage_mid_stream_every_record_lands_once_and_emitters_are_never_held() {
    assert_eq!(Overflow::default(), Overflow::Block);
    assert_eq!(
        actionlog::DEFAULT_ACTION_BLOCK_TIMEOUT,
        BLOCK_BOUND,
        "the bound this test checks is the documented default"
    );
    let Some(db) = TestDb::new("midstream") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), true);
    let config = PipelineConfig::default()
        .no_spool()
        .queue_capacity(CAPACITY)
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(500))
        .spool_dir(dir.path().join("spool"))
        .dead_letter_dir(dir.path().join("dead-letter"));
    let (layer, guard) = ActionLayer::builder(db.sink_at(&proxy.url(&db.url)))
        .pipeline(config)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer.with_filter(ActionFilter)),
    );

    let emitted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let emitters: Vec<_> = (0..EMITTERS)
        .map(|t| {
            let (dispatch, emitted, stop) = (dispatch.clone(), emitted.clone(), stop.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut longest = Duration::ZERO;
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let start = Instant::now();
                        tracing::info!(
                            action_type = "scheduled_job_execution",
                            thread = t,
                            seq = n,
                            job_id = "midstream"
                        );
                        longest = longest.max(start.elapsed());
                        n += 1;
                        emitted.fetch_add(1, Ordering::SeqCst);
                        // Pacing only (keeps the total at a few thousand records).
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    (n, longest)
                })
            })
        })
        .collect();

    // Healthy first: rows are landing while the emitters run.
    wait_until("the first rows to land", PHASE, || {
        guard.stats().actions_delivered > 0 && emitted.load(Ordering::SeqCst) >= 400
    });
    proxy.set_enabled(false);
    let at_cut = emitted.load(Ordering::SeqCst);
    let delivered_at_cut = guard.stats().actions_delivered;

    // Down: writes fail and are retried, the channel spills to the spool, emitters go on.
    wait_until(
        "a failed write, a spill, and 1000 more actions",
        PHASE,
        || {
            let s = guard.stats();
            s.actions_retried >= 1
                && s.actions_spooled >= 1
                && emitted.load(Ordering::SeqCst) >= at_cut + 1000
        },
    );
    proxy.set_enabled(true);
    let at_restore = emitted.load(Ordering::SeqCst);
    let outage_stats = guard.stats();

    // Back: delivery resumes while the emitters are still running.
    wait_until("delivery to resume and 1000 more actions", PHASE, || {
        guard.stats().actions_delivered > outage_stats.actions_delivered
            && emitted.load(Ordering::SeqCst) >= at_restore + 1000
    });
    stop.store(true, Ordering::SeqCst);
    let per_thread: Vec<(u64, Duration)> =
        emitters.into_iter().map(|h| h.join().unwrap()).collect();
    drop(dispatch);

    let done = guard.shutdown(Duration::from_secs(30));
    assert!(done.complete, "{done:?}");
    let s = done.stats;
    let total: u64 = per_thread.iter().map(|(n, _)| n).sum();
    let longest = per_thread.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "emitted {total} actions on {EMITTERS} threads; cut at {at_cut} (after {delivered_at_cut} delivered), \
         restored at {at_restore}; during the outage: {outage_stats:?}; final: {s:?}; \
         longest single emit call {longest:?}"
    );

    assert_accounted(&s);
    assert_eq!(s.actions_recorded, total);
    assert_eq!(
        (
            s.actions_delivered,
            s.actions_dropped,
            s.actions_dead_lettered
        ),
        (total, 0, 0),
        "{s:?}"
    );
    assert!(s.actions_retried >= 1 && s.actions_spooled >= 1, "{s:?}");
    assert_eq!(
        s.actions_replayed, s.actions_spooled,
        "everything spilled during the outage was read back and delivered"
    );
    assert_eq!(db.count("") as u64, total, "one row per action emitted");
    db.assert_no_duplicate_ids();
    let distinct: i64 = db.query(
        "SELECT count(DISTINCT (action_details->>'thread', action_details->>'seq')) FROM action_logs",
    )[0]
        .get(0);
    assert_eq!(
        distinct as u64, total,
        "no action landed twice under another id"
    );
    for (t, (n, _)) in per_thread.iter().enumerate() {
        assert_eq!(
            db.count(&format!("WHERE action_details->>'thread' = '{t}'")) as u64,
            *n,
            "thread {t}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("spool")).unwrap().count(),
        0,
        "every spool segment was delivered and removed"
    );

    // The documented bound on how long an emitting thread may be held (not a speed claim).
    for (t, (_, d)) in per_thread.iter().enumerate() {
        assert!(
            *d < BLOCK_BOUND + SLACK,
            "thread {t} was held {d:?} by one emit call, over the documented {BLOCK_BOUND:?} (+{SLACK:?} slack)"
        );
    }
}
