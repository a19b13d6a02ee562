//! SIGTERM / SIGINT reaching an app that only called `init()` and never returns from `main`:
//! actionlog stops its outputs — every line written, every queued action delivered — and the
//! process then ends by the signal, as it would have without us (same wait status). With
//! `.signals(false)` the signal ends it at once, as before. As PID 1 of a PID namespace (a
//! container started without `--init`), where the kernel drops the signal sent again, it exits
//! with 128 + the signal's number. (An app that handles the signals itself, with tokio::signal
//! after `init`, is `tests/it/sigterm.rs`: it is never ended early.)

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "ACTIONLOG_SIGTERM_INIT_ONLY_CHILD";
const SIGNALS_OFF: &str = "ACTIONLOG_SIGTERM_INIT_ONLY_OFF";
const RECORDS: u64 = 2_000;
/// Child mode variant: the app installs its own SIGTERM handler before `init`.
const OWN_FIRST: &str = "ACTIONLOG_SIGTERM_INIT_ONLY_OWN_FIRST";

/// Child mode: an app with its own handler, installed before `init`; it must get the signal
/// and shut down its own way, untouched by us.
fn child_with_own_handler(dir: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut term = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap()
    });
    let guard = actionlog::builder()
        .log_dir(dir)
        .console(false)
        .panic_hook(false)
        .init()
        .unwrap();
    for seq in 0..RECORDS {
        tracing::info!(action_type = "order", seq);
    }
    println!("ready");
    rt.block_on(term.recv());
    // Still alive: the app's own shutdown runs.
    println!("own handler ran");
    drop(guard);
}

/// Child mode: `let _guard = init()`, emit, say so, then wait forever (a server's main loop).
fn child(dir: &str) {
    // The app this stands for runs in the foreground, its signals at their defaults; a shell
    // starts background jobs with SIGINT ignored, and the child would inherit that (and
    // actionlog, rightly, leaves an ignored signal alone).
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sets the disposition of one signal to its default; no handler involved.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    if std::env::var(OWN_FIRST).is_ok() {
        return child_with_own_handler(dir);
    }
    let _guard = actionlog::builder()
        .log_dir(dir)
        .console(false)
        .panic_hook(false)
        .signals(std::env::var(SIGNALS_OFF).is_err())
        .init()
        .unwrap();
    for seq in 0..RECORDS {
        tracing::info!(action_type = "order", seq);
    }
    println!("ready");
    loop {
        std::thread::park();
    }
}

/// Runs the child (test `name`), sends it `signal` once it is ready; returns its wait status.
fn run(name: &str, dir: &std::path::Path, signal: &str, off: bool) -> std::process::ExitStatus {
    run_with(name, dir, signal, if off { SIGNALS_OFF } else { "" }).0
}

/// [`run`], with `env` set in the child (if not empty); also returns the child's stdout after
/// `ready`.
fn run_with(
    name: &str,
    dir: &std::path::Path,
    signal: &str,
    env: &str,
) -> (std::process::ExitStatus, String) {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, dir)
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .stdout(Stdio::piped());
    if !env.is_empty() {
        cmd.env(env, "1");
    }
    let mut proc = cmd.spawn().unwrap();
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut line = String::new();
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    assert!(
        Command::new("kill")
            .args([signal, &proc.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut rest);
        rest
    });
    // A child that never ends is a failure, not a hung test run.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = proc.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = proc.kill();
            panic!("the child did not end within 120 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, reader.join().unwrap())
}

fn rows(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join("actions.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| r.get(0))
        .unwrap()
}

fn lines(dir: &std::path::Path) -> usize {
    common::day_files(dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum()
}

fn stops_then_ends_by(name: &str, flag: &str, signal: i32) {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let status = run(name, dir.path(), flag, false);
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    assert_eq!(rows(dir.path()) as u64, RECORDS);
    assert_eq!(lines(dir.path()) as u64, RECORDS);
}

#[test]
fn sigterm_stops_the_outputs_then_ends_the_process() {
    stops_then_ends_by(
        "sigterm_stops_the_outputs_then_ends_the_process",
        "-TERM",
        libc::SIGTERM,
    );
}

#[test]
fn sigint_stops_the_outputs_then_ends_the_process() {
    stops_then_ends_by(
        "sigint_stops_the_outputs_then_ends_the_process",
        "-INT",
        libc::SIGINT,
    );
}

#[test]
fn with_the_switch_off_the_signal_ends_it_at_once() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let status = run(
        "with_the_switch_off_the_signal_ends_it_at_once",
        dir.path(),
        "-TERM",
        true,
    );
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn an_app_with_its_own_handler_is_not_ended_by_us() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let (status, out) = run_with(
        "an_app_with_its_own_handler_is_not_ended_by_us",
        dir.path(),
        "-TERM",
        OWN_FIRST,
    );
    assert!(status.success(), "{status:?}\n{out}");
    assert!(out.contains("own handler ran"), "{out}");
    assert_eq!(rows(dir.path()) as u64, RECORDS);
}

/// As PID 1 of its own PID namespace (`docker run` without `--init`; here `unshare`), the
/// signal sent again after the stop is dropped by the kernel: the process must still end,
/// with 143 as a shell reports SIGTERM, everything written and delivered first.
#[test]
fn as_pid_1_in_a_container_sigterm_still_ends_it() {
    let name = "as_pid_1_in_a_container_sigterm_still_ends_it";
    if let Ok(dir) = std::env::var(CHILD) {
        // Our pid outside the namespace, for the parent to signal (`/proc` is still the
        // parent namespace's).
        let outer = std::fs::read_link("/proc/self").unwrap();
        assert_eq!(std::process::id(), 1, "not PID 1");
        println!("outer {}", outer.display());
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let usable = Command::new("unshare")
        .args(["--user", "--map-root-user", "--pid", "--fork", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and `unshare --user --pid` is refused on this machine");
        }
        eprintln!("SKIPPED: cannot make a PID namespace here (`unshare --user --pid`)");
        return;
    }
    // `--kill-child`: a failed test leaves no child behind (killing unshare kills it).
    let mut proc = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--kill-child",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            common::test_path(module_path!(), name).as_str(),
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut proc = KillOnDrop(proc);
    let (mut line, mut outer) = (String::new(), None);
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        // After libtest's `test … ... ` on the same line.
        if let Some((_, pid)) = line.trim_end().split_once("outer ") {
            outer = Some(pid.to_owned());
        }
    }
    let outer = outer.expect("the child says its pid");
    assert!(
        Command::new("kill")
            .args(["-TERM", &outer])
            .status()
            .unwrap()
            .success()
    );
    // Ends (unshare passes its child's exit status on) instead of running on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PID 1 did not end on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    assert_eq!(rows(dir.path()) as u64, RECORDS);
    assert_eq!(lines(dir.path()) as u64, RECORDS);
}
