//! The global entry point: `init` once, a second `init` is an error (not a panic), `log` crate
//! records are captured, and dropping the guard flushes. One test: the global subscriber is per
//! process.

#[path = "it/common/mod.rs"]
mod common;

use actionlog::{Error, Timezone};
use common::{day_files, json_lines};

#[test]
fn init_once_captures_tracing_and_log_and_flushes_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("nested/logs");
    let guard = actionlog::builder()
        .log_dir(&logs)
        .console(false)
        .filter("debug")
        .timezone(Timezone::Utc)
        .init()
        .unwrap();

    let again = actionlog::builder().log_dir(&logs).init();
    assert!(matches!(again, Err(Error::AlreadyInitialized)), "{again:?}");
    assert!(matches!(actionlog::init(), Err(Error::AlreadyInitialized)));

    tracing::info!(answer = 42, "from tracing");
    tracing::trace!("filtered out by the debug filter");
    tracing_log::log::warn!(target: "legacy", "from log");
    tracing_log::log::trace!("log trace is filtered too");
    drop(guard);

    let files = day_files(&logs);
    assert_eq!(files.len(), 1);
    let lines = json_lines(&files[0]);
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["from tracing", "from log"]);
    assert_eq!(lines[1]["logger"], "legacy");
    assert_eq!(lines[1]["level"], "WARNING");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&logs).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o750);
}
