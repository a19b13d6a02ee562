//! The reference queries and the `actionlog` commands that answer them, for the tests that run
//! the tracker example into a store (`cli_sqlite`, `cli_postgres`, `cli_supabase`).
#![allow(dead_code)]

use std::path::Path;

use super::cli::{json, rate, run, section, text};

/// The reference queries ("Useful Queries" and "Log Querying Examples" of the schema's documentation, verbatim) and the
/// `actionlog` command that answers each, compared through `reference`, which runs PostgreSQL SQL
/// on the store under test and returns rows of text columns.
pub fn assert_agrees_with_reference(
    dir: &Path,
    env: &[(&str, &str)],
    reference: &dyn Fn(&str) -> Vec<Vec<String>>,
) {
    let stats = json(dir, &["stats", "--since", "1d", "--format", "json"], env);
    // -- All actions in the last 24 hours
    let mut want = reference(
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
    let mut want = reference(
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
    let want: Vec<String> = reference(
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
    let mut want: Vec<Vec<String>> = reference(
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

    // Get recent data collection actions (the reference Python example)
    let want: Vec<String> = reference(
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
    let want: Vec<String> = reference(
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
    let want: Vec<String> = reference(
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
    // that way, nothing being written): the command's answer must be the reference query's from just
    // before or just after it, row by row.
    let status_sql = "SELECT job_id, job_status, consecutive_failures, last_execution_status FROM scheduled_jobs_status ORDER BY job_id";
    let before = reference(status_sql);
    let jobs = json(dir, &["jobs"], env);
    let after = reference(status_sql);
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
    let want: Vec<Vec<String>> = reference(
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
    let before = ids(reference(overdue_sql));
    let overdue = json(dir, &["jobs", "--overdue"], env);
    let after = ids(reference(overdue_sql));
    let got: Vec<String> = section(&overdue, "scheduled_jobs_status")
        .iter()
        .map(|r| text(&r["job_id"]))
        .collect();
    assert!(
        before.iter().all(|j| got.contains(j)) && got.iter().all(|j| after.contains(j)),
        "overdue jobs: {got:?}, reference before {before:?}, after {after:?}"
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
