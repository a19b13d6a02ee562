//! The dashboard's histogram and failure groups over the per-hour rollups equal the scans of
//! every row (`Options::use_rollups` off), on SQLite and on the real PostgreSQL: after inserts,
//! updates that change a row's status, time (to another hour, to NULL) or error message,
//! deletes, rows without a timestamp, status or message, and for ranges of every shape
//! (unbounded, open at either end, cut mid-hour at both ends, on hour boundaries, inside one
//! hour) and every bucket the rollups serve. Then the rollups are tampered with, to prove the
//! rolled store really read them (the comparisons would otherwise pass on two scans).
#![cfg(all(feature = "query", feature = "sqlite"))]

use crate::common;

use actionlog::query::{Bucket, Entity, Filter, Options, Rows, Store, Target};
use chrono::{DateTime, Utc};

const TYPES: [&str; 3] = ["pause_job", "run_job_now", "ticker_backfill"];
const STATUSES: [Option<&str>; 4] = [Some("failed"), Some("completed"), Some("failed"), None];
const MESSAGES: [Option<&str>; 4] = [Some("feed down"), Some("timeout"), None, Some("feed down")];
const ROWS: usize = 500;

fn id(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012x}")
}

fn q(v: Option<&str>) -> String {
    v.map_or("NULL".into(), |s| format!("'{s}'"))
}

/// Row `i`: every 7 minutes and `i` seconds from 2026-11-01 (about 2.5 days), two without a
/// timestamp; statuses and messages in patterns that do not line up with each other.
fn insert(range: std::ops::Range<usize>) -> String {
    let rows: Vec<String> = range
        .map(|i| {
            let t0 = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap();
            let ts = if i == 7 || i == 8 {
                "NULL".to_owned()
            } else {
                let t = t0 + chrono::Duration::seconds(i as i64 * 421);
                format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
            };
            format!(
                "('{}', '{}', {}, {}, {ts})",
                id(i),
                TYPES[i % 3],
                q(STATUSES[(i / 2) % 4]),
                q(MESSAGES[(i / 5) % 4]),
            )
        })
        .collect();
    format!(
        "INSERT INTO action_logs (id, action_type, status, error_message, action_timestamp) VALUES {};",
        rows.join(", ")
    )
}

/// Changes of every kind a rolled-up key can have, then deletes.
fn mutate() -> String {
    let ids = |step: usize, from: usize| {
        (from..ROWS)
            .step_by(step)
            .map(|i| format!("'{}'", id(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "UPDATE action_logs SET status = 'completed' WHERE id IN ({});
         UPDATE action_logs SET status = 'failed' WHERE id IN ({});
         UPDATE action_logs SET action_timestamp = '2026-11-02T12:34:56.000000Z' WHERE id IN ({});
         UPDATE action_logs SET action_timestamp = NULL WHERE id IN ({});
         UPDATE action_logs SET error_message = 'rewritten' WHERE id IN ({});
         UPDATE action_logs SET error_message = NULL, status = NULL WHERE id IN ({});
         DELETE FROM action_logs WHERE id IN ({});",
        ids(7, 2),
        ids(9, 4),
        ids(13, 5),
        ids(61, 6),
        ids(17, 3),
        ids(23, 10),
        ids(11, 1)
    )
}

fn t(s: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

fn ranges() -> Vec<Filter> {
    [
        (None, None),
        (t("2026-11-01T05:30:00Z"), None),
        (None, t("2026-11-02T12:40:00Z")),
        (t("2026-11-01T05:30:10Z"), t("2026-11-02T12:40:00Z")),
        (t("2026-11-01T06:00:00Z"), t("2026-11-02T13:00:00Z")),
        (t("2026-11-02T12:05:00Z"), t("2026-11-02T12:50:00Z")),
        (t("2026-11-02T11:15:00Z"), t("2026-11-02T13:00:00Z")),
        (t("2026-11-02T03:00:00Z"), t("2026-11-02T03:00:00Z")),
        // Across one hour's start: two partial hours, no whole one.
        (t("2026-11-02T12:40:00Z"), t("2026-11-02T13:20:00Z")),
    ]
    .into_iter()
    .map(|(since, until)| {
        let mut f = Filter::new(Entity::Actions);
        f.since = since;
        f.until = until;
        f
    })
    .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every aggregate the rollups serve, for every range: the histogram in hour, day and month
/// buckets and the failure groups.
fn aggregates(rt: &tokio::runtime::Runtime, s: &Store) -> Vec<Rows> {
    let mut out = Vec::new();
    for f in ranges() {
        for b in [Bucket::Hour, Bucket::Day, Bucket::Month] {
            out.push(rt.block_on(s.histogram(&f, b)).unwrap());
        }
        out.push(rt.block_on(s.failure_groups(&f)).unwrap());
    }
    out
}

fn scan() -> Options {
    Options {
        use_rollups: false,
        ..Options::default()
    }
}

/// Rolled-up and scanned aggregates are equal (and not trivially: there are failures, more
/// than one message, and bars); then `tamper` (which changes the rollups only) must change
/// what a newly opened rolled store answers.
fn assert_same(target: &Target, tamper: impl FnOnce()) {
    let rt = rt();
    let rolled = rt
        .block_on(Store::open(target, &Options::default()))
        .unwrap();
    let scanned = rt.block_on(Store::open(target, &scan())).unwrap();
    let (a, b) = (aggregates(&rt, &rolled), aggregates(&rt, &scanned));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "aggregate {i} (range {}, kind {})", i / 4, i % 4);
    }
    let groups = &b[3];
    assert!(groups.rows.len() >= 3, "{groups:?}");
    assert!(b[0].rows.len() > 24, "{:?}", b[0]);
    // A filter with a condition is always the scan: same answers from both stores.
    let mut f = ranges()[3].clone();
    f.push("action_type=pause_job").unwrap();
    assert_eq!(
        rt.block_on(rolled.failure_groups(&f)).unwrap(),
        rt.block_on(scanned.failure_groups(&f)).unwrap()
    );
    drop(rolled);
    tamper();
    let rolled = rt
        .block_on(Store::open(target, &Options::default()))
        .unwrap();
    let c = aggregates(&rt, &rolled);
    assert_ne!(c[0], b[0], "the histogram did not read the rollups");
    assert_ne!(c[3], b[3], "the failure groups did not read the rollups");
}

/// Doubles every rolled-up count (the table is left alone).
const TAMPER: &str = "UPDATE action_logs_hourly_status SET n = 2 * n;
     UPDATE action_logs_hourly_failures SET n = 2 * n;";

fn sqlite_db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    db
}

#[test]
fn sqlite_hourly_rollups_equal_full_scans() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(&dir);
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(&insert(0..ROWS)).unwrap();
    c.execute_batch(&mutate()).unwrap();
    c.execute_batch(&insert(ROWS..ROWS + 20)).unwrap();
    let target = Target::Sqlite(db);
    assert_same(&target, || c.execute_batch(TAMPER).unwrap());
}

/// A store from before the hourly rollups (made by the sink, then they are removed): the
/// sink's next open makes and fills them, and its triggers keep them from then on.
#[test]
fn sqlite_store_made_before_hourly_rollups_gets_them_filled() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(&dir);
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TRIGGER action_logs_hourly_insert; DROP TRIGGER action_logs_hourly_status_update;
         DROP TRIGGER action_logs_hourly_failures_update; DROP TRIGGER action_logs_hourly_delete;
         DROP TABLE action_logs_hourly_status; DROP TABLE action_logs_hourly_failures;",
    )
    .unwrap();
    c.execute_batch(&insert(0..ROWS)).unwrap();
    drop(c);
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT SUM(n) FROM action_logs_hourly_status", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, ROWS as i64);
    c.execute_batch(&mutate()).unwrap();
    c.execute_batch(&insert(ROWS..ROWS + 20)).unwrap();
    let target = Target::Sqlite(db);
    assert_same(&target, || c.execute_batch(TAMPER).unwrap());
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_hourly_rollups_equal_full_scans() {
    let Some(db) = common::pg::TestDb::new("hourly") else {
        return;
    };
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0004_rollups.sql",
        "0005_hourly_rollups.sql",
    ]);
    db.psql(&insert(0..ROWS));
    // The upsert the sinks and PostgREST's merge-duplicates issue: INSERT and UPDATE
    // triggers of one statement.
    db.psql(&format!(
        "{} ON CONFLICT (id) DO UPDATE SET status = 'failed', error_message = 'upserted';",
        insert(ROWS - 30..ROWS + 20).trim_end_matches(';')
    ));
    db.psql(&mutate());
    assert_same(&db.query_target(), || {
        db.psql(TAMPER);
    });
}

/// `0005_hourly_rollups.sql` on a store that already has rows fills the rollups from them;
/// running it again changes nothing.
#[cfg(feature = "postgres")]
#[test]
fn postgres_migration_fills_hourly_rollups_from_existing_rows() {
    let Some(db) = common::pg::TestDb::new("hourly_fill") else {
        return;
    };
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql", "0004_rollups.sql"]);
    db.psql(&insert(0..ROWS));
    db.migrate(&["0005_hourly_rollups.sql", "0005_hourly_rollups.sql"]);
    assert_eq!(
        db.psql("SELECT SUM(n) FROM action_logs_hourly_status")
            .trim(),
        ROWS.to_string()
    );
    db.psql(&mutate());
    db.psql(&insert(ROWS..ROWS + 20));
    assert_same(&db.query_target(), || {
        db.psql(TAMPER);
    });
}

/// Supabase's REST API: `actionlog_histogram` and `actionlog_failure_groups` of
/// `migrations/0005_hourly_rollups.sql`, through the PostgREST double, return what PostgreSQL's
/// full scans do, for every range and bucket (the finer ones counted from the rows); a filter
/// with conditions is refused rather than answered without them.
#[cfg(all(feature = "postgres", feature = "supabase"))]
#[test]
fn supabase_functions_equal_full_scans() {
    let Some(db) = common::pg::TestDb::new("hourly_rest") else {
        return;
    };
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0004_rollups.sql",
        "0005_hourly_rollups.sql",
    ]);
    db.psql(&insert(0..ROWS));
    db.psql(&mutate());
    let double = common::postgrest::Double::start(&db.url, &db.schema, "k");
    let rest = Target::Supabase {
        url: double.url.clone(),
        key: "k".into(),
    };
    let rt = rt();
    let sb = rt
        .block_on(Store::open(&rest, &Options::default()))
        .unwrap();
    let scanned = rt
        .block_on(Store::open(&db.query_target(), &scan()))
        .unwrap();
    let (a, b) = (aggregates(&rt, &sb), aggregates(&rt, &scanned));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "aggregate {i} (range {}, kind {})", i / 4, i % 4);
    }
    for f in &ranges()[3..6] {
        for bucket in [Bucket::TenMinutes, Bucket::Minute] {
            assert_eq!(
                rt.block_on(sb.histogram(f, bucket)).unwrap(),
                rt.block_on(scanned.histogram(f, bucket)).unwrap()
            );
        }
    }
    let mut f = ranges()[3].clone();
    f.push("action_type=pause_job").unwrap();
    assert!(rt.block_on(sb.failure_groups(&f)).is_err());
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}
