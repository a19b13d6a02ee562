//! A log directory that cannot be created fails `init` with the path and the OS cause, and
//! leaves the process able to `init` again. (Root ignores mode bits, so "unwritable" is made
//! with a path under a regular file.) A binary of its own: the second `init` installs the
//! process's global subscriber, panic hook and exit function.

use actionlog::Error;

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
    // `dispatcher::has_been_set()`: it also counts scoped dispatchers.)
    let good = dir.path().join("logs");
    let guard = actionlog::builder()
        .log_dir(&good)
        .console(false)
        .init()
        .expect("a failed init leaves the global subscriber free for the next one");
    drop(guard);
}
