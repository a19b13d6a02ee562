//! `max_total_bytes`: the oldest closed files (day files, parts, compressed files) are deleted
//! first; the open file never is, even when it alone is over the bound; files with any other
//! name (and symlinks with our names) are never touched. Injected clock throughout.

use crate::common;

use std::path::Path;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::utc;
use tracing_subscriber::prelude::*;

const TOTAL: u64 = 8_000;

/// Our files, oldest first (day, then part), with their sizes.
fn ours(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = actionlog::day_files(dir)
        .unwrap()
        .iter()
        .flat_map(|d| d.parts().to_vec())
        .map(|p| {
            let len = std::fs::metadata(p.path()).unwrap().len();
            (
                p.path().file_name().unwrap().to_str().unwrap().to_owned(),
                len,
            )
        })
        .collect();
    v.dedup();
    v
}

fn foreign(dir: &Path) -> Vec<(String, &'static str)> {
    let files = [
        ("notes.txt", "notes\n"),
        ("2025-10-01.log.bak", "a backup\n"),
        ("2025-10-01.0.log", "not canonical\n"),
        ("2025-02-30.log", "not a date\n"),
        (".2025-10-02.log.gz.swp", "an editor's\n"),
    ];
    for (n, text) in files {
        std::fs::write(dir.join(n), text).unwrap();
    }
    files.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

#[test]
fn oldest_closed_files_go_first_and_others_are_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let old = [
        ("2025-10-01.log", 2_000),
        ("2025-10-01.1.log.gz", 1_500),
        ("2025-10-02.log.gz", 1_500),
        ("2025-10-02.1.log", 2_000),
        ("2025-10-03.log", 2_000),
    ];
    for (n, len) in old {
        std::fs::write(dir.path().join(n), vec![b'\n'; len]).unwrap();
    }
    let foreign = foreign(dir.path());
    // A symlink carrying one of our names, pointing outside: not ours, never followed.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "precious\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("2025-09-30.log")).unwrap();

    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .max_total_bytes(TOTAL)
        .build()
        .unwrap();
    // At start: 9 000 bytes of closed files plus room for one part (TOTAL / 8 = 1 000) must fit
    // in 8 000, so the oldest file goes.
    let names: Vec<String> = ours(dir.path()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "2025-10-01.1.log.gz",
            "2025-10-02.log.gz",
            "2025-10-02.1.log",
            "2025-10-03.log",
            "2025-11-03.log"
        ]
    );
    let mut written = Vec::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..200 {
            tracing::info!(seq, padding = "p".repeat(60), "filling parts");
            if seq % 10 == 0 {
                assert!(guard.flush());
                let now = ours(dir.path());
                // The bound holds at every moment we look.
                let total: u64 = now.iter().map(|(_, l)| l).sum();
                assert!(total <= TOTAL, "{total}: {now:?}");
                written.extend(now.into_iter().map(|(n, _)| n));
            }
        }
    });
    let stats = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    assert_eq!((stats.lines_written, stats.write_errors), (200, 0));

    let end = ours(dir.path());
    let total: u64 = end.iter().map(|(_, l)| l).sum();
    assert!(total <= TOTAL, "{total}: {end:?}");
    // What is left is the newest files: every file ever seen that is missing now is older than
    // every file still there (oldest first), and all of the old days are gone by now.
    let left: Vec<&String> = end.iter().map(|(n, _)| n).collect();
    let key = |n: &str| {
        let part = n
            .split('.')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        (n[..10].to_owned(), part)
    };
    let oldest_left = left.iter().map(|n| key(n)).min().unwrap();
    for seen in &written {
        if !left.contains(&seen) {
            assert!(key(seen) < oldest_left, "{seen} deleted before {left:?}");
        }
    }
    assert!(left.iter().all(|n| n.starts_with("2025-11-03")), "{left:?}");
    // The newest line is on disk, in the open part that latest.log names.
    let latest = std::fs::read_to_string(dir.path().join("latest.log")).unwrap();
    assert!(latest.lines().last().unwrap().contains(r#""seq":199"#));
    for (n, text) in foreign {
        assert_eq!(std::fs::read_to_string(dir.path().join(&n)).unwrap(), text);
    }
    assert!(dir.path().join("2025-09-30.log").is_symlink());
    assert_eq!(
        std::fs::read_to_string(outside.path()).unwrap(),
        "precious\n"
    );
}

#[test]
fn the_open_file_is_never_deleted_even_alone_over_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("2025-11-02.log"), vec![b'\n'; 100]).unwrap();
    // Today's file from an earlier run, already over the whole bound.
    std::fs::write(
        dir.path().join("2025-11-03.log"),
        vec![b'\n'; 3 * TOTAL as usize],
    )
    .unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock)
        .max_total_bytes(TOTAL)
        .build()
        .unwrap();
    assert_eq!(
        ours(dir.path()),
        [("2025-11-03.log".to_owned(), 3 * TOTAL)],
        "every closed file goes, the open one stays"
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        tracing::info!("next line");
    });
    drop(guard);
    // The next line closed the oversized file (it is full) and started part 1, which it fits
    // in; the closed oversized file then had to go.
    let end = ours(dir.path());
    assert_eq!(end.len(), 1, "{end:?}");
    assert_eq!(end[0].0, "2025-11-03.1.log");
}
