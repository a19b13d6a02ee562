//! The spool's size bound: with the sink down and the spool at its bound, the worker stops
//! spilling; newer records wait in the channel and are dropped (counted) once it is full, what
//! is left at shutdown goes to the dead-letter file, the records already on disk are kept, and
//! the next start delivers them. The accounting invariant holds in both runs.

use crate::common;

use std::time::Duration;

use actionlog::sink::SqliteSink;
use actionlog::{ManualClock, Overflow, PipelineConfig};
use common::actions::{Down, assert_accounted, dead_letters};
use tracing_subscriber::prelude::*;

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default()
}

fn emit(from: u64, n: u64) {
    for seq in from..from + n {
        tracing::info!(action_type = "scheduled_job_execution", seq);
    }
}

#[test]
fn at_the_bound_spilling_stops_and_every_record_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let dead = dir.path().join("dead-letter");
    let config = PipelineConfig::default()
        .no_spool()
        .queue_capacity(100)
        .batch_size(10)
        .linger(Duration::from_millis(1))
        .overflow(Overflow::DropNewest)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(40))
        .spool_dir(&spool)
        // Any segment reaches it: after the first, spilling stops.
        .spool_max_bytes(1)
        .dead_letter_dir(&dead);
    let (layer, guard) = actionlog::ActionLayer::builder(Down)
        .pipeline(config)
        .clock(ManualClock::at(common::utc("2025-11-03T14:30:45Z")))
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(layer.with_filter(actionlog::ActionFilter));
    tracing::subscriber::with_default(subscriber, || {
        // Fill the channel while the sink fails: the worker spills it to one segment.
        emit(0, 100);
        common::wait_until("a first segment", Duration::from_secs(10), || {
            !segments(&spool).is_empty()
        });
        // Now the spool is at its bound: these wait in the channel, the rest are dropped.
        emit(100, 300);
        common::wait_until("the channel to stay full", Duration::from_secs(10), || {
            guard.stats().actions_dropped > 0
        });
    });
    let done = guard.shutdown(Duration::from_secs(2));
    let s = done.stats;
    assert_accounted(&s);
    assert_eq!(segments(&spool).len(), 1, "spilling stopped at the bound");
    assert_eq!(s.actions_recorded, 400);
    assert!(s.actions_dropped >= 200, "{s:?}");
    // What the channel held at shutdown did not fit in the spool: kept as dead letters.
    assert!(s.actions_dead_lettered > 0, "{s:?}");
    assert_eq!(dead_letters(&dead).len() as u64, s.actions_dead_lettered);
    assert_eq!(s.actions_delivered, 0);
    let on_disk = std::fs::read_to_string(&segments(&spool)[0])
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(on_disk, s.actions_spooled, "{s:?}");

    // The next start delivers what the spool kept.
    let db = dir.path().join("actions.db");
    let (layer, guard) = actionlog::ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .spool_dir(&spool)
                .dead_letter_dir(&dead),
        )
        .build()
        .unwrap();
    drop(layer);
    assert!(guard.flush());
    let s2 = guard.shutdown(Duration::from_secs(5)).stats;
    assert_accounted(&s2);
    assert_eq!(s2.actions_replayed, on_disk);
    assert_eq!(s2.actions_delivered, on_disk);
    let rows: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(DISTINCT id) FROM action_logs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows as u64, on_disk);
    assert!(segments(&spool).is_empty());
}

/// A record whose spool line would pass `actionlog::limits::MAX_LINE_BYTES` (possible with
/// raised caps) is never written to a segment, where a replay would skip it: it goes to the
/// dead-letter file, whether it was spilled during the outage or spooled at shutdown.
#[test]
fn a_record_too_long_for_a_spool_line_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let dead = dir.path().join("dead-letter");
    let config = PipelineConfig::default()
        .queue_capacity(4)
        .batch_size(2)
        .linger(Duration::from_millis(1))
        // Encoding a long record takes a while: the app waits for room rather than drop.
        .overflow(Overflow::Block)
        .block_timeout(Duration::from_secs(30))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(40))
        .spool_dir(&spool)
        .dead_letter_dir(&dead);
    let caps = actionlog::limits::Limits::new(32 << 20, 64 << 20);
    let (layer, guard) = actionlog::ActionLayer::builder(Down)
        .pipeline(config)
        .limits(caps)
        .clock(ManualClock::at(common::utc("2025-11-03T14:30:45Z")))
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(layer.with_filter(actionlog::ActionFilter));
    let blob = "x".repeat(actionlog::limits::MAX_LINE_BYTES);
    tracing::subscriber::with_default(subscriber, || {
        for seq in 0..12u64 {
            if seq % 4 == 0 {
                tracing::info!(action_type = "huge", seq, blob = %blob);
            } else {
                tracing::info!(action_type = "small", seq);
            }
        }
        common::wait_until("a segment", Duration::from_secs(10), || {
            !segments(&spool).is_empty()
        });
    });
    // The worker retries the down sink for three quarters of the deadline and spools or
    // dead-letters in the last quarter: 5 s of it, because encoding the 16 MiB records takes
    // seconds in a debug build on a loaded machine.
    let s = guard.shutdown(Duration::from_secs(20)).stats;
    assert_accounted(&s);
    assert_eq!(s.actions_recorded, 12);
    let dead = dead_letters(&dead);
    let huge: Vec<u64> = dead
        .iter()
        .filter(|d| d["record"]["action_type"] == "huge")
        .map(|d| d["record"]["action_details"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(huge.len(), 3, "{s:?}");
    assert_eq!(s.actions_dead_lettered, 3, "only the long ones: {s:?}");
    assert_eq!(s.actions_spooled, 9, "{s:?}");
    for seg in segments(&spool) {
        let text = std::fs::read_to_string(seg).unwrap();
        assert!(!text.contains("\"huge\""));
        assert!(
            text.lines()
                .all(|l| l.len() <= actionlog::limits::MAX_LINE_BYTES)
        );
    }
}
