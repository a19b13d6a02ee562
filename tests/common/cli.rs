//! Helpers for the `actionlog` command's tests (`tests/cli_*.rs`, included with
//! `#[path = "common/cli.rs"] mod cli;`): run the binary, run the tracker example, and the
//! seed's own SQL to compare with.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Store variables that must not leak in from the outside.
pub const STORE_VARS: [&str; 5] = [
    "DATABASE_URL",
    "SUPABASE_URL",
    "SUPABASE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "RUST_LOG",
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

/// A JSON value as the seed SQL's text output shows it (NULL empty).
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

/// The seed's queries (its "Useful Queries" and "Log Querying Examples", verbatim) and the
/// `actionlog` command that answers each, compared through `seed`, which runs PostgreSQL SQL
/// on the store under test and returns rows of text columns.
pub fn assert_agrees_with_seed(
    dir: &Path,
    env: &[(&str, &str)],
    seed: &dyn Fn(&str) -> Vec<Vec<String>>,
) {
    let stats = json(dir, &["stats", "--since", "1d", "--format", "json"], env);
    // -- All actions in the last 24 hours
    let mut want = seed(
        "SELECT action_type, status, COUNT(*) as count
FROM action_logs
WHERE action_timestamp >= NOW() - INTERVAL '1 day'
GROUP BY action_type, status
ORDER BY count DESC;",
    );
    let mut got: Vec<Vec<String>> = section(&stats, "actions_by_type_status")
        .iter()
        .map(|r| {
            vec![
                text(&r["action_type"]),
                text(&r["status"]),
                text(&r["count"]),
            ]
        })
        .collect();
    want.sort();
    got.sort();
    assert!(!got.is_empty());
    assert_eq!(got, want, "actions by type and status");

    let week = json(dir, &["stats", "--format", "json"], env);
    // -- User activity
    let mut want = seed(
        "SELECT user_id, COUNT(*) as action_count, COUNT(DISTINCT action_type) as unique_actions
FROM action_logs
WHERE action_timestamp >= NOW() - INTERVAL '7 days'
GROUP BY user_id
ORDER BY action_count DESC;",
    );
    let mut got: Vec<Vec<String>> = section(&week, "user_activity")
        .iter()
        .map(|r| {
            vec![
                text(&r["user_id"]),
                text(&r["action_count"]),
                text(&r["unique_actions"]),
            ]
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "user activity");

    // -- Failed actions
    let want: Vec<String> = seed(
        "SELECT * FROM action_logs
WHERE status = 'failed' AND action_timestamp >= NOW() - INTERVAL '1 day'
ORDER BY action_timestamp DESC;",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert!(!want.is_empty(), "the tracker fails some actions");
    let got: Vec<String> = section(&stats, "failed_actions")
        .iter()
        .map(|r| text(&r["id"]))
        .collect();
    assert_eq!(got, want, "failed actions (stats)");
    let got: Vec<String> = json(
        dir,
        &[
            "actions",
            "status=failed",
            "--since",
            "1d",
            "--format",
            "json",
        ],
        env,
    )
    .iter()
    .map(|r| text(&r["id"]))
    .collect();
    assert_eq!(got, want, "failed actions (actions)");

    // -- Success rate for a job
    let mut want: Vec<Vec<String>> = seed(
        "SELECT 
    job_id,
    COUNT(*) as total,
    SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as successes,
    ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM job_executions
WHERE started_at >= NOW() - INTERVAL '7 days'
GROUP BY job_id;",
    )
    .into_iter()
    .map(|mut r| {
        r[3] = rate(&r[3]);
        r
    })
    .collect();
    want.sort();
    let got: Vec<Vec<String>> = section(&week, "job_success_rate")
        .iter()
        .map(|r| {
            vec![
                text(&r["job_id"]),
                text(&r["total"]),
                text(&r["successes"]),
                rate(&text(&r["success_rate"])),
            ]
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got, want, "success rate per job");
    for r in section(&week, "job_success_rate") {
        assert!(r["p50_seconds"].as_f64().unwrap() <= r["p95_seconds"].as_f64().unwrap());
    }

    // Get recent data collection actions (the seed's Python example)
    let want: Vec<String> = seed(
        "SELECT id FROM action_logs WHERE action_type = 'data_collection_start'
ORDER BY action_timestamp DESC LIMIT 10",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let got: Vec<String> = json(
        dir,
        &[
            "actions",
            "action_type=data_collection_start",
            "--limit",
            "10",
        ],
        env,
    )
    .iter()
    .map(|r| text(&r["id"]))
    .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "recent data collection actions");

    // -- Last 10 executions of a job
    let want: Vec<String> = seed(
        "SELECT * FROM job_executions 
WHERE job_id = 'data_collection'
ORDER BY started_at DESC
LIMIT 10;",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let got: Vec<String> = json(dir, &["runs", "data_collection", "--limit", "10"], env)
        .iter()
        .map(|r| text(&r["id"]))
        .collect();
    assert_eq!(got, want, "last 10 executions");
    // -- Failed executions today
    let want: Vec<String> = seed(
        "SELECT * FROM job_executions
WHERE status = 'failed' 
AND started_at >= NOW() - INTERVAL '1 day'
ORDER BY started_at DESC;",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let got: Vec<String> = json(dir, &["runs", "--failed", "--since", "1d"], env)
        .iter()
        .map(|r| text(&r["id"]))
        .collect();
    assert_eq!(got, want, "failed executions today");

    // The two views. `job_status` moves from scheduled to overdue as time passes (and only
    // that way, nothing being written): the command's answer must be the seed's from just
    // before or just after it, row by row.
    let status_sql = "SELECT job_id, job_status, consecutive_failures, last_execution_status FROM scheduled_jobs_status ORDER BY job_id";
    let before = seed(status_sql);
    let jobs = json(dir, &["jobs"], env);
    let after = seed(status_sql);
    let got: Vec<Vec<String>> = section(&jobs, "scheduled_jobs_status")
        .iter()
        .map(|r| {
            [
                "job_id",
                "job_status",
                "consecutive_failures",
                "last_execution_status",
            ]
            .iter()
            .map(|c| text(&r[*c]))
            .collect()
        })
        .collect();
    assert_eq!(
        got.len(),
        before.len(),
        "scheduled_jobs_status: {got:?} {before:?}"
    );
    for (i, r) in got.iter().enumerate() {
        assert!(
            *r == before[i] || *r == after[i],
            "scheduled_jobs_status: {r:?} is neither {:?} nor {:?}",
            before[i],
            after[i]
        );
    }
    let want: Vec<Vec<String>> = seed(
        "SELECT job_id, total_executions, successful_executions, failed_executions, cancelled_executions, success_rate FROM job_execution_summary
ORDER BY last_execution DESC;",
    )
    .into_iter()
    .map(|mut r| {
        r[5] = rate(&r[5]);
        r
    })
    .collect();
    let got: Vec<Vec<String>> = section(&jobs, "job_execution_summary")
        .iter()
        .map(|r| {
            let mut v: Vec<String> = [
                "job_id",
                "total_executions",
                "successful_executions",
                "failed_executions",
                "cancelled_executions",
                "success_rate",
            ]
            .iter()
            .map(|c| text(&r[*c]))
            .collect();
            v[5] = rate(&v[5]);
            v
        })
        .collect();
    assert_eq!(got, want, "job_execution_summary");
    let overdue_sql = "SELECT * FROM scheduled_jobs_status
WHERE job_status IN ('overdue', 'failed_max_retries')
ORDER BY job_id;";
    let ids = |rows: Vec<Vec<String>>| -> Vec<String> {
        rows.into_iter().map(|r| r[0].clone()).collect()
    };
    let before = ids(seed(overdue_sql));
    let overdue = json(dir, &["jobs", "--overdue"], env);
    let after = ids(seed(overdue_sql));
    let got: Vec<String> = section(&overdue, "scheduled_jobs_status")
        .iter()
        .map(|r| text(&r["job_id"]))
        .collect();
    assert!(
        before.iter().all(|j| got.contains(j)) && got.iter().all(|j| after.contains(j)),
        "overdue jobs: {got:?}, seed before {before:?}, after {after:?}"
    );
}

/// Every subcommand, each output format, a second page and one run's logs: what a full
/// session of reading does (for the tests that check nothing was written).
pub fn every_subcommand(dir: &Path, env: &[(&str, &str)]) {
    for args in [
        &["status"][..],
        &["stats"],
        &["stats", "--since", "1d", "--format", "csv"],
        &["jobs", "--format", "table"],
        &["jobs", "--overdue", "--exit-status"],
        &["actions", "--format", "csv"],
        &[
            "actions",
            "details.records=7",
            "status!=failed",
            "user_id~a",
        ],
        &["runs", "--failed"],
        &["runs", "ticker_backfill", "--format", "table"],
        &["tail", "-n", "5"],
        &["tail", "--json", "--level", "warn"],
    ] {
        let out = run(dir, args, env);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let page = run(dir, &["actions", "--limit", "3"], env);
    let err = String::from_utf8_lossy(&page.stderr);
    let cursor = err
        .lines()
        .find_map(|l| l.strip_prefix("next page: --before "))
        .expect("a second page");
    json(dir, &["actions", "--limit", "3", "--before", cursor], env);
    let run_id = json(dir, &["runs", "--limit", "1"], env)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = run(dir, &["runs", "--logs", &run_id], env);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("job started"));
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
