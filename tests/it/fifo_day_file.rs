//! A day file that is not a regular file — a FIFO planted in its place, with or without a
//! reader — is refused with an error naming it, at once: never opened for blocking writes,
//! and `init` never hangs on it. At a new day the writer counts and reports it as a write error.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use actionlog::{FileLayer, ManualClock, Timezone};
use tracing_subscriber::prelude::*;

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Builds a file layer for 2026-03-01 in `dir` on another thread, so that a build that hangs
/// fails the test instead of holding it.
fn build_within(dir: &Path, clock: ManualClock) -> Result<(FileLayer, actionlog::Guard), String> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let r = FileLayer::builder(&dir)
            .timezone(Timezone::Utc)
            .clock(clock)
            .build();
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("building the file layer hung on a FIFO")
}

#[test]
fn a_fifo_in_place_of_the_day_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("2026-03-01.log");
    mkfifo(&day);
    let clock = ManualClock::at(common::utc("2026-03-01T12:00:00Z"));
    let err = build_within(dir.path(), clock.clone()).unwrap_err();
    assert!(err.contains("2026-03-01.log"), "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    // With a reader attached the open would succeed and every write would go to the reader
    // (or block once its pipe is full): refused all the same.
    use std::os::unix::fs::OpenOptionsExt;
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&day)
        .unwrap();
    let err = build_within(dir.path(), clock).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_fifo_at_the_next_day_is_counted_as_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2026-03-01T23:59:59Z"));
    let (layer, guard) = build_within(dir.path(), clock.clone()).unwrap();
    mkfifo(&dir.path().join("2026-03-02.log"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before midnight");
        clock.set(common::utc("2026-03-02T00:00:01Z"));
        tracing::info!("after midnight");
        common::wait_until(
            "the refused FIFO to be counted",
            Duration::from_secs(20),
            || guard.stats().write_errors > 0,
        );
    });
    let s = guard.shutdown(Duration::from_millis(200)).stats;
    assert!(s.write_errors > 0, "{s:?}");
    // The line for the new day could not be written: dropped at shutdown, and counted.
    assert_eq!(s.lines_written + s.lines_dropped, 2, "{s:?}");
    let first = std::fs::read_to_string(dir.path().join("2026-03-01.log")).unwrap();
    assert!(first.contains("before midnight"));
}
