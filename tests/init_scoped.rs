//! `init` beside a scoped dispatcher: a `with_default` that is active (here, on another thread
//! for the whole test) is no global subscriber, so `init` installs ours; a second `init`
//! is refused with `AlreadyInitialized`. (`tracing::dispatcher::has_been_set()` counts scoped
//! dispatchers too, and `init` once refused on it.)

use std::sync::mpsc;

#[test]
fn init_installs_beside_a_scoped_dispatcher_and_refuses_a_second_time() {
    let (entered, wait_entered) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let scoped = std::thread::spawn(move || {
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            entered.send(()).unwrap();
            let _ = wait_release.recv();
        })
    });
    wait_entered.recv().unwrap();
    assert!(tracing::dispatcher::has_been_set());

    let dir = tempfile::tempdir().unwrap();
    let guard = actionlog::builder()
        .log_dir(dir.path())
        .console(false)
        .init()
        .expect("a scoped dispatcher elsewhere is no global subscriber");
    let again = actionlog::builder()
        .log_dir(dir.path().join("second"))
        .console(false)
        .init();
    assert!(
        matches!(again, Err(actionlog::Error::AlreadyInitialized)),
        "{again:?}"
    );
    tracing::info!(marker = "installed", "through the global subscriber");
    assert!(guard.flush());
    let text: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(text.contains("\"installed\""), "{text}");
    release.send(()).unwrap();
    scoped.join().unwrap();
}
