//! Many threads, one writer: under `Block` every line arrives whole; under `DropNewest` the
//! dropped counter accounts exactly for the missing lines.

use crate::common;

use std::sync::Barrier;

use actionlog::{FileLayer, Overflow, Timezone};
use common::day_files;
use tracing_subscriber::prelude::*;

const THREADS: usize = 8;

/// Runs `per_thread` events on each of 8 threads through one file layer, returns the guard's
/// final stats and the parsed (thread, seq) of every line that is not actionlog's own.
fn run(
    overflow: Overflow,
    capacity: usize,
    per_thread: usize,
) -> (actionlog::Stats, Vec<(u64, u64)>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .overflow(overflow)
        .queue_capacity(capacity)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let dispatch = dispatch.clone();
            let barrier = &barrier;
            s.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("worker", thread = t);
                    let _e = span.enter();
                    barrier.wait();
                    for i in 0..per_thread {
                        tracing::info!(
                            seq = i,
                            payload = "some text that makes the line longer",
                            "event"
                        );
                    }
                })
            });
        }
    });
    let stats = guard.shutdown(std::time::Duration::from_secs(60)).stats;
    let mut ours = Vec::new();
    let mut notices = 0;
    for f in day_files(dir.path()) {
        let text = common::day_text(&f);
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
            if v["logger"] == "actionlog" {
                notices += 1;
                continue;
            }
            let m = &v["metadata"];
            ours.push((m["thread"].as_u64().unwrap(), m["seq"].as_u64().unwrap()));
        }
    }
    (stats, ours, notices)
}

#[test]
fn block_writes_every_line_whole() {
    let per_thread = 100_000;
    let (stats, mut lines, notices) = run(Overflow::Block, 1024, per_thread);
    assert_eq!(lines.len(), THREADS * per_thread);
    assert_eq!(notices, 0);
    assert_eq!(stats.lines_dropped, 0);
    assert_eq!(stats.lines_written, (THREADS * per_thread) as u64);
    // Each thread's lines arrive complete and in its own order.
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), THREADS * per_thread, "duplicates");
}

#[test]
fn drop_newest_counts_exactly_what_is_missing() {
    let per_thread = 50_000;
    // A tiny channel so that drops certainly happen.
    let (stats, lines, notices) = run(Overflow::DropNewest, 16, per_thread);
    let emitted = (THREADS * per_thread) as u64;
    assert!(stats.lines_dropped > 0, "{stats:?}");
    assert_eq!(
        lines.len() as u64 + stats.lines_dropped,
        emitted,
        "{stats:?}"
    );
    // The drops were announced in the file, and those notices count as written lines.
    assert!(notices >= 1);
    assert_eq!(stats.lines_written, lines.len() as u64 + notices as u64);
}
