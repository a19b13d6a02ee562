//! The read side on a store of 1 000 000 actions and 100 000 job runs: `stats --since 7d`
//! and the first page of `actions` through `actionlog::query`, each against the reference SQL
//! run directly on the same store in the same run (`stats` does the four reference analytics
//! queries plus the p50/p95 sections, which have no reference counterpart; its baseline is the
//! four reference queries).
//!
//! Data: one bulk SQL insert (a recursive CTE in SQLite, `generate_series` in PostgreSQL) of
//! the rows the sinks would write — 10 action types, 85 % completed / 5 % failed / 10 %
//! initiated, 1 000 users, timestamps over the last 6 days, durations 0–2 s; 5 jobs with 90 %
//! successful runs — into the sinks' own schema (`SqliteSink::open`, the migrations). It is
//! kept between runs (`target/bench-query/actions.db`, schema `al_bench_query`) and rebuilt
//! when the counts differ. PostgreSQL is the test database (`ACTIONLOG_TEST_DATABASE_URL`,
//! default `postgres://root@127.0.0.1:5432/test`); skipped if unreachable.
//!
//! Run: `cargo bench --all-features --bench query`

use std::path::PathBuf;
use std::time::Duration;

use actionlog::query::{Cursor, Entity, Filter, Options, PageQuery, Store, Target, parse_time};
use criterion::Criterion;

const ACTIONS: i64 = 1_000_000;
const RUNS: i64 = 100_000;

const SQLITE_FILL: &str = "
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, job_id,
    status, error_message, source, request_duration_seconds)
SELECT printf('00000000-0000-7000-8000-%012x', i),
    CASE i % 10 WHEN 0 THEN 'data_collection_start' WHEN 1 THEN 'ticker_backfill'
        WHEN 2 THEN 'add_interval_job' WHEN 3 THEN 'add_cron_job' WHEN 4 THEN 'run_job_now'
        WHEN 5 THEN 'pause_job' WHEN 6 THEN 'resume_job' WHEN 7 THEN 'remove_job'
        WHEN 8 THEN 'job_execution' ELSE 'job_recovery' END,
    CASE WHEN i % 10 >= 8 THEN NULL ELSE 'user' || (i % 1000) END,
    strftime('%Y-%m-%dT%H:%M:%S', 'now', printf('-%d seconds', (i * 7919) % 518400))
        || printf('.%06dZ', i % 1000000),
    '{\"n\":' || i || '}',
    CASE WHEN i % 10 >= 8 THEN 'job_' || (i % 5) END,
    CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 10 = 1 THEN 'initiated' ELSE 'completed' END,
    CASE WHEN i % 20 = 0 THEN 'feed timed out' END,
    CASE WHEN i % 10 >= 8 THEN 'scheduled_job' ELSE 'ui_button' END,
    ((i * 31) % 2000) / 1000.0
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO job_executions (id, job_id, status, started_at, completed_at, duration_seconds,
    error_message, logs, metadata)
SELECT printf('00000000-0000-7000-9000-%012x', i), 'job_' || (i % 5),
    CASE WHEN i % 50 < 4 THEN 'failed' WHEN i % 50 = 4 THEN 'cancelled' ELSE 'success' END,
    strftime('%Y-%m-%dT%H:%M:%S', 'now', printf('-%d seconds', (i * 7919) % 518400))
        || printf('.%06dZ', i % 1000000),
    NULL, ((i * 37) % 5000) / 1000.0,
    CASE WHEN i % 50 < 4 THEN 'feed down' END, 'job started', '{}'
FROM n;
INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, next_scheduled_run)
SELECT 'job_' || value, 'job ' || value, 'interval', '60', '2999-01-01T00:00:00.000000Z'
FROM json_each('[0,1,2,3,4]');
ANALYZE;";

const PG_FILL: &str = "
INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, job_id,
    status, error_message, source, request_duration_seconds)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
    (ARRAY['data_collection_start', 'ticker_backfill', 'add_interval_job', 'add_cron_job',
        'run_job_now', 'pause_job', 'resume_job', 'remove_job', 'job_execution',
        'job_recovery'])[i % 10 + 1],
    CASE WHEN i % 10 >= 8 THEN NULL ELSE 'user' || (i % 1000) END,
    date_trunc('second', now()) - ((i * 7919) % 518400) * interval '1 second'
        + (i % 1000000) * interval '1 microsecond',
    jsonb_build_object('n', i),
    CASE WHEN i % 10 >= 8 THEN 'job_' || (i % 5) END,
    CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 10 = 1 THEN 'initiated' ELSE 'completed' END,
    CASE WHEN i % 20 = 0 THEN 'feed timed out' END,
    CASE WHEN i % 10 >= 8 THEN 'scheduled_job' ELSE 'ui_button' END,
    ((i * 31) % 2000) / 1000.0
FROM generate_series(0::bigint, 999999) i;
INSERT INTO job_executions (id, job_id, status, started_at, duration_seconds, error_message, logs, metadata)
SELECT ('00000000-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, 'job_' || (i % 5),
    CASE WHEN i % 50 < 4 THEN 'failed' WHEN i % 50 = 4 THEN 'cancelled' ELSE 'success' END,
    date_trunc('second', now()) - ((i * 7919) % 518400) * interval '1 second'
        + (i % 1000000) * interval '1 microsecond',
    ((i * 37) % 5000) / 1000.0, CASE WHEN i % 50 < 4 THEN 'feed down' END, 'job started', '{}'
FROM generate_series(0::bigint, 99999) i;
INSERT INTO scheduled_jobs (job_id, job_name, schedule_type, schedule_value, next_scheduled_run)
SELECT 'job_' || i, 'job ' || i, 'interval', '60', '2999-01-01' FROM generate_series(0, 4) i;";

/// The reference analytics queries ("Log Querying Examples" and the job success rate) over the
/// last 7 days, in PostgreSQL; SQLite spells `NOW() - INTERVAL` its own way.
const SEED_STATS: [&str; 4] = [
    "SELECT action_type, status, COUNT(*) as count FROM action_logs
     WHERE action_timestamp >= NOW() - INTERVAL '7 days' GROUP BY action_type, status ORDER BY count DESC",
    "SELECT user_id, COUNT(*) as action_count, COUNT(DISTINCT action_type) as unique_actions
     FROM action_logs WHERE action_timestamp >= NOW() - INTERVAL '7 days'
     GROUP BY user_id ORDER BY action_count DESC",
    "SELECT * FROM action_logs WHERE status = 'failed' AND action_timestamp >= NOW() - INTERVAL '7 days'
     ORDER BY action_timestamp DESC",
    "SELECT job_id, COUNT(*) as total, SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as successes,
     ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
     FROM job_executions WHERE started_at >= NOW() - INTERVAL '7 days' GROUP BY job_id",
];
const SEED_FIRST_PAGE: &str = "SELECT * FROM action_logs ORDER BY action_timestamp DESC LIMIT 50";

/// The reference `NOW() - INTERVAL '7 days'` in SQLite: a parameter holding that time, computed
/// once (SQLite would evaluate `strftime('now', …)` again for every row).
fn sqlite_sql(s: &str) -> String {
    s.replace("NOW() - INTERVAL '7 days'", "?1")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn opts() -> Options {
    Options {
        statement_timeout: Duration::from_secs(120),
        ..Options::default()
    }
}

fn range() -> Filter {
    let mut f = Filter::new(Entity::Actions);
    f.since = Some(parse_time("7d", chrono::Utc::now()).unwrap());
    f
}

fn first_page() -> PageQuery {
    PageQuery {
        filter: Filter::new(Entity::Actions),
        limit: 50,
        before: None,
    }
}

/// The SQLite store, built when missing or of the wrong size (also used by `benches/web.rs`).
pub(crate) fn sqlite_store() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-query");
    let db = dir.join("actions.db");
    let count = |db: &PathBuf| -> Option<(i64, i64)> {
        let c =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        c.query_row(
            "SELECT (SELECT count(*) FROM action_logs), (SELECT count(*) FROM job_executions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    if count(&db) != Some((ACTIONS, RUNS)) {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("building {} …", db.display());
        drop(actionlog::sink::SqliteSink::open(&db).unwrap());
        let c = rusqlite::Connection::open(&db).unwrap();
        let t = std::time::Instant::now();
        // Through the sink's rollup triggers, one row at a time as the sink writes.
        c.execute_batch(SQLITE_FILL).unwrap();
        eprintln!("filled in {:?} (rollup triggers on)", t.elapsed());
    }
    // A store made before the rollups gets them (filled from its rows) on the sink's open.
    let t = std::time::Instant::now();
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    eprintln!("sink open (rollups made if missing) in {:?}", t.elapsed());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    db
}

/// Page 1 000 of 50 rows: the cursor of the 49 999th row, newest first.
fn deep_page(cursor: (String, String)) -> PageQuery {
    PageQuery {
        before: Some(Cursor {
            time: cursor.0,
            id: cursor.1,
        }),
        ..first_page()
    }
}

/// The SQL that finds the cursor of page 1 000 (run once, outside the measurement).
const DEEP_CURSOR: &str = "SELECT action_timestamp, id FROM action_logs \
    ORDER BY action_timestamp DESC, id DESC LIMIT 1 OFFSET 49999";

fn full_scan() -> Options {
    Options {
        use_rollups: false,
        ..opts()
    }
}

fn one_day() -> Filter {
    let mut f = Filter::new(Entity::Actions);
    f.since = Some(parse_time("1d", chrono::Utc::now()).unwrap());
    f
}

fn sqlite(c: &mut Criterion) {
    let db = sqlite_store();
    let rt = rt();
    let store = rt
        .block_on(Store::open(&Target::Sqlite(db.clone()), &opts()))
        .unwrap();
    let raw = rusqlite::Connection::open_with_flags(
        format!("file:{}?mode=ro&immutable=1", db.display()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    let run_raw = |sql: &str| {
        let mut st = raw.prepare_cached(&sqlite_sql(sql)).unwrap();
        let n = st.column_count();
        let since = chrono::Utc::now() - chrono::Duration::days(7);
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut rows = if st.parameter_count() == 1 {
            st.query([since]).unwrap()
        } else {
            st.query([]).unwrap()
        };
        let mut k = 0usize;
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                let _ = r.get_ref(i).unwrap();
            }
            k += 1;
        }
        k
    };
    let scan = rt
        .block_on(Store::open(&Target::Sqlite(db.clone()), &full_scan()))
        .unwrap();
    let cursor: (String, String) = raw
        .query_row(DEEP_CURSOR, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let mut g = c.benchmark_group("sqlite");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // The pages first. Measured after the full reads of 1 M rows on the other two
    // connections (the reference SQL, the scans), the store's connection re-read its pages on
    // every call (~11 `pread`s per first page by strace, 195-253 us instead of 57-93 us),
    // most likely because SQLite's page cache is one pool for all the connections of a
    // process (rusqlite builds it with SQLITE_ENABLE_MEMORY_MANAGEMENT). The command runs
    // one query per process, and the dashboard's overview reads rollups, not full scans.
    g.bench_function("actions_first_page", |b| {
        b.iter(|| rt.block_on(store.actions(&first_page())).unwrap())
    });
    g.bench_function("reference_sql_first_page", |b| {
        b.iter(|| run_raw(SEED_FIRST_PAGE))
    });
    // The same, keeping each value (owned), as any client of the rows must (PostgreSQL's
    // client always does: its rows arrive as owned buffers).
    g.bench_function("reference_sql_first_page_owned", |b| {
        b.iter(|| {
            let mut st = raw.prepare_cached(SEED_FIRST_PAGE).unwrap();
            let n = st.column_count();
            st.query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
        })
    });
    g.bench_function("actions_page_1000", |b| {
        b.iter(|| {
            rt.block_on(store.actions(&deep_page(cursor.clone())))
                .unwrap()
        })
    });
    g.bench_function("stats_7d", |b| {
        b.iter(|| rt.block_on(store.stats(&range())).unwrap())
    });
    g.bench_function("stats_1d", |b| {
        b.iter(|| rt.block_on(store.stats(&one_day())).unwrap())
    });
    g.bench_function("stats_7d_full_scan", |b| {
        b.iter(|| rt.block_on(scan.stats(&range())).unwrap())
    });
    g.bench_function("reference_sql_stats_7d", |b| {
        b.iter(|| SEED_STATS.iter().map(|s| run_raw(s)).sum::<usize>())
    });
    g.finish();
}

fn postgres(c: &mut Criterion) {
    let base = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let schema = &bench_schema();
    let rt = rt();
    let Ok((client, conn)) = rt.block_on(tokio_postgres::connect(&base, tokio_postgres::NoTls))
    else {
        eprintln!("SKIPPED postgres: {base} unreachable");
        return;
    };
    rt.spawn(async move {
        let _ = conn.await;
    });
    pg_store(&rt, &client, schema);
    let row = rt.block_on(client.query_one(DEEP_CURSOR, &[])).unwrap();
    let at: chrono::DateTime<chrono::Utc> = row.get(0);
    let id: uuid::Uuid = row.get(1);
    let cursor = (
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id.to_string(),
    );
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    let store = rt
        .block_on(Store::open(&Target::Postgres(url.clone()), &opts()))
        .unwrap();
    let scan = rt
        .block_on(Store::open(&Target::Postgres(url.clone()), &full_scan()))
        .unwrap();
    let run_raw = |sql: &str| rt.block_on(client.query(sql, &[])).unwrap().len();
    let mut g = c.benchmark_group("postgres");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("actions_first_page", |b| {
        b.iter(|| rt.block_on(store.actions(&first_page())).unwrap())
    });
    g.bench_function("reference_sql_first_page", |b| {
        b.iter(|| run_raw(SEED_FIRST_PAGE))
    });
    g.bench_function("actions_page_1000", |b| {
        b.iter(|| {
            rt.block_on(store.actions(&deep_page(cursor.clone())))
                .unwrap()
        })
    });
    g.bench_function("stats_7d", |b| {
        b.iter(|| rt.block_on(store.stats(&range())).unwrap())
    });
    g.bench_function("stats_1d", |b| {
        b.iter(|| rt.block_on(store.stats(&one_day())).unwrap())
    });
    g.bench_function("stats_7d_full_scan", |b| {
        b.iter(|| rt.block_on(scan.stats(&range())).unwrap())
    });
    g.bench_function("reference_sql_stats_7d", |b| {
        b.iter(|| SEED_STATS.iter().map(|s| run_raw(s)).sum::<usize>())
    });
    g.finish();
}

/// The PostgreSQL schema of the bench store: `ACTIONLOG_BENCH_SCHEMA`, default
/// `al_bench_query` (a name of one's own keeps two people's runs on one server apart).
pub(crate) fn bench_schema() -> String {
    std::env::var("ACTIONLOG_BENCH_SCHEMA").unwrap_or_else(|_| "al_bench_query".into())
}

/// Fills `schema` when missing or of the wrong size, and applies `migrations/0004_rollups.sql`
/// and `0005_hourly_rollups.sql` (which add and fill the rollups of a store made before them); leaves the search path on
/// `schema` (also used by `benches/web.rs`).
pub(crate) fn pg_store(
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
    schema: &str,
) {
    let counts = rt.block_on(client.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM {schema}.action_logs), (SELECT count(*) FROM {schema}.job_executions)"
        ),
        &[],
    ));
    let ok = counts.is_ok_and(|r| r.get::<_, i64>(0) == ACTIONS && r.get::<_, i64>(1) == RUNS);
    let m = |f: &str| {
        std::fs::read_to_string(format!("{}/migrations/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    if !ok {
        eprintln!("building schema {schema} …");
        rt.block_on(client.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema};
             {} {} {} {} {}",
            m("0001_action_logs.sql"),
            m("0002_jobs.sql"),
            m("0003_query.sql"),
            m("0004_rollups.sql"),
            m("0005_hourly_rollups.sql"),
        )))
        .unwrap();
        let t = std::time::Instant::now();
        rt.block_on(client.batch_execute(PG_FILL)).unwrap();
        eprintln!("filled in {:?} (rollup triggers on)", t.elapsed());
        for t in [
            "action_logs",
            "job_executions",
            "action_logs_daily_status",
            "action_logs_daily_users",
            "action_logs_daily_durations",
            "action_logs_hourly_status",
            "action_logs_hourly_failures",
        ] {
            rt.block_on(client.batch_execute(&format!("VACUUM ANALYZE {schema}.{t}")))
                .unwrap();
        }
    }
    rt.block_on(client.batch_execute(&format!("SET search_path TO {schema}")))
        .unwrap();
    // A store made before the rollups: the migrations add and fill them.
    for f in ["0004_rollups.sql", "0005_hourly_rollups.sql"] {
        let t = std::time::Instant::now();
        rt.block_on(client.batch_execute(&m(f))).unwrap();
        eprintln!("{f} in {:?}", t.elapsed());
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    sqlite(&mut c);
    postgres(&mut c);
    c.final_summary();
}
