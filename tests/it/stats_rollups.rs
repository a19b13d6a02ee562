//! `stats` over the per-day rollups equals `stats` over every row (`Options::use_rollups`
//! off, full scans), on SQLite and on the real PostgreSQL, after inserts, upserts
//! that change a row's status, day, user or duration, deletes, rows without a timestamp, user
//! or status, and for ranges of every shape: unbounded, open at either end, cut mid-day at
//! both ends (where a partial day is read, and where it is its whole day less the rest), on
//! midnights, and inside one day. Also for stores made before the rollups: the
//! SQLite sink's open and `migrations/0004_rollups.sql` fill them from the rows already there.
#![cfg(all(feature = "query", feature = "sqlite"))]

use crate::common;

use actionlog::query::{Entity, Filter, Options, Store, Target};
use chrono::{DateTime, Utc};

const TYPES: [&str; 4] = [
    "pause_job",
    "run_job_now",
    "ticker_backfill",
    "add_cron_job",
];
const STATUSES: [Option<&str>; 4] = [Some("completed"), Some("failed"), Some("initiated"), None];
const USERS: [Option<&str>; 4] = [Some("u1"), Some("u2"), Some("u3"), None];
const ROWS: usize = 600;

fn id(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012x}")
}

fn q(v: Option<&str>) -> String {
    v.map_or("NULL".into(), |s| format!("'{s}'"))
}

/// Row `i`: every 10 minutes and `i` seconds from 2026-11-01 (about four days), one without a
/// timestamp; millisecond durations, some missing.
fn insert(range: std::ops::Range<usize>) -> String {
    let rows: Vec<String> = range
        .map(|i| {
            let t0 = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap();
            let ts = if i == 7 {
                "NULL".to_owned()
            } else {
                let t = t0 + chrono::Duration::seconds(i as i64 * 601);
                format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
            };
            let d = if i % 9 == 0 {
                "NULL".to_owned()
            } else {
                format!("{}", ((i * 37) % 500) as f64 / 1000.0)
            };
            format!(
                "('{}', '{}', {}, {}, {ts}, {d})",
                id(i),
                TYPES[i % 4],
                q(STATUSES[(i / 4) % 4]),
                q(USERS[(i / 3) % 4]),
            )
        })
        .collect();
    format!(
        "INSERT INTO action_logs (id, action_type, status, user_id, action_timestamp, request_duration_seconds) VALUES {};",
        rows.join(", ")
    )
}

/// Changes of every kind a key can have: status, day, user and duration, then deletes.
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
         UPDATE action_logs SET action_timestamp = '2026-11-02T12:00:00.000000Z', user_id = NULL WHERE id IN ({});
         UPDATE action_logs SET request_duration_seconds = 1.25, status = NULL WHERE id IN ({});
         DELETE FROM action_logs WHERE id IN ({});",
        ids(7, 2),
        ids(13, 5),
        ids(17, 3),
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
        (None, t("2026-11-03T12:00:00Z")),
        (t("2026-11-01T05:30:00Z"), t("2026-11-03T12:00:00Z")),
        (t("2026-11-02T00:00:00Z"), t("2026-11-04T00:00:00Z")),
        (t("2026-11-02T03:00:00Z"), t("2026-11-02T09:00:00Z")),
        (t("2026-11-02T03:00:00Z"), t("2026-11-03T00:00:00Z")),
        (t("2026-11-03T00:00:00Z"), t("2026-11-03T00:00:00Z")),
        // Edges longer than the rest of their day: whole days less the rest.
        (None, t("2026-11-03T18:00:00Z")),
        (t("2026-11-01T20:00:00Z"), t("2026-11-02T18:30:00Z")),
        (t("2026-11-01T03:00:00Z"), t("2026-11-04T23:00:00Z")),
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

/// Every range's stats, through the rollups and through full scans, must be equal; and the
/// rollups must really be used (they differ from a deliberately stale copy).
fn assert_same(target: &Target) {
    let rt = rt();
    let rolled = rt
        .block_on(Store::open(target, &Options::default()))
        .unwrap();
    let scan = Options {
        use_rollups: false,
        ..Options::default()
    };
    let scanned = rt.block_on(Store::open(target, &scan)).unwrap();
    for f in ranges() {
        let a = rt.block_on(rolled.stats(&f)).unwrap();
        let b = rt.block_on(scanned.stats(&f)).unwrap();
        assert_eq!(a, b, "since {:?} until {:?}", f.since, f.until);
    }
    let all = rt.block_on(rolled.stats(&ranges()[0])).unwrap();
    let total: i64 = all.sections[0]
        .1
        .objects()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    let deleted = (1..ROWS).step_by(11).count() as i64;
    assert_eq!(total, ROWS as i64 + 20 - deleted);
}

#[test]
fn sqlite_rollups_equal_full_scans() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(&insert(0..ROWS)).unwrap();
    c.execute_batch(&mutate()).unwrap();
    c.execute_batch(&insert(ROWS..ROWS + 20)).unwrap();
    drop(c);
    assert_same(&Target::Sqlite(db));
}

/// A store from before the rollups (made by the sink, then its rollups removed): the sink's
/// next open makes and fills them, and its triggers keep them from then on.
#[test]
fn sqlite_store_made_before_rollups_gets_them_filled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TRIGGER action_logs_rollup_insert; DROP TRIGGER action_logs_rollup_update;
         DROP TRIGGER action_logs_rollup_delete; DROP TABLE action_logs_daily_status;
         DROP TABLE action_logs_daily_users; DROP TABLE action_logs_daily_durations;",
    )
    .unwrap();
    c.execute_batch(&insert(0..ROWS)).unwrap();
    drop(c);
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT SUM(n) FROM action_logs_daily_status", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, ROWS as i64);
    c.execute_batch(&mutate()).unwrap();
    c.execute_batch(&insert(ROWS..ROWS + 20)).unwrap();
    drop(c);
    assert_same(&Target::Sqlite(db));
}

/// A store whose rollups were made before the read side's covering index existed (the index
/// dropped here): the sink's next open adds the index, so the first page of `actions` reads
/// it in `(time, id)` order, and the rollups, rebuilt with it, still equal full scans.
#[test]
fn sqlite_store_without_the_covering_index_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(&insert(0..ROWS)).unwrap();
    c.execute_batch("DROP INDEX idx_action_logs_stats").unwrap();
    drop(c);
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    let plan: String = c
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM action_logs \
             ORDER BY action_timestamp DESC, id DESC LIMIT 51",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("idx_action_logs_stats"), "{plan}");
    c.execute_batch(&mutate()).unwrap();
    c.execute_batch(&insert(ROWS..ROWS + 20)).unwrap();
    drop(c);
    assert_same(&Target::Sqlite(db));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_rollups_equal_full_scans() {
    let Some(db) = common::pg::TestDb::new("rollups") else {
        return;
    };
    // With the hourly rollups too (the actions by type and status read them); the fill test
    // below has only 0004's.
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
        "{} ON CONFLICT (id) DO UPDATE SET status = 'failed';",
        insert(ROWS - 30..ROWS + 20).trim_end_matches(';')
    ));
    db.psql(&mutate());
    assert_same(&db.query_target());
}

/// `0004_rollups.sql` on a store that already has rows fills the rollups from them; running
/// it again changes nothing.
#[cfg(feature = "postgres")]
#[test]
fn postgres_migration_fills_rollups_from_existing_rows() {
    let Some(db) = common::pg::TestDb::new("rollups_fill") else {
        return;
    };
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql"]);
    db.psql(&insert(0..ROWS));
    db.migrate(&["0004_rollups.sql", "0004_rollups.sql"]);
    assert_eq!(
        db.psql("SELECT SUM(n) FROM action_logs_daily_status")
            .trim(),
        ROWS.to_string()
    );
    db.psql(&mutate());
    db.psql(&insert(ROWS..ROWS + 20));
    assert_same(&db.query_target());
}

/// Supabase's `actionlog_stats` (the REST API's aggregates): 0004's version, over the
/// rollups, returns exactly the JSON of 0003's full scans, for every range shape.
#[cfg(feature = "postgres")]
#[test]
fn postgres_rest_function_over_rollups_equals_full_scans() {
    let Some(db) = common::pg::TestDb::new("rollups_rest") else {
        return;
    };
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql", "0003_query.sql"]);
    db.psql(&insert(0..ROWS));
    db.psql(&mutate());
    let call = |f: &Filter| {
        let arg =
            |t: Option<DateTime<Utc>>| t.map_or("NULL".into(), |t| format!("'{}'", t.to_rfc3339()));
        db.psql(&format!(
            "SELECT actionlog_stats({}::timestamptz, {}::timestamptz)",
            arg(f.since),
            arg(f.until)
        ))
    };
    let scanned: Vec<String> = ranges().iter().map(call).collect();
    db.migrate(&["0004_rollups.sql"]);
    assert!(db.psql("SELECT prosrc FROM pg_proc WHERE proname = 'actionlog_stats' AND pronamespace = current_schema()::regnamespace").contains("action_logs_daily_status"));
    for (f, want) in ranges().iter().zip(&scanned) {
        assert_eq!(&call(f), want, "since {:?} until {:?}", f.since, f.until);
    }
}
