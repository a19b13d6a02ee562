//! A full disk under the log directory (a small tmpfs the test mounts; root only): writes fail,
//! the failures are counted, the console keeps going, nothing is lost while the pending lines fit
//! in memory, and the file output resumes when space returns. Under `CI=true` a machine where
//! the mount is refused fails the test instead of skipping it.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use actionlog::{ColorMode, ConsoleLayer, FileLayer, Timezone};
use common::{SharedBuf, day_files};
use tracing_subscriber::prelude::*;

use common::tmpfs::Tmpfs;

/// Fills the file system at `dir` with one file until it refuses more; returns that file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = [0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    path
}

#[test]
fn disk_full_is_counted_console_goes_on_and_files_resume() {
    let Some(fs) = Tmpfs::mount("512k") else {
        return;
    };
    let logs = fs.path.join("logs");
    let console = SharedBuf::default();
    let (files, guard) = FileLayer::builder(&logs)
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(files)
        .with(ConsoleLayer::with_writer(console.clone()).color(ColorMode::Never));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(seq = -1, "before the disk filled up");
        assert!(guard.flush());
        let filler = fill(&fs.path);
        for i in 0..200 {
            tracing::info!(
                seq = i,
                padding = "some text to take room on the disk",
                "while full"
            );
        }
        assert!(guard.flush());
        let during = guard.stats();
        assert!(during.write_errors >= 1, "{during:?}");
        assert!(during.lines_written < 201, "{during:?}");
        // The console never depended on the disk.
        assert_eq!(
            console
                .text()
                .lines()
                .filter(|l| l.contains("while full"))
                .count(),
            200
        );

        std::fs::remove_file(filler).unwrap();
        // A flush forces a retry at once (the writer otherwise retries every second).
        assert!(guard.flush());
    });
    let done = guard.shutdown(std::time::Duration::from_secs(5));
    assert!(done.complete);
    assert_eq!(
        (done.stats.lines_written, done.stats.lines_dropped),
        (201, 0),
        "{done:?}"
    );
    let text = common::day_text(&day_files(&logs)[0]);
    assert_eq!(text.lines().count(), 201);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
    }
}
