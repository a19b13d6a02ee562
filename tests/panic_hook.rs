//! Panics: the hook `init` installs logs a panic as an ERROR event with its location and
//! flushes the files before the previous hook runs; a value whose `Debug` panics never takes the
//! app down. One test: the hook and the subscriber are per process.

#[path = "it/common/mod.rs"]
mod common;

use actionlog::Timezone;
use common::{day_files, json_lines};

struct Explodes;

impl std::fmt::Debug for Explodes {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug impl exploded")
    }
}

#[test]
fn panics_are_logged_and_flushed_and_debug_panics_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = actionlog::builder()
        .log_dir(dir.path())
        .console(false)
        .actions(false)
        .timezone(Timezone::Utc)
        .init()
        .unwrap();

    // A value that panics while being formatted: the event is still written, the app goes on.
    tracing::info!(value = ?Explodes, "still logged");

    let joined = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| panic!("boom at {}", 42))
        .unwrap()
        .join();
    assert!(joined.is_err());

    // No flush here: the hook already wrote the panic's line out.
    let lines = json_lines(&day_files(dir.path())[0]);
    let logged = lines
        .iter()
        .find(|l| l["message"] == "still logged")
        .expect("the event survived");
    assert_eq!(logged["metadata"]["value"], "<formatting panicked>");
    let panic = lines
        .iter()
        .find(|l| l["logger"] == "panic" && l["message"] == "panicked: boom at 42")
        .unwrap_or_else(|| panic!("no panic line in {lines:?}"));
    assert_eq!(panic["level"], "ERROR");
    assert_eq!(panic["metadata"]["thread"], "worker-7");
    assert!(
        panic["metadata"]["location"]
            .as_str()
            .unwrap()
            .contains("panic_hook.rs:"),
        "{panic}"
    );
}
