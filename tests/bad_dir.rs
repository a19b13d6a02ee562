//! Faults around the log directory: one that cannot be created fails `init` with the path and
//! the OS cause; one removed while running is recreated and writing resumes, with the error
//! counted. (Root ignores mode bits, so "unwritable" is made with a path under a regular file.)

mod common;

use actionlog::{Error, FileLayer, Timezone};
use common::{day_files, json_lines};
use tracing_subscriber::prelude::*;

#[test]
fn init_fails_cleanly_on_a_dir_that_cannot_exist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let bad = file.join("logs");
    let err = actionlog::builder()
        .log_dir(&bad)
        .console(false)
        .init()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::LogDir { .. }), "{err:?}");
    assert!(msg.contains(bad.to_str().unwrap()), "{msg}");
    assert!(
        msg.contains("Not a directory") || msg.contains("os error"),
        "{msg}"
    );
    // Nothing was installed: the error left the process able to try again. (Not
    // `dispatcher::has_been_set()`: it also counts the scoped dispatchers of the other tests
    // in this binary, and failed when one ran first.)
    let good = dir.path().join("logs");
    let guard = actionlog::builder()
        .log_dir(&good)
        .console(false)
        .init()
        .expect("a failed init leaves the global subscriber free for the next one");
    drop(guard);
}

#[test]
fn bad_filter_and_zero_capacity_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = actionlog::builder()
        .log_dir(dir.path())
        .filter("info,=[")
        .init()
        .unwrap_err();
    assert!(matches!(err, Error::Filter { .. }), "{err:?}");
    let err = FileLayer::builder(dir.path())
        .queue_capacity(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

#[test]
fn removed_directory_is_recreated_and_writing_resumes() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("logs");
    let (layer, guard) = FileLayer::builder(&dir)
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("before");
        assert!(guard.flush());
        std::fs::remove_dir_all(&dir).unwrap();
        tracing::info!("after removal");
        assert!(guard.flush());
    });
    let files = day_files(&dir);
    assert_eq!(files.len(), 1, "directory and day file recreated");
    let lines = json_lines(&files[0]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "after removal");
    let stats = guard.stats();
    assert_eq!(stats.lines_written, 2);
    assert_eq!(stats.write_errors, 1, "the vanished file is counted once");
}
