//! Two processes append to the same log directory for 5 s — the same day file, lines from
//! 10 bytes to 100 KiB, so far past the pipe-atomicity size — and every line of the file is one
//! whole JSON object, each process's lines all there, in its own order.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use actionlog::{FileLayer, Timezone};
use tracing_subscriber::prelude::*;

const CHILD: &str = "ACTIONLOG_SHARED_LOG_DIR_CHILD";
const NAME: &str = "two_processes_append_whole_lines_to_one_day_file";

/// Child mode: emit for 5 s, then print how many lines.
fn child(dir: &str) {
    let (layer, guard) = FileLayer::builder(dir)
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let me = std::process::id();
    let filler = "y".repeat(100 * 1024);
    let end = Instant::now() + Duration::from_secs(5);
    let mut n = 0u64;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        while Instant::now() < end {
            // One line in twenty is long, up to 100 KiB.
            let len = if fastrand::usize(..20) == 0 {
                fastrand::usize(..filler.len())
            } else {
                fastrand::usize(..200)
            };
            tracing::info!(pid = me, seq = n, pad = &filler[..len], "line");
            n += 1;
        }
    });
    let s = guard.shutdown(Duration::from_secs(30)).stats;
    assert_eq!((s.lines_written, s.lines_dropped), (n, 0), "{s:?}");
    println!("wrote {n}");
}

#[test]
fn two_processes_append_whole_lines_to_one_day_file() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            common::rerun(module_path!(), NAME)
                .env(CHILD, dir.path())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut wrote = std::collections::HashMap::new();
    for c in children {
        let pid = c.id();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u64 = text
            .split("wrote ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no count in {text:?}"));
        wrote.insert(u64::from(pid), n);
    }
    // A UTC day may have turned during the run: read every day file.
    let mut next = std::collections::HashMap::new();
    for file in common::day_files(dir.path()) {
        // `json_lines` fails on any line that is not one whole JSON object.
        for v in common::json_lines(&file) {
            let pid = v["metadata"]["pid"].as_u64().unwrap();
            let seq = v["metadata"]["seq"].as_u64().unwrap();
            let expected = next.entry(pid).or_insert(0u64);
            assert_eq!(
                seq, *expected,
                "process {pid}: a line missing or out of order"
            );
            *expected += 1;
        }
    }
    assert_eq!(next, wrote);
}
