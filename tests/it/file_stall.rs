//! A stalled file writer (a hung disk) holds the app at most the `Block` wait once: past it the
//! line is dropped and counted, and further lines are dropped at once — not waited for — until
//! the writer takes lines again. The writer is stalled here by the clock it reads when it
//! announces drops (made to hang on the writer's thread), after a FIFO planted at the next
//! day's file made it hold lines up to its in-memory cap.

use crate::common;

use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use actionlog::{Clock, FileLayer, ManualClock, Timezone};
use chrono::{DateTime, Utc};
use tracing_subscriber::prelude::*;

/// A manual clock that hangs the file writer's thread while the gate is shut: a disk that
/// stopped answering, as the writer sees it.
#[derive(Clone)]
struct HangingClock {
    inner: ManualClock,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Clock for HangingClock {
    fn now(&self) -> DateTime<Utc> {
        if std::thread::current().name() == Some("actionlog-file") {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        self.inner.now()
    }
}

impl HangingClock {
    fn release(&self) {
        let (lock, cv) = &*self.open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

#[test]
fn a_stalled_writer_holds_callers_once_then_lines_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = HangingClock {
        inner: ManualClock::at(common::utc("2026-03-01T23:59:59Z")),
        open: Arc::default(),
    };
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .queue_capacity(4)
        .block_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    // The next day's file cannot be opened: the writer holds lines, up to 16 MiB, then drops
    // and announces — and hangs on the clock.
    let fifo = dir.path().join("2026-03-02.log");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    clock.inner.set(common::utc("2026-03-02T00:00:01Z"));
    let big = "x".repeat(60 * 1024);
    let (done_tx, done_rx) = mpsc::channel();
    let subscriber = tracing_subscriber::registry().with(layer);
    let emitter = std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            // Past the 16 MiB the writer holds, then 200 more while it hangs.
            for seq in 0..500u64 {
                tracing::info!(seq, big = big.as_str(), "line");
            }
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("callers are held by a stalled writer");
    emitter.join().unwrap();
    let dropped = guard.stats().lines_dropped;
    assert!(dropped >= 100, "lines dropped while stalled: {dropped}");
    clock.release();
    let s = guard.shutdown(Duration::from_secs(5)).stats;
    // Every line is accounted for: written (the WARNING lines too), or dropped and counted.
    assert!(s.lines_written + s.lines_dropped >= 500, "{s:?}");
    assert!(s.write_errors > 0, "{s:?}");
}

#[test]
fn the_channel_is_bounded_in_bytes_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = HangingClock {
        inner: ManualClock::at(common::utc("2026-03-01T23:59:59Z")),
        open: Arc::default(),
    };
    // Room for 65 536 lines, but only 1 MiB of them: about 17 lines of 60 KiB.
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .queue_max_bytes(1 << 20)
        .block_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let fifo = dir.path().join("2026-03-02.log");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    clock.inner.set(common::utc("2026-03-02T00:00:01Z"));
    let big = "x".repeat(60 * 1024);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // About 274 lines reach the writer's 16 MiB cap and hang it; the channel then takes
        // 1 MiB, not the 19 MiB the rest would be.
        for seq in 0..600u64 {
            tracing::info!(seq, big = big.as_str(), "line");
        }
    });
    let dropped = guard.stats().lines_dropped;
    assert!(dropped >= 200, "lines dropped at the byte bound: {dropped}");
    clock.release();
    let s = guard.shutdown(Duration::from_secs(5)).stats;
    assert!(s.lines_written + s.lines_dropped >= 600, "{s:?}");
}
