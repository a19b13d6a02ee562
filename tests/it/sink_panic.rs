//! A sink that panics keeps its batch: a panic while `write` builds its future, or while the
//! future is polled, is a failed write — retried until the sink recovers, spooled at shutdown
//! while it does not — and counted; nothing is lost with the worker's restart.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actionlog::sink::{Sink, SinkFuture, SqliteSink};
use actionlog::{ActionRecord, JobExecution, ManualClock, PipelineConfig};
use common::actions::{assert_accounted, with_actions};

/// Where the panic happens.
#[derive(Clone, Copy)]
enum At {
    /// Inside `write`, before it returns its future (a sink doing work up front).
    Call,
    /// Inside the future, when polled.
    Poll,
}

/// Forwards to `inner` once `panics` writes have panicked.
struct Panicky<S> {
    inner: S,
    at: At,
    panics: Arc<AtomicU32>,
}

impl<S: Sink> Sink for Panicky<S> {
    fn name(&self) -> &'static str {
        "panicky"
    }

    fn write<'a>(&'a mut self, batch: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        let left = self.panics.load(Ordering::SeqCst);
        if left == 0 {
            return self.inner.write(batch);
        }
        self.panics.store(left - 1, Ordering::SeqCst);
        match self.at {
            At::Call => panic!("sink bug while building the write"),
            At::Poll => Box::pin(async { panic!("sink bug while writing") }),
        }
    }

    fn write_jobs<'a>(
        &'a mut self,
        batch: &'a actionlog::sink::Batch<JobExecution>,
    ) -> SinkFuture<'a> {
        self.inner.write_jobs(batch)
    }
}

fn config() -> PipelineConfig {
    PipelineConfig::default()
        .batch_size(10)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn rows(db: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*), count(DISTINCT id) FROM action_logs",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn recovers_after_panics(at: At) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let sink = Panicky {
        inner: SqliteSink::open(&db).unwrap(),
        at,
        panics: Arc::new(AtomicU32::new(3)),
    };
    let guard = with_actions(
        sink,
        &dir.path().join("dead-letter"),
        &clock(),
        config().spool_dir(dir.path().join("spool")),
        || {
            for i in 0..100 {
                tracing::info!(action_type = "order", seq = i);
            }
        },
    );
    let done = guard.shutdown(Duration::from_secs(30));
    let s = done.stats;
    assert!(done.complete, "{s:?}");
    assert_accounted(&s);
    assert_eq!(
        (s.actions_recorded, s.actions_delivered),
        (100, 100),
        "{s:?}"
    );
    assert!(s.actions_retried >= 3, "the panics are not counted: {s:?}");
    assert_eq!(rows(&db), (100, 100));
}

#[test]
fn a_panic_building_the_write_keeps_the_batch() {
    recovers_after_panics(At::Call);
}

#[test]
fn a_panic_while_polled_keeps_the_batch() {
    recovers_after_panics(At::Poll);
}

#[test]
fn a_sink_that_always_panics_spools_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let sink = Panicky {
        inner: SqliteSink::open(&db).unwrap(),
        at: At::Poll,
        panics: Arc::new(AtomicU32::new(u32::MAX)),
    };
    let guard = with_actions(
        sink,
        &dir.path().join("dead-letter"),
        &clock(),
        config().spool_dir(dir.path().join("spool")),
        || {
            for i in 0..50 {
                tracing::info!(action_type = "order", seq = i);
            }
        },
    );
    let s = guard.shutdown(Duration::from_millis(500)).stats;
    assert_accounted(&s);
    assert_eq!(s.actions_recorded, 50, "{s:?}");
    assert_eq!(s.actions_delivered + s.actions_dropped, 0, "{s:?}");
    assert_eq!(s.actions_spooled + s.actions_dead_lettered, 50, "{s:?}");
    assert!(s.actions_retried >= 1, "{s:?}");

    // The next start, with a sink that works, delivers them once each.
    let guard = with_actions(
        SqliteSink::open(&db).unwrap(),
        &dir.path().join("dead-letter"),
        &clock(),
        config().spool_dir(dir.path().join("spool")),
        || {},
    );
    let s2 = guard.shutdown(Duration::from_secs(30)).stats;
    assert_accounted(&s2);
    assert_eq!(s2.actions_replayed, s.actions_spooled, "{s2:?}");
    assert_eq!(rows(&db).0 as u64, s.actions_spooled);
}

fn clock() -> ManualClock {
    ManualClock::at(common::utc("2026-03-01T12:00:00Z"))
}
