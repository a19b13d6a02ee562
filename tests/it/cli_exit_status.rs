//! `jobs --exit-status` for cron and monitoring: exit 1 when a job is overdue or at
//! `failed_max_retries`, 0 when every job is scheduled or disabled; without the flag the
//! command succeeds whatever the jobs' state.
#![cfg(feature = "cli")]

use crate::common::cli;

/// A store holding one scheduled job plus `extra` (`enabled, next run, failures`).
fn store(extra: Option<(bool, &str, i32)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut sql = "INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, enabled, next_scheduled_run, consecutive_failures, max_consecutive_failures)
         VALUES ('fine', 'fine', 'interval', '60', 1, '2999-01-01T00:00:00.000000Z', 2, 3);"
        .to_owned();
    if let Some((enabled, next, failures)) = extra {
        sql.push_str(&format!(
            "INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, enabled, next_scheduled_run, consecutive_failures, max_consecutive_failures)
             VALUES ('other', 'other', 'cron', '0 * * * *', {}, '{next}', {failures}, 3);",
            enabled as i32
        ));
    }
    cli::sqlite_store(dir.path(), &sql);
    dir
}

fn code(dir: &tempfile::TempDir, args: &[&str]) -> Option<i32> {
    cli::run(dir.path(), args, &[]).status.code()
}

#[test]
fn exit_status_is_1_only_for_overdue_or_failed_max_retries() {
    let fine = store(None);
    assert_eq!(code(&fine, &["jobs", "--exit-status"]), Some(0));

    let overdue = store(Some((true, "2000-01-01T00:00:00.000000Z", 0)));
    assert_eq!(code(&overdue, &["jobs", "--exit-status"]), Some(1));
    assert_eq!(
        code(&overdue, &["jobs", "--overdue", "--exit-status"]),
        Some(1)
    );
    assert_eq!(code(&overdue, &["jobs"]), Some(0), "no flag, no verdict");
    let only = cli::json(overdue.path(), &["jobs", "--overdue"], &[]);
    let ids: Vec<&str> = cli::section(&only, "scheduled_jobs_status")
        .iter()
        .map(|r| r["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other"]);

    let exhausted = store(Some((true, "2999-01-01T00:00:00.000000Z", 3)));
    assert_eq!(code(&exhausted, &["jobs", "--exit-status"]), Some(1));
    let rows = cli::json(exhausted.path(), &["jobs"], &[]);
    assert_eq!(
        cli::section(&rows, "scheduled_jobs_status")[1]["job_status"],
        "failed_max_retries"
    );

    let disabled = store(Some((false, "2000-01-01T00:00:00.000000Z", 5)));
    assert_eq!(code(&disabled, &["jobs", "--exit-status"]), Some(0));
}
