//! [`actionlog::RollingWriter`] under `tracing_subscriber::fmt::layer()`: the formatter's lines
//! land in our day files with their size cap, total bound, `latest.log`, rollover at midnight
//! (injected clock) and compression, whole and in order; it works behind
//! `tracing_appender::non_blocking` too; a link planted in place of the day file is refused.

use crate::common;

use std::path::Path;

use actionlog::{ManualClock, RollingWriter, Timezone};
use common::utc;
use tracing_subscriber::prelude::*;

/// Every `seq` the formatter wrote, in file order, through the library's reader.
fn fmt_seqs(dir: &Path) -> Vec<u64> {
    actionlog::day_files(dir)
        .unwrap()
        .iter()
        .flat_map(|d| d.lines())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["fields"]["seq"].as_u64().unwrap()
        })
        .collect()
}

fn emit(writer: RollingWriter, seqs: std::ops::Range<u64>) -> RollingWriter {
    let writer = std::sync::Arc::new(writer);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer.clone()),
    );
    tracing::subscriber::with_default(subscriber, || {
        for seq in seqs {
            tracing::info!(seq, padding = "x".repeat(40), "order placed");
        }
    });
    std::sync::Arc::into_inner(writer).expect("the subscriber is gone")
}

fn link(dir: &Path) -> String {
    std::fs::read_link(dir.join("latest.log"))
        .unwrap()
        .into_os_string()
        .into_string()
        .unwrap()
}

#[test]
fn parts_at_the_cap_and_a_new_file_at_midnight() {
    const CAP: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T23:00:00Z"));
    let writer = RollingWriter::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .max_file_bytes(CAP)
        .build()
        .unwrap();
    let writer = emit(writer, 0..40);
    let parts: Vec<_> = actionlog::day_files(dir.path()).unwrap()[0]
        .parts()
        .iter()
        .map(|p| (p.number(), std::fs::metadata(p.path()).unwrap().len()))
        .collect();
    assert!(
        parts.len() > 3,
        "40 lines of ~200 bytes in parts of 1000: {parts:?}"
    );
    for (n, len) in &parts {
        assert!(*len <= CAP, "part {n} is {len} bytes, over the cap");
    }
    let newest = parts.last().unwrap().0;
    assert_eq!(link(dir.path()), format!("2025-11-03.{newest}.log"));

    clock.set(utc("2025-11-04T00:00:01Z"));
    drop(emit(writer, 40..45));
    assert!(dir.path().join("2025-11-04.log").exists());
    assert_eq!(link(dir.path()), "2025-11-04.log");
    assert_eq!(fmt_seqs(dir.path()), (0..45).collect::<Vec<_>>());
}

#[test]
fn the_total_bound_holds() {
    const TOTAL: u64 = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let writer = RollingWriter::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T12:00:00Z")))
        .max_total_bytes(TOTAL)
        .build()
        .unwrap();
    drop(emit(writer, 0..500));
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "latest.log")
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= TOTAL, "{on_disk} bytes on disk, bound {TOTAL}");
    // The newest lines survive, in order, without a gap.
    let seqs = fmt_seqs(dir.path());
    assert_eq!(seqs.last(), Some(&499));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[cfg(feature = "compress")]
#[test]
fn closed_parts_are_compressed_and_read_back() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let writer = RollingWriter::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T12:00:00Z")))
        .max_file_bytes(1_000)
        .compress(true)
        .build()
        .unwrap();
    let writer = emit(writer, 0..40);
    common::wait_until(
        "every closed part compressed",
        Duration::from_secs(30),
        || {
            let day = &actionlog::day_files(dir.path()).unwrap()[0];
            let parts = day.parts();
            parts[..parts.len() - 1].iter().all(|p| p.is_compressed())
        },
    );
    drop(writer);
    assert_eq!(fmt_seqs(dir.path()), (0..40).collect::<Vec<_>>());
}

#[test]
fn behind_non_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let writer = RollingWriter::builder(dir.path())
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let (non_blocking, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(writer);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(non_blocking),
    );
    tracing::subscriber::with_default(subscriber, || {
        for seq in 0..1_000u64 {
            tracing::info!(seq, "order placed");
        }
    });
    drop(worker); // flushes
    assert_eq!(fmt_seqs(dir.path()), (0..1_000).collect::<Vec<_>>());
}

#[cfg(unix)]
#[test]
fn a_link_in_place_of_the_day_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("2025-11-03.log")).unwrap();
    let err = RollingWriter::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T12:00:00Z")))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, actionlog::Error::LogFile { .. }),
        "expected a LogFile error, got {err:?}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}
