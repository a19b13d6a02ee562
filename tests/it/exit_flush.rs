//! What is queued when the process exits with the guard never dropped — kept in a `static`
//! (the one-`init`-per-test-binary recipe), leaked, or alive on the stack when
//! `std::process::exit` is called — is written out and delivered by the exit function `init`
//! registers, within the flush deadline. With the store down and a short deadline (the test
//! recipe), it is spooled for the next start: nothing is lost. Each case is a child process,
//! since the exit is what is tested.

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

const CHILD: &str = "ACTIONLOG_EXIT_FLUSH_CHILD";
const RECORDS: u64 = 2_000;

/// The guard as the README's test recipe keeps it: initialised by the first test that needs
/// it, never dropped, with a short flush deadline so that a store that is down costs the run
/// that deadline once, at exit.
static GUARD: LazyLock<actionlog::Guard> = LazyLock::new(|| {
    actionlog::builder()
        .log_dir(std::env::var(CHILD).unwrap())
        .console(false)
        .signals(false)
        .flush_deadline(Duration::from_secs(2))
        .init()
        .unwrap()
});

fn emit() {
    for seq in 0..RECORDS {
        tracing::info!(action_type = "order", seq);
    }
}

/// Runs test `name` of this binary as a child with `dir` as its log directory; `env` is set
/// in it. Returns its stderr.
fn run_child(name: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, dir);
    for var in [
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the child failed: {out:?}\n{stderr}");
    stderr
}

fn rows(dir: &Path) -> u64 {
    rusqlite::Connection::open(dir.join("actions.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
}

fn lines(dir: &Path) -> u64 {
    common::day_files(dir)
        .iter()
        .map(|p| common::day_text(p).lines().count() as u64)
        .sum()
}

fn everything_delivered(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    run_child(name, dir.path(), &[]);
    assert_eq!(rows(dir.path()), RECORDS, "action rows");
    assert_eq!(lines(dir.path()), RECORDS, "day-file lines");
}

#[test]
fn a_guard_in_a_static_is_flushed_at_exit() {
    if std::env::var(CHILD).is_ok() {
        LazyLock::force(&GUARD);
        return emit();
    }
    everything_delivered("a_guard_in_a_static_is_flushed_at_exit");
}

#[test]
fn a_leaked_guard_is_flushed_at_exit() {
    if let Ok(dir) = std::env::var(CHILD) {
        let guard = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .signals(false)
            .init()
            .unwrap();
        emit();
        std::mem::forget(guard);
        return;
    }
    everything_delivered("a_leaked_guard_is_flushed_at_exit");
}

#[test]
fn process_exit_with_the_guard_alive_flushes() {
    if let Ok(dir) = std::env::var(CHILD) {
        let _guard = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .signals(false)
            .init()
            .unwrap();
        emit();
        std::process::exit(0);
    }
    everything_delivered("process_exit_with_the_guard_alive_flushes");
}

/// The ids of the records in the spool's segments (`<crc32> <json>` lines after an optional
/// `# actionlog spool …` marker).
fn spooled_ids(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("spool")) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for e in entries {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if line.starts_with('#') {
                continue;
            }
            let (_, json) = line.split_once(' ').unwrap();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

#[test]
fn with_the_store_down_a_short_deadline_spools_everything() {
    if std::env::var(CHILD).is_ok() {
        LazyLock::force(&GUARD);
        return emit();
    }
    // A port nobody listens on: connections are refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://root@127.0.0.1:{port}/test");
    let dir = tempfile::tempdir().unwrap();
    run_child(
        "with_the_store_down_a_short_deadline_spools_everything",
        dir.path(),
        &[("ACTIONLOG_DATABASE_URL", &url)],
    );
    let ids = spooled_ids(dir.path());
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len() as u64, unique.len() as u64),
        (RECORDS, RECORDS),
        "every record spooled once"
    );
    assert!(common::actions::dead_letters(&dir.path().join("dead-letter")).is_empty());
    assert_eq!(lines(dir.path()), RECORDS, "day-file lines");
}
