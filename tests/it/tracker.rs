//! `examples/tracker.rs` end to end against the real PostgreSQL (its own schema): the scripted
//! demo runs as a child process (the binary `cargo test` builds beside this one), then every one
//! of the reference job queries and both views run verbatim with psql and must agree with what the
//! tracker reported doing (its `RUN <job> <source> ok|err` lines), and `action_logs` must hold
//! rows for all ten triggers with their sources.
#![cfg(feature = "postgres")]

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::pg::TestDb;

fn tracker_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("tracker")
}

/// Runs the scripted demo with `env` (and neither `DATABASE_URL`, the Supabase variables nor
/// `RUST_LOG` from the outside); returns what it said it did: per job, each run's success, in
/// order.
fn run_tracker(env: &[(&str, &str)]) -> BTreeMap<String, Vec<bool>> {
    let bin = tracker_binary();
    assert!(bin.exists(), "{} not built", bin.display());
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&bin);
    cmd.current_dir(work.path());
    for var in [
        "RUST_LOG",
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "SUPABASE_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The demo takes about 15 s; a hung child must not hang the suite.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the tracker did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: String = err
        .chars()
        .skip(err.chars().count().saturating_sub(2000))
        .collect();
    // (A binary built without the database's feature says so on stderr and fails.)
    assert!(out.status.success(), "the tracker failed: …{tail}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("0 dead-lettered, 0 dropped, 0 spooled"),
        "{stdout}"
    );
    let mut runs: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("RUN ")) {
        let parts: Vec<&str> = line.split(' ').collect();
        runs.entry(parts[1].to_owned())
            .or_default()
            .push(parts[3] == "ok");
    }
    assert_eq!(
        runs.keys().cloned().collect::<Vec<_>>(),
        vec!["data_collection", "ticker_backfill"],
        "{stdout}"
    );
    runs
}

/// The ten triggers, each with its source, are in `action_logs`.
fn assert_all_ten_triggers(db: &TestDb) {
    let pairs = db.psql_rows("SELECT DISTINCT action_type || ' ' || source FROM action_logs");
    for expected in TRIGGERS {
        assert!(
            pairs.iter().any(|p| p == expected),
            "{expected} missing: {pairs:?}"
        );
    }
}

const TRIGGERS: [&str; 10] = [
    "data_collection_start ui_button",
    "ticker_backfill ui_button",
    "add_interval_job ui_button",
    "add_cron_job ui_button",
    "run_job_now ui_button",
    "pause_job ui_button",
    "resume_job ui_button",
    "remove_job ui_button",
    "job_execution scheduled_job",
    "job_recovery recovery",
];

#[test]
fn the_tracker_demo_fills_every_table_and_the_reference_queries_agree() {
    let Some(db) = TestDb::new("tracker") else {
        return;
    };
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let runs = run_tracker(&[("DATABASE_URL", url.as_str())]);

    let total = |j: &str| runs[j].len();
    let ok = |j: &str| runs[j].iter().filter(|o| **o).count();
    let trailing_failures = |j: &str| runs[j].iter().rev().take_while(|o| !**o).count();
    let failures: usize = runs.values().flatten().filter(|o| !**o).count();

    // -- Last 10 executions of a job
    let last10 = db.psql_rows(
        "SELECT * FROM job_executions 
WHERE job_id = 'data_collection'
ORDER BY started_at DESC
LIMIT 10;",
    );
    assert_eq!(last10.len(), total("data_collection").min(10));
    assert!(
        last10.iter().all(|r| r.contains("[tracker] job started")),
        "logs captured"
    );

    // -- Failed executions today
    let failed = db.psql_rows(
        "SELECT * FROM job_executions
WHERE status = 'failed' 
AND started_at >= NOW() - INTERVAL '1 day'
ORDER BY started_at DESC;",
    );
    assert_eq!(failed.len(), failures);

    // -- Success rate for a job
    let rate = db.psql_rows(
        "SELECT 
    job_id,
    COUNT(*) as total,
    SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as successes,
    ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM job_executions
WHERE started_at >= NOW() - INTERVAL '7 days'
GROUP BY job_id;",
    );
    let mut rate: Vec<String> = rate;
    rate.sort();
    let expect = |j: &str| {
        format!(
            "{j}|{}|{}|{:.2}",
            total(j),
            ok(j),
            100.0 * ok(j) as f64 / total(j) as f64
        )
    };
    assert_eq!(
        rate,
        vec![expect("data_collection"), expect("ticker_backfill")]
    );

    // -- All enabled jobs (stale_cleanup was removed; the other two were resumed or never paused)
    let enabled = db.psql_rows(
        "SELECT job_id, job_name, schedule_type, schedule_value, next_scheduled_run
FROM scheduled_jobs
WHERE enabled = true
ORDER BY next_scheduled_run;",
    );
    let mut ids: Vec<&str> = enabled
        .iter()
        .map(|r| r.split('|').next().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["data_collection", "ticker_backfill"]);

    // -- Jobs that are overdue: whatever it returns is an enabled job with its failure count.
    let overdue = db.psql_rows(
        "SELECT job_id, job_name, next_scheduled_run, consecutive_failures
FROM scheduled_jobs
WHERE enabled = true AND next_scheduled_run <= NOW();",
    );
    for r in &overdue {
        let f: Vec<&str> = r.split('|').collect();
        assert_eq!(f[3], trailing_failures(f[0]).to_string());
    }

    // -- Job status summary: consecutive_failures is what the tracker's runs imply.
    let summary = db.psql_rows(
        "SELECT 
    job_id,
    job_name,
    CASE 
        WHEN NOT enabled THEN 'disabled'
        WHEN consecutive_failures >= max_consecutive_failures THEN 'failed_max_retries'
        WHEN next_scheduled_run <= NOW() THEN 'overdue'
        ELSE 'scheduled'
    END as job_status,
    last_successful_run,
    consecutive_failures
FROM scheduled_jobs;",
    );
    assert_eq!(summary.len(), 2);
    for r in &summary {
        let f: Vec<&str> = r.split('|').collect();
        assert_eq!(f[4], trailing_failures(f[0]).to_string(), "{r}");
        if trailing_failures(f[0]) >= 3 {
            assert_eq!(f[2], "failed_max_retries");
        } else {
            assert!(["overdue", "scheduled"].contains(&f[2]), "{r}");
        }
        assert_eq!(f[3].is_empty(), ok(f[0]) == 0, "{r}");
    }

    // Both views.
    let view = db.psql_rows(
        "SELECT * FROM scheduled_jobs_status
WHERE job_status IN ('overdue', 'failed_max_retries')
ORDER BY job_id;",
    );
    assert!(view.len() <= 2);
    let last_status = db.psql_rows(
        "SELECT job_id, last_execution_status FROM scheduled_jobs_status ORDER BY job_id",
    );
    for r in &last_status {
        let (job, status) = r.split_once('|').unwrap();
        let last_ok = *runs[job].last().unwrap();
        assert_eq!(status, if last_ok { "success" } else { "failed" }, "{r}");
    }
    let per_job = db.psql_rows(
        "SELECT * FROM job_execution_summary
ORDER BY last_execution DESC;",
    );
    assert_eq!(per_job.len(), 2);
    for r in &per_job {
        let f: Vec<&str> = r.split('|').collect();
        let j = f[0];
        assert_eq!(
            &f[1..5],
            &[
                total(j).to_string(),
                ok(j).to_string(),
                (total(j) - ok(j)).to_string(),
                "0".to_owned()
            ],
            "{r}"
        );
    }

    assert_all_ten_triggers(&db);
    // Actions inside a run carry its id: every job_execution action is a job_executions row.
    let orphans = db.psql(
        "SELECT count(*) FROM action_logs a WHERE a.action_type = 'job_execution'
         AND NOT EXISTS (SELECT 1 FROM job_executions e WHERE e.id = a.job_execution_id)",
    );
    assert_eq!(orphans.trim(), "0");
}

/// The same demo with only the Supabase variables set, against the PostgREST contract double
/// (`common::postgrest`: PostgREST cannot be installed here; the double enforces its documented
/// protocol, now also GET/PATCH/DELETE with `eq.` filters, and writes into the real
/// PostgreSQL): the action rows, the job runs (with the `scheduled_jobs` upkeep over `/rpc/`)
/// and the tracker's own job definitions all land in the Supabase database.
#[cfg(feature = "supabase")]
#[test]
fn the_tracker_demo_on_supabase_keeps_everything_there() {
    let Some(db) = TestDb::new("tracker_sb") else {
        return;
    };
    db.psql_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0001_action_logs.sql"
    ));
    db.psql_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0002_jobs.sql"
    ));
    let key = "CANARY-tracker-key-51fb";
    let double = common::postgrest::Double::start(&db.url, &db.schema, key);
    let runs = run_tracker(&[("SUPABASE_URL", double.url.as_str()), ("SUPABASE_KEY", key)]);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    assert_all_ten_triggers(&db);
    for (job, outcomes) in &runs {
        let ok = outcomes.iter().filter(|o| **o).count();
        let row = db.psql(&format!(
            "SELECT total_executions, successful_executions FROM job_execution_summary
             WHERE job_id = '{job}'"
        ));
        assert_eq!(row.trim(), format!("{}|{ok}", outcomes.len()));
    }
    // The definitions went through the REST API too: the removed job is gone, the others are
    // enabled and kept current by the upkeep.
    let jobs = db.psql_rows(
        "SELECT job_id, enabled, last_attempted_run IS NOT NULL FROM scheduled_jobs ORDER BY job_id",
    );
    assert_eq!(jobs, vec!["data_collection|t|t", "ticker_backfill|t|t"]);
}
