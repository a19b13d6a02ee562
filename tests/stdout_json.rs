//! JSON lines on standard output, the container set-up: a child process (this binary again)
//! logs events and actions with the lines on stdout and the day files off, turned on by
//! `ACTIONLOG_STDOUT=json` alone or by the builder. Every stdout line is one JSON object in the
//! day files' format and nothing else is on stdout; no day file nor `logs/` directory is made;
//! the events emitted right before the guard is dropped are all there. A stdout closed early
//! (even with SIGPIPE at its default) or one that nobody reads does not hang or kill the child.
//!
//! Without libtest (`harness = false`): its own lines on stdout would be mixed with the
//! child's, and "nothing else on stdout" could not be checked.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The child's mode, in its environment.
const CHILD: &str = "ACTIONLOG_STDOUT_JSON_CHILD";
/// Events the child emits before the last burst.
const EVENTS: u64 = 5_000;
/// Events emitted right before the guard is dropped.
const LAST: u64 = 1_000;
/// Action events among them.
const ACTIONS: u64 = 50;
/// How long a child may take before it counts as hung (it needs well under a second).
const HANG: Duration = Duration::from_secs(60);

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode);
    }
    let tests: [(&str, fn()); 8] = [
        ("set up by ACTIONLOG_STDOUT=json alone", by_the_environment),
        ("set up by the builder", by_the_builder),
        ("beside the day files", beside_the_day_files),
        ("a stdout closed early", closed_stdout),
        (
            "a stdout closed early, beside the day files",
            closed_stdout_beside_the_day_files,
        ),
        ("a stdout nobody reads", unread_stdout),
        (
            "a console on stdout is refused",
            console_on_stdout_is_refused,
        ),
        (
            "a bad ACTIONLOG_STDOUT is refused",
            bad_environment_is_refused,
        ),
    ];
    for (name, test) in tests {
        eprint!("test {name} ... ");
        test();
        eprintln!("ok");
    }
}

/// What the child does: emits every line (then drops the guard and exits), or fails `init`.
fn child(mode: &str) {
    let builder = match mode {
        // Only the environment (ACTIONLOG_STDOUT=json) says where the lines go.
        "env" => actionlog::builder().log_dir("state"),
        "api" => actionlog::builder()
            .stdout_json(true)
            .day_files(false)
            .console(false)
            .actions(false),
        "both" => actionlog::builder()
            .stdout_json(true)
            .console(false)
            .actions(false),
        // With SIGPIPE at its default, as some programs set it: a write to a closed pipe
        // would end the process if it reached it.
        "closed" | "unread" | "both-closed" => {
            #[allow(unsafe_code)]
            // SAFETY: installs the default disposition, no handler runs.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            actionlog::builder()
                .stdout_json(true)
                .day_files(mode == "both-closed")
                .console(false)
                .actions(false)
                .flush_deadline(Duration::from_millis(500))
                .file_layer(|f| f.block_timeout(Duration::from_millis(100)))
        }
        "bad-env" => actionlog::builder(),
        other => panic!("unknown child mode {other}"),
    };
    let guard = match builder.panic_hook(false).init() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("init failed: {e}");
            std::process::exit(3);
        }
    };
    if matches!(mode, "closed" | "unread" | "both-closed") {
        // Start when the parent says so: a closed stdout is closed by then.
        std::io::stdin().read_exact(&mut [0]).unwrap();
    }
    let request = tracing::info_span!("request", request_id = 7, password = "hunter2");
    for seq in 0..EVENTS {
        tracing::info!(seq, "event");
        if seq % (EVENTS / ACTIONS) == 0 {
            request.in_scope(|| tracing::info!(action_type = "order", seq, "order placed"));
        }
    }
    if mode == "unread" {
        // Well past what a pipe holds and a thread's share of the hand-off: the writer is
        // stuck on the full pipe, and the caller meets the stall rule.
        for seq in 0..30_000 {
            tracing::info!(seq, "more");
        }
    }
    for seq in EVENTS..EVENTS + LAST {
        tracing::warn!(seq, "last");
    }
    drop(guard);
}

fn run(mode: &str, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, mode)
        .env_remove("ACTIONLOG_STDOUT")
        .env_remove("DATABASE_URL")
        .env_remove("ACTIONLOG_DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .env_remove("RUST_LOG")
        .current_dir(cwd)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Checks that every stdout line is one JSON object in the day files' format (keys in their
/// order, the span's trace ids on the lines inside it, the span's secret redacted) and that every event is there, in order; returns the
/// action lines.
fn check_lines(out: &Output) -> usize {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    let stdout = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    assert!(stdout.ends_with('\n'), "the last line is whole");
    let mut seqs = Vec::new();
    let mut actions = 0;
    let mut request_ids = None;
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
        // The action lines are inside the request span: its trace context before the metadata.
        let in_span = v["message"] == "order placed";
        let keys: &[&str] = if in_span {
            &[
                "timestamp",
                "level",
                "message",
                "logger",
                "trace_id",
                "span_id",
                "metadata",
            ]
        } else {
            &["timestamp", "level", "message", "logger", "metadata"]
        };
        assert_eq!(v.as_object().unwrap().len(), keys.len(), "{line}");
        let at: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.is_sorted() && at[0] == 1, "keys out of order: {line}");
        assert!(v["metadata"].is_object(), "{line}");
        match v["message"].as_str().unwrap() {
            "event" | "last" => seqs.push(v["metadata"]["seq"].as_u64().unwrap()),
            "order placed" => {
                assert_eq!(v["metadata"]["password"], "[REDACTED]", "{line}");
                assert_eq!(v["metadata"]["request_id"], 7, "{line}");
                // One span: one trace id and one span id on all its lines.
                let ids = (v["trace_id"].to_string(), v["span_id"].to_string());
                assert_eq!(
                    *request_ids.get_or_insert_with(|| ids.clone()),
                    ids,
                    "{line}"
                );
                actions += 1;
            }
            other => panic!("unexpected line {other:?}: {line}"),
        }
    }
    assert!(!stdout.contains("hunter2"));
    let want: Vec<u64> = (0..EVENTS + LAST).collect();
    assert!(
        seqs == want,
        "{} of {} events, in order",
        seqs.len(),
        want.len()
    );
    // No human line anywhere: the console is off.
    assert!(!stderr.contains("order placed"), "{stderr}");
    actions
}

/// `logs/` is not made, nor any day file; `state` holds only the action store (if anything).
fn check_no_day_files(cwd: &Path) {
    assert!(!cwd.join("logs").exists(), "a logs/ directory was made");
    let state = cwd.join("state");
    for e in std::fs::read_dir(&state).into_iter().flatten() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            name.starts_with("actions.db"),
            "{name} in the log directory"
        );
    }
}

fn by_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("env", dir.path(), &[("ACTIONLOG_STDOUT", "json")]);
    assert_eq!(check_lines(&out) as u64, ACTIONS);
    check_no_day_files(dir.path());
    // The actions went to the default store, `<log_dir>/actions.db`.
    let rows: i64 = rusqlite::Connection::open(dir.path().join("state/actions.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as u64, ACTIONS);
}

fn by_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("api", dir.path(), &[]);
    assert_eq!(check_lines(&out) as u64, ACTIONS);
    check_no_day_files(dir.path());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The day files' text in `dir` (every part, in order).
fn day_text(dir: &Path) -> String {
    let mut text = String::new();
    for day in actionlog::day_files(dir).unwrap() {
        for line in day.lines() {
            text.push_str(&line.unwrap());
            text.push('\n');
        }
    }
    text
}

fn beside_the_day_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("both", dir.path(), &[]);
    check_lines(&out);
    // Stdout holds a copy of the day files, byte for byte.
    let files = day_text(&dir.path().join("logs"));
    assert!(
        files.as_bytes() == out.stdout,
        "stdout differs from the day files"
    );
}

/// Starts the child in `mode` (in `cwd`) with stdout on a pipe, `close`s the read end (or
/// keeps it and never reads), lets the child start, and waits for it to end, failing if it
/// hangs.
fn spawn_and_wait(mode: &str, cwd: &Path, close: bool) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, mode)
        .env_remove("ACTIONLOG_STDOUT")
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let kept = if close {
        drop(stdout);
        None
    } else {
        Some(stdout)
    };
    child.stdin.take().unwrap().write_all(&[1]).unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child hung ({mode})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(kept);
    (status, reader.join().unwrap())
}

fn closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = spawn_and_wait("closed", dir.path(), true);
    // Ended normally (not by SIGPIPE), and said once what happened.
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_eq!(
        stderr.matches("cannot write to standard output").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("could not be written to standard output before shutdown"),
        "{stderr}"
    );
}

/// Beside the day files, a closed stdout costs its copy only: the files keep every line.
fn closed_stdout_beside_the_day_files() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = spawn_and_wait("both-closed", dir.path(), true);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("cannot write to standard output: ")
            && stderr.contains("the day files keep every line"),
        "{stderr}"
    );
    let text = day_text(&dir.path().join("logs"));
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["message"] != "order placed")
        .map(|v| v["metadata"]["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs == (0..EVENTS + LAST).collect::<Vec<_>>(), "lines lost");
}

fn unread_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = spawn_and_wait("unread", dir.path(), false);
    assert!(status.success(), "{status:?}\n{stderr}");
    // The writer stalled on the full pipe: the caller waited once, then lines were dropped;
    // dropping the guard waited the flush deadline, no longer.
    assert!(stderr.contains("the file writer took no line"), "{stderr}");
    assert!(
        stderr.contains("not fully flushed within 500ms"),
        "{stderr}"
    );
}

fn console_on_stdout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = actionlog::builder()
        .log_dir(dir.path())
        .stdout_json(true)
        .console_stream(actionlog::Stream::Stdout)
        .actions(false)
        .build::<tracing_subscriber::Registry>();
    let Err(actionlog::Error::Config(msg)) = r.map(|_| ()) else {
        panic!("a console on stdout beside the JSON lines was accepted");
    };
    assert!(msg.contains("standard output"), "{msg}");
    // Nothing was started nor made.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn bad_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("bad-env", dir.path(), &[("ACTIONLOG_STDOUT", "yaml")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("ACTIONLOG_STDOUT must be `json`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
