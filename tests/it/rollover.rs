//! Day files driven by an injected clock (no waiting for midnight): rollover, the `latest.log`
//! symlink, retention that touches only day files, and planted symlinks that are never followed.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{day_files, json_lines, utc};
use tracing_subscriber::prelude::*;

#[test]
fn first_event_after_midnight_opens_next_file_and_moves_latest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T23:59:59.900000Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let latest = dir.path().join("latest.log");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("last of the 3rd");
        assert!(guard.flush());
        assert_eq!(
            std::fs::read_link(&latest).unwrap().to_str(),
            Some("2025-11-03.log")
        );

        clock.set(utc("2025-11-04T00:00:00.000001Z"));
        tracing::info!("first of the 4th");
        clock.set(utc("2025-11-05T12:00:00Z"));
        tracing::info!("on the 5th");
    });
    drop(guard);
    let files = day_files(dir.path());
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["2025-11-03.log", "2025-11-04.log", "2025-11-05.log"]
    );
    assert_eq!(json_lines(&files[0])[0]["message"], "last of the 3rd");
    assert_eq!(json_lines(&files[1])[0]["message"], "first of the 4th");
    assert_eq!(
        json_lines(&files[1])[0]["timestamp"],
        "2025-11-04T00:00:00.000001+00:00"
    );
    // A relative link, so the directory can be moved or mounted elsewhere.
    assert_eq!(
        std::fs::read_link(&latest).unwrap().to_str(),
        Some("2025-11-05.log")
    );
    assert_eq!(json_lines(&latest)[0]["message"], "on the 5th");
    for f in &files {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", f.display());
    }
}

#[test]
fn retention_keeps_newest_day_files_and_nothing_else_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "2025-10-01.log",
        "2025-10-02.log",
        "2025-10-03.log",
        "notes.txt",
        "2025-10-01.log.gz",
        "2025-10-01.log.bak",
        "2025-10-03.1.log",
        "2025-13-01.log",
    ] {
        std::fs::write(dir.path().join(name), "old\n").unwrap();
    }
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .keep_days(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    // At start: today's file plus the newest old day, with all its parts; a compressed file is
    // one of the day's files too.
    assert_eq!(
        names(dir.path()),
        [
            "2025-10-01.log.bak",
            "2025-10-03.1.log",
            "2025-10-03.log",
            "2025-11-03.log",
            "2025-13-01.log",
            "latest.log",
            "notes.txt"
        ]
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        clock.set(utc("2025-11-04T10:00:00Z"));
        tracing::info!("next day");
    });
    drop(guard);
    assert_eq!(
        names(dir.path()),
        [
            "2025-10-01.log.bak",
            "2025-11-03.log",
            "2025-11-04.log",
            "2025-13-01.log",
            "latest.log",
            "notes.txt"
        ]
    );
}

#[test]
fn planted_symlinks_are_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let decoy = dir.path().join("decoy.txt");
    std::fs::write(&decoy, "precious\n").unwrap();
    // A symlink planted where latest.log goes: replaced by our own link, decoy untouched.
    std::os::unix::fs::symlink(&decoy, dir.path().join("latest.log")).unwrap();
    // A symlink planted where tomorrow's day file goes: refused.
    std::os::unix::fs::symlink(&decoy, dir.path().join("2025-11-04.log")).unwrap();

    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("today");
        assert!(guard.flush());
        assert_eq!(
            std::fs::read_link(dir.path().join("latest.log"))
                .unwrap()
                .to_str(),
            Some("2025-11-03.log")
        );
        clock.set(utc("2025-11-04T10:00:00Z"));
        tracing::info!("tomorrow");
        assert!(guard.flush());
    });
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "precious\n");
    let stats = guard.stats();
    assert!(stats.write_errors >= 1, "{stats:?}");
    assert_eq!(stats.lines_written, 1);
    // And a day file planted at start makes build fail with a clear error.
    let err = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-04T10:00:00Z")))
        .build()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2025-11-04.log") && msg.contains("symlink"),
        "{msg}"
    );
}
