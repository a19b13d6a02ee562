//! Compression of closed files (feature `compress`): yesterday's day file and today's earlier
//! parts become `….log.gz` in the background, the open part stays plain, the `.gz` files are
//! standard gzip (checked with the system's `gzip -t` when it is installed), and every line
//! reads back once, in order, through `actionlog::day_files` — also when a part is compressed or
//! deleted between the listing and the reading. Injected clock throughout.
#![cfg(feature = "compress")]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{names, seqs, utc, wait_until};
use tracing_subscriber::prelude::*;

#[test]
fn closed_files_are_compressed_in_the_background_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .max_file_bytes(100_000)
        .compress(true)
        .build()
        .unwrap();
    const DAY1: u64 = 3_000;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..DAY1 {
            tracing::info!(
                seq,
                user_id = "alice@example.com",
                ratio = 0.5,
                "order placed"
            );
        }
        assert!(guard.flush());
        clock.set(utc("2025-11-04T10:00:00Z"));
        for seq in DAY1..DAY1 + 10 {
            tracing::info!(seq, "the next day");
        }
        assert!(guard.flush());
        // The compressor works on its own thread: wait for the state it must reach.
        wait_until(
            "every closed file compressed",
            Duration::from_secs(60),
            || {
                let n = names(dir.path());
                !n.iter()
                    .any(|n| n.starts_with("2025-11-03") && n.ends_with(".log"))
                    && !n.iter().any(|n| n.starts_with('.'))
            },
        );
    });
    let stats = guard.shutdown(Duration::from_secs(5)).stats;
    assert_eq!((stats.lines_written, stats.write_errors), (DAY1 + 10, 0));

    let all = names(dir.path());
    let day1: Vec<&String> = all.iter().filter(|n| n.starts_with("2025-11-03")).collect();
    assert!(day1.len() >= 3, "several parts expected: {all:?}");
    assert!(day1.iter().all(|n| n.ends_with(".log.gz")), "{all:?}");
    // The open file is never compressed.
    assert!(all.contains(&"2025-11-04.log".to_owned()), "{all:?}");
    assert!(!all.contains(&"2025-11-04.log.gz".to_owned()), "{all:?}");
    let gzip_here = std::process::Command::new("gzip")
        .arg("--version")
        .output()
        .is_ok();
    for n in &day1 {
        let p = dir.path().join(n);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{n}");
        if gzip_here {
            let ok = std::process::Command::new("gzip")
                .arg("-t")
                .arg(&p)
                .status()
                .unwrap();
            assert!(ok.success(), "gzip -t {n}");
        }
    }
    assert_eq!(seqs(dir.path()), (0..DAY1 + 10).collect::<Vec<_>>());
    let parts = &actionlog::day_files(dir.path()).unwrap()[0];
    assert!(parts.parts().iter().all(|p| p.is_compressed()));
}

#[test]
fn earlier_parts_of_today_are_compressed_and_the_open_part_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock)
        .max_file_bytes(10_000)
        .compress(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..500u64 {
            tracing::info!(seq, "today");
        }
        assert!(guard.flush());
        let open = std::fs::read_link(dir.path().join("latest.log")).unwrap();
        let open = open.to_str().unwrap().to_owned();
        wait_until("earlier parts compressed", Duration::from_secs(60), || {
            names(dir.path())
                .iter()
                .all(|n| !n.ends_with(".log") || *n == open || n == "latest.log")
        });
        assert!(dir.path().join(&open).exists());
        assert!(!dir.path().join(format!("{open}.gz")).exists());
    });
    drop(guard);
    assert_eq!(seqs(dir.path()), (0..500).collect::<Vec<_>>());
}

#[test]
fn a_part_compressed_between_listing_and_reading_is_read_from_its_new_name() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("2025-11-03.log");
    std::fs::write(&plain, "{\"n\":1}\n{\"n\":2}\n").unwrap();
    let days = actionlog::day_files(dir.path()).unwrap();
    assert!(!days[0].parts()[0].is_compressed());
    // What the compressor does, done by hand after the listing.
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("2025-11-03.log.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    gz.finish().unwrap();
    std::fs::remove_file(&plain).unwrap();
    let lines: Vec<String> = days[0].lines().collect::<Result<_, _>>().unwrap();
    assert_eq!(lines, ["{\"n\":1}", "{\"n\":2}"]);
    // And a part deleted since the listing is skipped, not an error.
    std::fs::remove_file(dir.path().join("2025-11-03.log.gz")).unwrap();
    assert_eq!(days[0].lines().count(), 0);
}
