//! Retention over the real PostgreSQL: old actions and runs gone in bounded batches, new ones
//! kept, run logs trimmed after their own age, the rollups (and `stats` of the pruned day)
//! unchanged while a plain delete still adjusts them (the setting does not outlive a batch),
//! a dry run deleting nothing, a store whose rollup triggers `0008_retention.sql` has not
//! guarded refused before anything is deleted, the sink's own migration guarding them,
//! digests let go, and the sink writing on through a prune.
#![cfg(all(feature = "retention", feature = "postgres"))]

use crate::common;

use std::time::Instant;

use actionlog::retention::{Error, Plan};
use common::pg::TestDb;
use common::retention::{self as r, NEW_ACTIONS, NEW_RUNS, OLD_ACTIONS};

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

/// Runs `sql` in the test's schema over a connection (psql takes it as an argument, which
/// the system bounds).
fn exec(db: &TestDb, sql: &str) {
    db.exec(&format!("SET search_path TO {}; {sql}", db.schema));
}

fn rollups(db: &TestDb) -> Vec<String> {
    let mut out = Vec::new();
    for t in [
        "action_logs_daily_status",
        "action_logs_daily_users",
        "action_logs_daily_durations",
        "action_logs_hourly_status",
        "action_logs_hourly_failures",
    ] {
        out.extend(
            db.psql_rows(&format!("SELECT * FROM {t} ORDER BY 1, 2, 3"))
                .into_iter()
                .map(|row| format!("{t}: {row}")),
        );
    }
    assert!(out.len() > 20, "{out:?}");
    out
}

#[test]
fn old_rows_go_in_batches_and_the_rollups_stay() {
    let Some(db) = TestDb::new("ret_pg") else {
        return;
    };
    db.migrate(&ALL);
    db.psql(&r::workload_sql());
    let target = db.query_target();
    let rollups_before = rollups(&db);
    let day_before = r::pruned_day(&target);

    let pruned = r::run(&r::prune(&target, 10, false)).unwrap();
    r::assert_report(&pruned);

    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        NEW_ACTIONS as i64
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM action_logs WHERE action_timestamp < '2026-10-11T12:00Z'"
        ),
        0
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
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM job_executions WHERE logs LIKE 'line of run 4%'"
        ),
        NEW_RUNS as i64
    );
    assert_eq!(rollups(&db), rollups_before, "a prune changed the rollups");
    assert_eq!(r::pruned_day(&target), day_before);

    // Outside a prune a delete still takes its rows out of the statistics.
    let day = "SELECT SUM(n) FROM action_logs_daily_status WHERE day = '2026-11-09'";
    assert_eq!(n(&db, day), NEW_ACTIONS as i64);
    db.psql(&format!(
        "DELETE FROM action_logs WHERE id = '{}'",
        r::id(1000)
    ));
    assert_eq!(n(&db, day), NEW_ACTIONS as i64 - 1);
}

#[test]
fn a_dry_run_counts_and_deletes_nothing() {
    let Some(db) = TestDb::new("ret_pg_dry") else {
        return;
    };
    db.migrate(&ALL);
    db.psql(&r::workload_sql());
    let p = r::run(&r::prune(&db.query_target(), 10, true)).unwrap();
    assert!(p.dry_run);
    assert_eq!((p.actions.rows, p.actions.batches), (OLD_ACTIONS as u64, 0));
    assert_eq!(p.runs.rows, r::OLD_RUNS as u64);
    assert_eq!(p.run_logs.rows, r::MIDDLE_RUNS as u64);
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM job_executions WHERE logs IS NULL"
        ),
        0
    );
}

/// Rollups made by 0004 and 0005 without 0008: the prune refuses before deleting anything;
/// once 0008 has run, it prunes and the rollups stay.
#[test]
fn unguarded_rollups_are_refused_before_anything_is_deleted() {
    let Some(db) = TestDb::new("ret_pg_unguarded") else {
        return;
    };
    db.migrate(&ALL[..6]);
    db.psql(&r::workload_sql());
    let target = db.query_target();
    let e = r::run(&r::prune(&target, 10, false)).unwrap_err();
    assert!(matches!(e, Error::Unguarded { .. }), "{e}");
    assert!(e.is_bad_input());
    assert!(e.to_string().contains("0008_retention.sql"), "{e}");
    assert_eq!(
        n(&db, "SELECT COUNT(*) FROM action_logs"),
        (OLD_ACTIONS + NEW_ACTIONS) as i64
    );
    assert_eq!(n(&db, "SELECT COUNT(*) FROM job_executions"), 21);

    db.migrate(&["0008_retention.sql", "0008_retention.sql"]);
    let before = rollups(&db);
    r::assert_report(&r::run(&r::prune(&target, 10, false)).unwrap());
    assert_eq!(rollups(&db), before);
}

/// The sink's `.migrate(true)` applies 0008 after the rollups: its triggers come guarded.
#[test]
fn the_sinks_migration_guards_the_rollups() {
    let Some(db) = TestDb::new("ret_pg_sink") else {
        return;
    };
    let mut sink = db.sink();
    let record = actionlog::ActionRecord::blank(uuid::Uuid::now_v7(), "one");
    r::rt()
        .block_on(actionlog::sink::Sink::write(
            &mut sink,
            &vec![record].into(),
        ))
        .unwrap();
    let guarded = db.psql(
        "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger \
         WHERE tgrelid = 'action_logs'::regclass AND tgqual IS NOT NULL",
    );
    assert_eq!(
        guarded.trim(),
        "action_logs_hourly_delete,action_logs_rollup_delete"
    );
}

#[test]
fn digests_named_by_the_plan_go() {
    let Some(db) = TestDb::new("ret_pg_digests") else {
        return;
    };
    db.migrate(&ALL);
    let target = db.query_target();
    let prune = r::prune(&target, 10, false);
    let plan = Plan {
        digests_up_to: vec![("w1".into(), 20)],
        ..prune.plan()
    };
    assert_eq!(
        r::run_plan(&prune, &plan).unwrap().digests.rows,
        0,
        "no table"
    );
    db.psql(&r::digests_sql("TIMESTAMPTZ", &[("w1", 25), ("w2", 5)]));
    let p = r::run_plan(&r::prune(&target, 10, true), &plan).unwrap();
    assert_eq!((p.digests.rows, p.digests.batches), (20, 0));
    let p = r::run_plan(&prune, &plan).unwrap();
    assert_eq!((p.digests.rows, p.digests.batches), (20, 2));
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM audit_digests WHERE writer = 'w1' AND seq > 20"
        ),
        5
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM audit_digests WHERE writer = 'w2'"
        ),
        5
    );
}

/// The sink writes through a prune of thousands of rows in small batches: some of its writes
/// finish while the prune runs, none waits long, every row it wrote is there, and the rollups
/// count them (the prune's setting never reached the writer's transactions).
#[test]
fn a_writer_keeps_writing_during_a_prune() {
    let Some(db) = TestDb::new("ret_pg_writer") else {
        return;
    };
    db.migrate(&ALL);
    db.psql(&r::workload_sql());
    let old = 3000;
    exec(&db, &r::actions_sql(10_000, old, "2026-09-01T00:00:00Z"));
    let target = db.query_target();
    let writer = r::Writer::start(db.sink());
    let written = "SELECT COUNT(*) FROM action_logs WHERE action_type = 'written_meanwhile'";
    writer.wait_started(&|| n(&db, written));
    let from = Instant::now();
    let p = r::run(&r::prune(&target, 50, false)).unwrap();
    let to = Instant::now();
    let writes = writer.stop();
    assert_eq!(p.actions.rows, (old + OLD_ACTIONS) as u64);
    r::assert_interleaved(&writes, from, to);
    let ids: usize = writes.iter().map(|(_, _, ids)| ids.len()).sum();
    assert_eq!(
        n(&db, written),
        ids as i64,
        "a row written during the prune is missing"
    );
    assert_eq!(
        n(
            &db,
            "SELECT SUM(n) FROM action_logs_daily_status WHERE action_type = 'written_meanwhile'"
        ),
        ids as i64
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) FROM action_logs WHERE action_timestamp < '2026-10-11T12:00Z'"
        ),
        0
    );
}

/// The README's recipe: `action_logs` partitioned by month over its UUID v7 ids. The
/// migrations take the partitioned table, the sink writes and upserts into it (`ON CONFLICT
/// (id)`), and dropping an old month's partition leaves the rollups as they were.
#[test]
fn the_readmes_monthly_partitions_take_the_sink_and_drop_without_touching_the_rollups() {
    let Some(db) = TestDb::new("ret_pg_parts") else {
        return;
    };
    let readme = include_str!("../../README.md");
    let recipe = readme
        .split_once("### PostgreSQL: monthly partitions instead of deletes")
        .and_then(|(_, rest)| rest.split_once("```sql\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(sql, _)| sql)
        .expect("the README's partitioning recipe");
    exec(&db, recipe);
    db.migrate(&ALL);
    // Two months ago, by hand: ids made from that time, as the layer makes them.
    exec(
        &db,
        "INSERT INTO action_logs (id, action_type, status, action_timestamp)
         SELECT overlay(actionlog_uuid7_floor(t)::text PLACING lpad(to_hex(g), 12, '0') FROM 25)::uuid,
                'old', 'completed', t
         FROM generate_series(1, 20) g, LATERAL (SELECT now() - interval '2 months' AS t) x",
    );
    // Now, through the sink: a new action, then its final record (the upsert).
    let mut sink = db.sink();
    let mut record = actionlog::ActionRecord::blank(uuid::Uuid::now_v7(), "new");
    let rt = r::rt();
    rt.block_on(actionlog::sink::Sink::write(
        &mut sink,
        &vec![record.clone()].into(),
    ))
    .unwrap();
    record.status = "completed".into();
    record.first_write = false;
    rt.block_on(actionlog::sink::Sink::write(
        &mut sink,
        &vec![record].into(),
    ))
    .unwrap();
    let old_month =
        db.psql("SELECT tableoid::regclass FROM action_logs WHERE action_type = 'old' GROUP BY 1");
    let old_month = old_month.trim();
    assert!(old_month.starts_with("action_logs_20"), "{old_month}");
    assert_eq!(
        db.psql("SELECT status FROM action_logs WHERE action_type = 'new'")
            .trim(),
        "completed"
    );
    assert_ne!(
        db.psql("SELECT tableoid::regclass FROM action_logs WHERE action_type = 'new'")
            .trim(),
        "action_logs_default"
    );
    let before = rollups_or_empty(&db);
    assert_eq!(
        n(&db, "SELECT SUM(n) FROM action_logs_daily_status"),
        21,
        "{before:?}"
    );
    db.psql(&format!("DROP TABLE {old_month}"));
    assert_eq!(n(&db, "SELECT COUNT(*) FROM action_logs"), 1);
    assert_eq!(
        rollups_or_empty(&db),
        before,
        "dropping a partition changed the rollups"
    );
}

/// The rollups' rows, however few.
fn rollups_or_empty(db: &TestDb) -> Vec<String> {
    ["action_logs_daily_status", "action_logs_hourly_status"]
        .iter()
        .flat_map(|t| db.psql_rows(&format!("SELECT * FROM {t} ORDER BY 1, 2, 3")))
        .collect()
}
