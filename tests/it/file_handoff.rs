//! The per-thread hand-off to the file writer: many threads across a day rollover driven by an
//! injected clock, shutdown while threads still emit, and the rule for a line stamped before midnight that
//! reaches the writer after it moved to the new day: it goes into the file the writer is on
//! (the new day's), keeping its own timestamp; a line is never written to an older day's file
//! than one already written to, and no line stamped after midnight lands in the old day's file.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{day_files, json_lines, lines_by_file, utc};
use tracing_subscriber::prelude::*;

#[test]
fn many_threads_across_a_rollover_lose_nothing_and_keep_their_order() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2026-05-01T23:59:59Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .queue_capacity(4096)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emitted = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (dispatch, barrier, emitted) = (&dispatch, &barrier, &emitted);
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    let span = tracing::info_span!("worker", thread = t);
                    let _e = span.enter();
                    barrier.wait();
                    for seq in 0..PER_THREAD {
                        tracing::info!(seq, "event");
                        emitted.fetch_add(1, Ordering::Relaxed);
                    }
                })
            });
        }
        barrier.wait();
        // Midnight passes while every thread is emitting.
        while emitted.load(Ordering::Relaxed) < THREADS * PER_THREAD / 2 {
            std::thread::yield_now();
        }
        clock.set(utc("2026-05-02T00:00:01Z"));
    });
    let stats = guard.shutdown(Duration::from_secs(30)).stats;
    assert_eq!(stats.lines_dropped, 0, "{stats:?}");
    let lines = lines_by_file(dir.path());
    assert_eq!(lines.len() as u64, THREADS * PER_THREAD);
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut before = 0;
    for (file, thread, seq, ts) in &lines {
        let own_day = &ts[..10];
        // Never in an older day's file than its own; only a late line may be in a newer one.
        assert!(file.as_str() >= own_day, "{file}: line stamped {ts}");
        if own_day == "2026-05-01" {
            before += 1;
        }
        // Each thread's lines, read file after file, are exactly 0, 1, 2, …
        let want = next.entry(*thread).or_default();
        assert_eq!(seq, want, "thread {thread} out of order in {file}");
        *want += 1;
    }
    assert!(
        before > 0 && before < lines.len(),
        "midnight passed mid-run"
    );
    assert!(
        lines.iter().any(|l| l.0 == "2026-05-02"),
        "the writer moved on"
    );
}

/// A value whose `Debug` stops the emitting thread between the stamp and the hand-off.
struct Gate {
    stamped: mpsc::Sender<()>,
    release: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = self.stamped.send(());
        let _ = self.release.lock().unwrap().recv();
        f.write_str("gate")
    }
}

#[test]
fn a_line_stamped_before_midnight_arriving_after_it_goes_to_the_new_days_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2026-05-01T23:59:59.5Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let (stamped_tx, stamped_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let gate = Gate {
        stamped: stamped_tx,
        release: std::sync::Mutex::new(release_rx),
    };
    std::thread::scope(|s| {
        let d = &dispatch;
        let gate = &gate;
        let late = s.spawn(move || {
            tracing::dispatcher::with_default(
                d,
                || tracing::info!(thread = 1u64, seq = 0u64, gate = ?gate, "late"),
            )
        });
        stamped_rx.recv().unwrap();
        clock.set(utc("2026-05-02T00:00:01Z"));
        tracing::dispatcher::with_default(d, || {
            tracing::info!(thread = 2u64, seq = 0u64, "new day")
        });
        assert!(guard.flush(), "the writer moved to the new day");
        release_tx.send(()).unwrap();
        late.join().unwrap();
    });
    drop(dispatch);
    let _ = guard.shutdown(Duration::from_secs(5));
    let lines = lines_by_file(dir.path());
    assert_eq!(
        lines,
        vec![
            (
                "2026-05-02".into(),
                2,
                0,
                "2026-05-02T00:00:01.000000+00:00".into()
            ),
            (
                "2026-05-02".into(),
                1,
                0,
                "2026-05-01T23:59:59.500000+00:00".into()
            ),
        ]
    );
}

#[test]
fn shutdown_while_threads_still_emit_keeps_a_whole_prefix_of_each_thread() {
    const THREADS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (d, stop, emitted) = (dispatch.clone(), stop.clone(), emitted.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        tracing::info!(thread = t, seq, "event");
                        emitted.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                    }
                })
            })
        })
        .collect();
    while emitted.load(Ordering::Relaxed) < 20_000 {
        std::thread::yield_now();
    }
    let report = guard.shutdown(Duration::from_secs(10));
    // The emitters keep going for a while after the writer stopped: they are not held.
    let after = emitted.load(Ordering::Relaxed);
    while emitted.load(Ordering::Relaxed) < after + 10_000 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let lines = lines_by_file(dir.path());
    // Lines refused once the writer stopped taking them are counted as dropped, and may be
    // announced by WARNING lines of the writer's own, which count as written.
    let all: usize = day_files(dir.path())
        .iter()
        .map(|f| json_lines(f).len())
        .sum();
    assert_eq!(all as u64, report.stats.lines_written);
    let mut next: HashMap<u64, u64> = HashMap::new();
    for (_, t, seq, _) in lines {
        let want = next.entry(t).or_default();
        assert_eq!(seq, *want, "thread {t}: a gap or a reordering");
        *want += 1;
    }
}
