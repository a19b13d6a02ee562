//! The scenario: a log directory on a 6 MiB file system (a tmpfs the test mounts; root
//! only) with `max_total_bytes(4 MiB)` and 100 000 lines (about 20 MB) written in one day. The
//! writer keeps writing to the end: nothing counted as a write error or dropped, the newest
//! lines on disk as one unbroken run ending at the last one, the directory within its bound.
//! Under `CI=true` a machine where the mount is refused fails the test instead of skipping it.

use crate::common;

use std::path::Path;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::utc;
use tracing_subscriber::prelude::*;

const LINES: u64 = 100_000;
const TOTAL: u64 = 4 << 20;

use common::tmpfs::Tmpfs;

fn run(
    logs: &Path,
    builder: impl FnOnce(actionlog::FileLayerBuilder) -> actionlog::FileLayerBuilder,
) {
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = builder(
        FileLayer::builder(logs)
            .timezone(Timezone::Utc)
            .clock(clock)
            .max_total_bytes(TOTAL),
    )
    .build()
    .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..LINES {
            tracing::info!(
                seq,
                user_id = "alice@example.com",
                padding = "a chatty day: a retry storm, a debug filter left on",
                "order placed"
            );
        }
    });
    let done = guard.shutdown(std::time::Duration::from_secs(30));
    assert!(done.complete, "{done:?}");
    let s = done.stats;
    assert_eq!(
        (s.lines_written, s.lines_dropped, s.write_errors),
        (LINES, 0, 0),
        "{s:?}"
    );

    let days = actionlog::day_files(logs).unwrap();
    let total: u64 = days
        .iter()
        .flat_map(|d| d.parts().to_vec())
        .map(|p| std::fs::metadata(p.path()).unwrap().len())
        .sum();
    assert!(total <= TOTAL, "{total} bytes on disk");
    let seqs: Vec<u64> = days
        .iter()
        .flat_map(|d| d.lines())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["metadata"]["seq"].as_u64().unwrap()
        })
        .collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..LINES).collect::<Vec<_>>(),
        "the newest lines, unbroken"
    );
    // A bound that keeps 3.5 MiB or more of ~190-byte lines keeps well over 15 000 of them.
    assert!(LINES - first > 15_000, "only {} lines kept", LINES - first);
    eprintln!(
        "kept the newest {} of {LINES} lines in {total} bytes",
        LINES - first
    );
}

#[test]
fn six_mib_directory_with_a_four_mib_bound_keeps_writing_to_the_end() {
    let Some(fs) = Tmpfs::mount("6m") else {
        return;
    };
    run(&fs.path.join("logs"), |b| b);
}

#[cfg(feature = "compress")]
#[test]
fn the_same_with_compression_on() {
    let Some(fs) = Tmpfs::mount("6m") else {
        return;
    };
    run(&fs.path.join("logs"), |b| b.compress(true));
}
