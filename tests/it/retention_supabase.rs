//! Retention over Supabase's REST API, through the PostgREST double (which performs each
//! request in the real PostgreSQL): actions through `actionlog_prune` of
//! `migrations/0008_retention.sql` (the rollups kept), runs and run logs by ids in bounded
//! `DELETE` and `PATCH` requests, a dry run counting through `Prefer: count=exact`, digests
//! let go; a project without the function refused before anything is deleted. Every request
//! must be one PostgREST accepts, and the key never shows.
#![cfg(all(feature = "retention", feature = "supabase", feature = "postgres"))]

use crate::common;

use actionlog::query::Target;
use actionlog::retention::Plan;
use common::pg::TestDb;
use common::postgrest::Double;
use common::retention::{self as r, NEW_ACTIONS, NEW_RUNS, OLD_ACTIONS};

const KEY: &str = "CANARY-retention-key";

const ALL: [&str; 7] = [
    "0001_action_logs.sql",
    "0002_jobs.sql",
    "0003_query.sql",
    "0004_rollups.sql",
    "0005_hourly_rollups.sql",
    "0006_trace_context.sql",
    "0008_retention.sql",
];

fn n(db: &TestDb, sql: &str) -> i64 {
    db.psql(sql).trim().parse().unwrap()
}

fn rollups(db: &TestDb) -> Vec<String> {
    [
        "action_logs_daily_status",
        "action_logs_daily_users",
        "action_logs_daily_durations",
        "action_logs_hourly_status",
        "action_logs_hourly_failures",
    ]
    .iter()
    .flat_map(|t| {
        db.psql_rows(&format!("SELECT * FROM {t} ORDER BY 1, 2, 3"))
            .into_iter()
            .map(move |row| format!("{t}: {row}"))
    })
    .collect()
}

fn target(double: &Double) -> Target {
    Target::Supabase {
        url: double.url.clone(),
        key: KEY.into(),
    }
}

#[test]
fn old_rows_go_through_the_rest_api_and_the_rollups_stay() {
    let Some(db) = TestDb::new("ret_sb") else {
        return;
    };
    db.migrate(&ALL);
    db.psql(&r::workload_sql());
    db.psql(&r::digests_sql("TIMESTAMPTZ", &[("w1", 25), ("w2", 5)]));
    let double = Double::start(&db.url, &db.schema, KEY);
    let target = target(&double);
    let before = rollups(&db);
    let day_before = r::pruned_day(&target);

    let prune = r::prune(&target, 10, true);
    let plan = Plan {
        digests_up_to: vec![("w1".into(), 20)],
        ..prune.plan()
    };
    let dry = r::run_plan(&prune, &plan).unwrap();
    assert_eq!(
        (
            dry.actions.rows,
            dry.runs.rows,
            dry.run_logs.rows,
            dry.digests.rows
        ),
        (
            OLD_ACTIONS as u64,
            r::OLD_RUNS as u64,
            r::MIDDLE_RUNS as u64,
            20
        )
    );
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );

    let prune = r::prune(&target, 10, false);
    let p = r::run_plan(&prune, &plan).unwrap();
    assert_eq!((p.digests.rows, p.digests.batches), (20, 2));
    r::assert_report(&actionlog::retention::Pruned {
        digests: Default::default(),
        ..p
    });
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        NEW_ACTIONS as i64
    );
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM job_executions"),
        (r::MIDDLE_RUNS + NEW_RUNS) as i64
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM job_executions WHERE logs IS NULL"
        ),
        r::MIDDLE_RUNS as i64
    );
    assert_eq!(n(&db, "SELECT COUNT(*) FROM audit_digests"), 10);
    assert_eq!(rollups(&db), before, "a prune changed the rollups");
    assert_eq!(r::pruned_day(&target), day_before);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}

/// Runs go at most `REST_ID_BATCH` per request whatever the batch size: their ids are in
/// the URL.
#[test]
fn runs_go_a_bounded_number_of_ids_per_request() {
    let Some(db) = TestDb::new("ret_sb_ids") else {
        return;
    };
    db.migrate(&ALL);
    db.psql(&r::runs_sql(0, 250, "2026-01-01T00:00:00Z"));
    let double = Double::start(&db.url, &db.schema, KEY);
    let p = r::run(&r::prune(&target(&double), 5000, false)).unwrap();
    assert_eq!((p.runs.rows, p.runs.batches), (250, 3));
    assert_eq!(n(&db, "SELECT COUNT(*) FROM job_executions"), 0);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}

/// A project without `0008_retention.sql`: refused, naming the migration, before anything
/// is deleted; a rejected key: refused, never shown.
#[test]
fn without_the_function_nothing_is_deleted() {
    let Some(db) = TestDb::new("ret_sb_missing") else {
        return;
    };
    db.migrate(&ALL[..6]);
    db.psql(&r::workload_sql());
    let double = Double::start(&db.url, &db.schema, KEY);
    let e = r::run(&r::prune(&target(&double), 10, false)).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("actionlog_prune") && msg.contains("0008_retention.sql"),
        "{msg}"
    );
    assert_eq!(n(&db, "SELECT COUNT(*) FROM job_executions"), 21);

    // 0008 made, then 0004 run again by hand on a store it made: guarded no more.
    db.migrate(&["0008_retention.sql"]);
    db.psql(
        "DROP TRIGGER action_logs_rollup_delete ON action_logs;
         CREATE TRIGGER action_logs_rollup_delete AFTER DELETE ON action_logs
         REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION action_logs_rollup();",
    );
    let e = r::run(&r::prune(&target(&double), 10, false)).unwrap_err();
    assert!(
        matches!(e, actionlog::retention::Error::Unguarded { .. }),
        "{e}"
    );
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );

    let wrong = Target::Supabase {
        url: double.url.clone(),
        key: "wrong-CANARY".into(),
    };
    let e = r::run(&r::prune(&wrong, 10, false)).unwrap_err();
    assert!(e.is_bad_input() && !e.to_string().contains("CANARY"), "{e}");
}
