//! Faults around the log directory: one removed while running is recreated and writing resumes,
//! with the error counted; a bad filter or a zero capacity is a configuration error. (One that
//! cannot be created is `tests/init_bad_dir.rs`: its `init` then succeeds, and installs the
//! process's global subscriber.)

use crate::common;

use actionlog::{Error, FileLayer, Timezone};
use common::{day_files, json_lines};
use tracing_subscriber::prelude::*;

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
