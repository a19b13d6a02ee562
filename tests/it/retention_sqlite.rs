//! Retention over the SQLite store: old actions and runs gone in bounded batches, new ones
//! kept, run logs trimmed after their own age with the runs kept, the rollups (and so `stats`
//! of the pruned day) unchanged while a plain delete still adjusts them, a dry run deleting
//! nothing, a store made before pruning guarded by the prune itself, digests let go, and the
//! sink's writer writing on through a prune.
#![cfg(all(feature = "retention", feature = "sqlite"))]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use actionlog::query::Target;
use actionlog::retention::Plan;
use common::retention::{self as r, NEW_ACTIONS, NEW_RUNS, OLD_ACTIONS};
use rusqlite::Connection;

/// A store made by the sink, with the workload in it.
fn store(dir: &Path) -> PathBuf {
    let db = dir.join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    Connection::open(&db)
        .unwrap()
        .execute_batch(&r::workload_sql())
        .unwrap();
    db
}

fn n(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Every row of every rollup table, as text.
fn rollups(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut out = Vec::new();
    for t in [
        "action_logs_daily_status",
        "action_logs_daily_users",
        "action_logs_daily_durations",
        "action_logs_hourly_status",
        "action_logs_hourly_failures",
    ] {
        let mut st = c
            .prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2, 3"))
            .unwrap();
        let cols = st.column_count();
        let rows = st
            .query_map([], |row| {
                Ok((0..cols)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        out.extend(rows.map(|x| format!("{t}: {}", x.unwrap())));
    }
    assert!(out.len() > 20, "{out:?}");
    out
}

#[test]
fn old_rows_go_in_batches_and_the_rollups_stay() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let target = Target::Sqlite(db.clone());
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
            "SELECT COUNT(*) FROM action_logs WHERE action_timestamp < '2026-10-11T12'"
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
        r::MIDDLE_RUNS as i64,
        "the middle-aged runs' logs are trimmed, the runs kept"
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
    assert_eq!(n(&db, "SELECT COUNT(*) FROM action_logs_pruning"), 0);

    // Outside a prune a delete still takes its rows out of the statistics.
    let day = "SELECT SUM(n) FROM action_logs_daily_status WHERE day = '2026-11-09'";
    assert_eq!(n(&db, day), NEW_ACTIONS as i64);
    Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "DELETE FROM action_logs WHERE id = '{}'",
            r::id(1000)
        ))
        .unwrap();
    assert_eq!(n(&db, day), NEW_ACTIONS as i64 - 1);

    // Again: nothing left to delete.
    let again = r::run(&r::prune(&target, 10, false)).unwrap();
    assert_eq!(
        (again.actions.rows, again.runs.rows, again.run_logs.rows),
        (0, 0, 0)
    );
    assert_eq!(again.actions.batches, 0);
}

#[test]
fn a_dry_run_counts_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let target = Target::Sqlite(db.clone());
    let p = r::run(&r::prune(&target, 10, true)).unwrap();
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

/// A store whose delete triggers predate pruning, not opened by a newer sink since: the prune
/// guards them itself before deleting.
#[test]
fn a_store_made_before_pruning_is_guarded_by_the_prune() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "DROP TRIGGER action_logs_rollup_delete; DROP TRIGGER action_logs_hourly_delete;
             DROP TABLE action_logs_pruning;
             CREATE TRIGGER action_logs_rollup_delete AFTER DELETE ON action_logs
             BEGIN UPDATE action_logs_daily_status SET n = n - 1
                 WHERE day = substr(old.action_timestamp, 1, 10)
                 AND action_type = old.action_type AND status = old.status; END;",
        )
        .unwrap();
    let before = rollups(&db);
    let target = Target::Sqlite(db.clone());
    r::assert_report(&r::run(&r::prune(&target, 10, false)).unwrap());
    assert_eq!(rollups(&db), before);
}

#[test]
fn a_missing_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let e = r::run(&r::prune(&Target::Sqlite(db.clone()), 10, false)).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    assert!(e.to_string().contains("no such database file"), "{e}");
    assert!(!db.exists());
}

/// The digests a plan names go, in batches, up to their sequence number and no further; a
/// store without the table skips them.
#[test]
fn digests_named_by_the_plan_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let target = Target::Sqlite(db.clone());
    let prune = r::prune(&target, 10, false);
    let plan = Plan {
        digests_up_to: vec![("w1".into(), 20), ("w3".into(), 5)],
        ..prune.plan()
    };
    let p = r::run_plan(&prune, &plan).unwrap();
    assert_eq!(p.digests.rows, 0, "no table, nothing to do");

    let sub = dir.path().join("with_digests");
    std::fs::create_dir(&sub).unwrap();
    let db2 = store(&sub);
    Connection::open(&db2)
        .unwrap()
        .execute_batch(&r::digests_sql("TEXT", &[("w1", 25), ("w2", 5)]))
        .unwrap();
    let prune = r::prune(&Target::Sqlite(db2.clone()), 10, true);
    let plan = Plan {
        digests_up_to: vec![("w1".into(), 20), ("w3".into(), 5)],
        ..prune.plan()
    };
    assert_eq!(r::run_plan(&prune, &plan).unwrap().digests.rows, 20);
    let prune = r::prune(&Target::Sqlite(db2.clone()), 10, false);
    let p = r::run_plan(&prune, &plan).unwrap();
    assert_eq!((p.digests.rows, p.digests.batches), (20, 2));
    assert_eq!(
        n(
            &db2,
            "SELECT COUNT(*) FROM audit_digests WHERE writer = 'w1' AND seq > 20"
        ),
        5
    );
    assert_eq!(
        n(
            &db2,
            "SELECT COUNT(*) FROM audit_digests WHERE writer = 'w2'"
        ),
        5
    );
}

/// The sink's writer writes through a prune of thousands of rows in small batches: some of
/// its writes finish while the prune runs, none waits long, and every row it wrote is there.
#[test]
fn a_writer_keeps_writing_during_a_prune() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path());
    let old = 3000;
    Connection::open(&db)
        .unwrap()
        .execute_batch(&r::actions_sql(10_000, old, "2026-09-01T00:00:00Z"))
        .unwrap();
    let target = Target::Sqlite(db.clone());
    let writer = r::Writer::start(actionlog::sink::SqliteSink::open(&db).unwrap());
    let written = "SELECT COUNT(*) FROM action_logs WHERE action_type = 'written_meanwhile'";
    writer.wait_started(&|| n(&db, written));
    let from = Instant::now();
    let p = r::run(&r::prune(&target, 50, false)).unwrap();
    let to = Instant::now();
    let writes = writer.stop();
    assert_eq!(p.actions.rows, (old + OLD_ACTIONS) as u64);
    assert_eq!(p.actions.batches, (old + OLD_ACTIONS).div_ceil(50) as u64);
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
            "SELECT COUNT(*) FROM action_logs WHERE action_timestamp < '2026-10-11T12'"
        ),
        0
    );
}
