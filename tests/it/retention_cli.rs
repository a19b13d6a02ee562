//! `actionlog prune` over a SQLite store: what it deleted printed per kind (JSON lines off a
//! terminal), `stats` of the pruned day the same before and after, the ages from the flags or
//! from `ACTIONLOG_RETENTION` / `ACTIONLOG_RUN_LOG_RETENTION`, `--dry-run` deleting nothing,
//! and bad ages, a bad batch size, no age at all or a missing store exiting 2 with one line
//! that says what is wrong and where it came from.
#![cfg(all(feature = "cli", feature = "sqlite"))]

use crate::common;

use std::path::Path;

use common::cli;
use common::retention::{self as r, NEW_ACTIONS, OLD_ACTIONS};
use serde_json::{Value, json};

fn store(dir: &Path) {
    let db = dir.join("logs/actions.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&r::workload_sql())
        .unwrap();
}

fn count(dir: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(dir.join("logs/actions.db"))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// The report's rows without the section key, by kind.
fn report(rows: &[Value], section: &str) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            assert_eq!(r["section"], section, "{r}");
            json!([r["what"], r["before"], r["rows"], r["batches"]])
        })
        .collect()
}

fn stats_of_the_pruned_day(dir: &Path) -> Vec<Value> {
    cli::json(
        dir,
        &["stats", "--since", "2026-10-01", "--until", "2026-10-02"],
        &[("ACTIONLOG_NOW", r::NOW)],
    )
    .into_iter()
    .filter(|r| r["section"] != "failed_actions" && r["section"] != "job_success_rate")
    .collect()
}

#[test]
fn prune_prints_what_went_and_stats_still_count_the_day() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let stats = stats_of_the_pruned_day(dir.path());
    assert!(!stats.is_empty());
    let env = [("ACTIONLOG_NOW", r::NOW)];

    let dry = cli::json(
        dir.path(),
        &[
            "prune",
            "--older-than",
            "30d",
            "--run-logs-older-than",
            "7d",
            "--dry-run",
        ],
        &env,
    );
    assert_eq!(
        report(&dry, "dry_run"),
        vec![
            json!(["actions", "2026-10-11T12:00:00.000000Z", 35, 0]),
            json!(["runs", "2026-10-11T12:00:00.000000Z", 12, 0]),
            json!(["run_logs", "2026-11-03T12:00:00.000000Z", 6, 0]),
        ]
    );
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );

    // The ages from the settings this time.
    let env = [
        ("ACTIONLOG_NOW", r::NOW),
        ("ACTIONLOG_RETENTION", "30d"),
        ("ACTIONLOG_RUN_LOG_RETENTION", "7d"),
    ];
    let done = cli::json(dir.path(), &["prune", "--batch-size", "10"], &env);
    assert_eq!(
        report(&done, "pruned"),
        vec![
            json!(["actions", "2026-10-11T12:00:00.000000Z", 35, 4]),
            json!(["runs", "2026-10-11T12:00:00.000000Z", 12, 2]),
            json!(["run_logs", "2026-11-03T12:00:00.000000Z", 6, 1]),
        ]
    );
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM action_logs"),
        NEW_ACTIONS as i64
    );
    assert_eq!(stats_of_the_pruned_day(dir.path()), stats);

    // A flag wins over its setting.
    let again = cli::json(dir.path(), &["prune", "--older-than", "1d"], &env);
    assert_eq!(again[0]["before"], "2026-11-09T12:00:00.000000Z");
    assert_eq!(
        again[0]["rows"], NEW_ACTIONS,
        "the new actions, all before 12:00"
    );
}

/// Arguments, environment, and what stderr must say.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_input_exits_2_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let cases: [Case; 7] = [
        (
            &["prune", "--older-than", "90"],
            &[],
            "--older-than: bad age \"90\"",
        ),
        (
            &["prune", "--older-than", "0d"],
            &[],
            "--older-than: bad age \"0d\"",
        ),
        (
            &["prune", "--older-than", "ninety days"],
            &[],
            "90d, 12h, 30m or 2w",
        ),
        (
            &["prune"],
            &[("ACTIONLOG_RETENTION", "3 months")],
            "ACTIONLOG_RETENTION: bad age \"3 months\"",
        ),
        (
            &["prune", "--older-than", "90d"],
            &[("ACTIONLOG_RUN_LOG_RETENTION", "1y")],
            "ACTIONLOG_RUN_LOG_RETENTION: bad age \"1y\"",
        ),
        (&["prune"], &[], "--older-than AGE or ACTIONLOG_RETENTION"),
        (
            &["prune", "--older-than", "90d", "--batch-size", "0"],
            &[],
            "bad batch size 0",
        ),
    ];
    for (args, env, says) in cases {
        let out = cli::run(dir.path(), args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );

    let out = cli::run(
        dir.path(),
        &["--db", "none.db", "prune", "--older-than", "90d"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such database file"));
    assert!(!dir.path().join("none.db").exists());
}
