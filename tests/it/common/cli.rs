//! Helpers for the `actionlog` command's tests (`cli_*`, `web_*`, `log_dir_readers`): run the binary, run the tracker example, and the
//! reference SQL to compare with.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Store variables that must not leak in from the outside.
pub const STORE_VARS: [&str; 8] = [
    "ACTIONLOG_DATABASE_URL",
    "DATABASE_URL",
    "SUPABASE_URL",
    "SUPABASE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "RUST_LOG",
    "ACTIONLOG_RETENTION",
    "ACTIONLOG_RUN_LOG_RETENTION",
];

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_actionlog"))
}

/// `actionlog ARGS` in `dir` with only `env` for the store; fails the test if it hangs.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args);
    for v in STORE_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    wait(cmd, Duration::from_secs(60), "actionlog")
}

/// [`run`] with the process's address space limited to `kib` KiB (`ulimit -v`, through `sh`):
/// a command that would hold a hostile file whole fails instead of taking the machine's memory.
#[cfg(unix)]
pub fn run_within_memory(dir: &Path, args: &[&str], kib: u64) -> Output {
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir)
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args);
    for v in STORE_VARS {
        cmd.env_remove(v);
    }
    wait(cmd, Duration::from_secs(120), "actionlog")
}

/// Runs `cmd` to its end, killing it (and failing the test) after `within`. The pause between
/// polls only limits the polling rate.
fn wait(mut cmd: Command, within: Duration, what: &str) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// Succeeds and parses stdout as JSON lines.
pub fn json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let out = run(dir, args, env);
    assert!(
        out.status.success(),
        "actionlog {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The rows of one section of a multi-part answer (`stats`, `jobs`).
pub fn section<'a>(rows: &'a [Value], name: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["section"] == name).collect()
}

/// A JSON value as the reference SQL's text output shows it (NULL empty).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// A rate to two decimals, from either side.
pub fn rate(s: &str) -> String {
    format!("{:.2}", s.parse::<f64>().unwrap())
}

/// Runs the tracker example (about 15 s) in a new directory with `env`; returns the
/// directory (its `logs/` holds the day files and, by default, the SQLite store).
pub fn run_tracker(env: &[(&str, &str)]) -> tempfile::TempDir {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("tracker");
    assert!(bin.exists(), "{} not built", bin.display());
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&bin);
    cmd.current_dir(work.path());
    for v in STORE_VARS {
        cmd.env_remove(v);
    }
    // Every second feed call fails, beside the random ones: the comparisons need failures.
    cmd.env("TRACKER_FAIL_EVERY", "2");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = wait(cmd, Duration::from_secs(120), "tracker");
    assert!(
        out.status.success(),
        "the tracker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 dead-lettered, 0 dropped, 0 spooled"),
        "{stdout}"
    );
    work
}

/// A fresh SQLite store at `<dir>/logs/actions.db` with the sink's schema (made by opening
/// the real `SqliteSink`), then `sql` run on it.
pub fn sqlite_store(dir: &Path, sql: &str) -> PathBuf {
    let db = dir.join("logs").join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(sql).unwrap();
    // Back out of WAL so the file stands alone (no -wal: the command reads it immutable).
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    db
}

/// The id of fixture row `i` (a valid UUID; ids sort like `i`).
pub fn id(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012x}")
}

/// `n` actions for the pagination tests: every three share a timestamp (so the id breaks
/// ties), every fourth failed; as one INSERT both SQLite and PostgreSQL accept.
pub fn actions_sql(n: usize) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "('{}', '2026-11-03T10:00:{:02}.000000Z', 'data_collection_start', '{}', 'user{}', '{{\"n\": {i}}}')",
                id(i),
                i / 3,
                if i % 4 == 0 { "failed" } else { "completed" },
                i % 2
            )
        })
        .collect();
    format!(
        "INSERT INTO action_logs (id, action_timestamp, action_type, status, user_id, action_details) VALUES {};",
        rows.join(", ")
    )
}

/// The expected order of those rows: newest first, then highest id.
pub fn newest_first(ids: impl Iterator<Item = usize>) -> Vec<String> {
    let mut v: Vec<usize> = ids.collect();
    v.sort_by_key(|i| std::cmp::Reverse((i / 3, *i)));
    v.into_iter().map(id).collect()
}

/// All pages of `actions ARGS --limit n`, following the printed cursors; the ids per page.
pub fn all_pages(
    dir: &Path,
    args: &[&str],
    limit: usize,
    env: &[(&str, &str)],
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let lim = limit.to_string();
        let mut a: Vec<&str> = vec!["actions"];
        a.extend_from_slice(args);
        a.extend(["--limit", lim.as_str(), "--format", "json"]);
        if let Some(c) = &before {
            a.extend(["--before", c.as_str()]);
        }
        let out = run(dir, &a, env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ids: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        pages.push(ids);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        match err
            .lines()
            .find_map(|l| l.strip_prefix("next page: --before "))
        {
            Some(c) => before = Some(c.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}
