//! `max_file_bytes`: a full day file continues in `YYYY-MM-DD.1.log`, `.2.log`, … with whole
//! lines only, `latest.log` follows the current part, a restart on the same day continues in
//! the newest part, and a new day starts again at `YYYY-MM-DD.log`. Injected clock throughout.

use crate::common;

use std::path::Path;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::utc;
use tracing_subscriber::prelude::*;

const CAP: u64 = 1_000;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort_by_key(|n| {
        // Part order, not string order: "2025-11-03.10.log" after "2025-11-03.9.log".
        let part = n
            .split('.')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        (n[..n.len().min(10)].to_owned(), part, n.clone())
    });
    v
}

fn latest(dir: &Path) -> String {
    std::fs::read_link(dir.join("latest.log"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Every `seq` field of the day's lines, read through the library's reader.
fn seqs(dir: &Path) -> Vec<i64> {
    actionlog::day_files(dir)
        .unwrap()
        .iter()
        .flat_map(|d| d.lines())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["metadata"]["seq"].as_i64().unwrap()
        })
        .collect()
}

fn layer(dir: &Path, clock: &ManualClock) -> (FileLayer, actionlog::Guard) {
    FileLayer::builder(dir)
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .max_file_bytes(CAP)
        .build()
        .unwrap()
}

#[test]
fn full_file_continues_in_numbered_parts_with_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = layer(dir.path(), &clock);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..40 {
            tracing::info!(seq, padding = "x".repeat(seq as usize * 3), "line");
            if seq % 7 == 0 {
                // latest.log names the part the last line went to, at every moment.
                assert!(guard.flush());
                let last = std::fs::read_to_string(dir.path().join("latest.log")).unwrap();
                let last: serde_json::Value =
                    serde_json::from_str(last.lines().last().unwrap()).unwrap();
                assert_eq!(last["metadata"]["seq"], seq);
            }
        }
        // One line longer than the cap: a part of its own, never split.
        tracing::info!(
            seq = 40,
            padding = "y".repeat(2 * CAP as usize),
            "long line"
        );
        tracing::info!(seq = 41, "after the long line");
    });
    let stats = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    assert_eq!((stats.lines_written, stats.write_errors), (42, 0));

    let all = names(dir.path());
    let parts: Vec<&String> = all.iter().filter(|n| *n != "latest.log").collect();
    assert!(parts.len() >= 5, "{all:?}");
    for (i, name) in parts.iter().enumerate() {
        let expected = if i == 0 {
            "2025-11-03.log".to_owned()
        } else {
            format!("2025-11-03.{i}.log")
        };
        assert_eq!(**name, expected, "{all:?}");
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.ends_with('\n'), "{name} ends mid-line");
        let lines = text.lines().count();
        // Within the cap, unless the part is the one line that is longer than it.
        assert!(
            text.len() as u64 <= CAP || lines == 1,
            "{name}: {}",
            text.len()
        );
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }
    assert_eq!(latest(dir.path()), **parts.last().unwrap());
    assert_eq!(seqs(dir.path()), (0..42).collect::<Vec<_>>());
}

#[test]
fn restart_same_day_continues_in_newest_part_and_new_day_starts_at_part_zero() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = layer(dir.path(), &clock);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        // Lines of about 230 bytes: four to a part, so the last part has room for two more.
        for seq in 0..18 {
            tracing::info!(seq, padding = "z".repeat(100), "before restart");
        }
    });
    drop(guard);
    let before = names(dir.path());
    let newest = before.iter().rfind(|n| *n != "latest.log").unwrap().clone();
    assert_ne!(newest, "2025-11-03.log", "{before:?}");
    let newest_len = std::fs::metadata(dir.path().join(&newest)).unwrap().len();
    let part0 = std::fs::read(dir.path().join("2025-11-03.log")).unwrap();

    // Same day, new process: the first line lands at the end of the newest part.
    let (files, guard) = layer(dir.path(), &clock);
    assert_eq!(latest(dir.path()), newest);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        tracing::info!(seq = 18, "short, after restart");
        assert!(guard.flush());
        clock.set(utc("2025-11-04T00:00:01Z"));
        tracing::info!(seq = 19, "next day");
    });
    drop(guard);
    let after = names(dir.path());
    assert!(
        std::fs::metadata(dir.path().join(&newest)).unwrap().len() > newest_len,
        "restart did not continue in {newest}: {after:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("2025-11-03.log")).unwrap(),
        part0
    );
    assert!(after.contains(&"2025-11-04.log".to_owned()), "{after:?}");
    assert!(
        !after.iter().any(|n| n.starts_with("2025-11-04.1")),
        "{after:?}"
    );
    assert_eq!(latest(dir.path()), "2025-11-04.log");
    assert_eq!(seqs(dir.path()), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_compressed_newest_part_is_never_reopened() {
    let dir = tempfile::tempdir().unwrap();
    // An earlier run compressed the day's parts up to 1 (by hand here: the names are what count).
    for n in ["2025-11-03.log.gz", "2025-11-03.1.log.gz"] {
        std::fs::write(dir.path().join(n), b"").unwrap();
    }
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = layer(dir.path(), &clock);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        tracing::info!(seq = 0, "after a compressed part");
    });
    drop(guard);
    assert_eq!(latest(dir.path()), "2025-11-03.2.log");
    assert_eq!(
        std::fs::metadata(dir.path().join("2025-11-03.1.log.gz"))
            .unwrap()
            .len(),
        0
    );
    assert!(!dir.path().join("2025-11-03.1.log").exists());
}
