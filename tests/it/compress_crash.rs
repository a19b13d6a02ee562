//! A crash at each step of a compression (feature `compress`): a child process (this test
//! binary re-run in child mode) writes a day of lines, moves to the next day so the day's file
//! is closed and handed to the compressor, and the compressor aborts the process right after
//! step k (`ACTIONLOG_TEST_COMPRESS_CRASH=k`, see `src/file/compress.rs`). For each k the parent
//! checks what the module docs' table says is on disk, that every line reads back exactly once
//! through `actionlog::day_files`, then starts again on the same directory and checks that the
//! new compressor finishes the job and every line still reads back exactly once.
#![cfg(feature = "compress")]

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{names, seqs, utc, wait_until};
use tracing_subscriber::prelude::*;

const CHILD: &str = "ACTIONLOG_COMPRESS_CRASH_CHILD";
const CRASH: &str = "ACTIONLOG_TEST_COMPRESS_CRASH";
/// Enough for several 64 KiB chunks, so step 1 leaves a partial temp file.
const LINES: u64 = 2_000;

fn layer(dir: &Path, clock: &ManualClock) -> (FileLayer, actionlog::Guard) {
    FileLayer::builder(dir)
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .compress(true)
        .build()
        .unwrap()
}

/// Child mode: runs only when the parent sets `CHILD`; never returns (the compressor aborts).
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let dir = Path::new(&dir);
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let (files, guard) = layer(dir, &clock);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
        for seq in 0..LINES {
            tracing::info!(seq, padding = "q".repeat(80), "day one");
        }
        assert!(guard.flush());
        clock.set(utc("2025-11-04T10:00:00Z"));
        tracing::info!(seq = LINES, "day two");
        // Written before the writer tells the compressor, so every line is on disk now.
        assert!(guard.flush());
        wait_until("the compressor to abort", Duration::from_secs(60), || false);
    });
}

#[test]
fn a_crash_after_any_compression_step_leaves_every_line_readable_exactly_once() {
    let all: Vec<u64> = (0..=LINES).collect();
    let tmp = ".2025-11-03.log.gz.tmp";
    // What the table in src/file/compress.rs says is on disk after a crash at each step.
    let expected: [(u8, &[&str]); 4] = [
        (1, &[tmp, "2025-11-03.log"]),
        (2, &[tmp, "2025-11-03.log"]),
        (3, &["2025-11-03.log", "2025-11-03.log.gz"]),
        (4, &["2025-11-03.log.gz"]),
    ];
    let exe = std::env::current_exe().unwrap();
    for (step, files) in expected {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(&exe)
            .args([
                "--exact",
                common::test_path(module_path!(), "crash_child").as_str(),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, dir.path())
            .env(CRASH, step.to_string())
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "step {step}: the child did not abort: {out:?}"
        );
        let mut on_disk = names(dir.path());
        on_disk.retain(|n| n.starts_with("2025-11-03") || n.starts_with(".2025-11-03"));
        let mut want: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(on_disk, want, "step {step}");
        assert_eq!(seqs(dir.path()), all, "step {step}: after the crash");

        // The next start: its compressor cleans up and finishes the job.
        let clock = ManualClock::at(utc("2025-11-04T11:00:00Z"));
        let (files, guard) = layer(dir.path(), &clock);
        wait_until(
            "the restart to finish compressing",
            Duration::from_secs(60),
            || {
                let n = names(dir.path());
                n.contains(&"2025-11-03.log.gz".to_owned())
                    && !n.contains(&"2025-11-03.log".to_owned())
                    && !n.iter().any(|n| n.starts_with('.'))
            },
        );
        tracing::subscriber::with_default(tracing_subscriber::registry().with(files), || {
            tracing::info!(seq = LINES + 1, "after the restart");
        });
        drop(guard);
        let mut after = all.clone();
        after.push(LINES + 1);
        assert_eq!(seqs(dir.path()), after, "step {step}: after the restart");
    }
}
