//! The audit trail's store plumbing, through SQLite, PostgreSQL and Supabase (the PostgREST
//! double): records written by the real sinks and scanned back (`Store::scan_actions`,
//! `Store::scan_runs`) with every column as the store keeps it; keyset paging across equal
//! times (and under PostgREST's `max-rows`) giving every row exactly once; the signed digests
//! read back in order (`Store::digests`); `migrations/0007_audit.sql` run twice and applied by
//! the sink; a store without the digests' table (or the trace columns) still read.
//!
//! What each store keeps of a written record, as asserted here:
//! - all: NUL becomes U+FFFD (text columns, detail keys and values); times to the microsecond;
//! - durations to milliseconds, the exact value rounded half away from zero on every path
//!   (1.2345 is 1.23449999… in binary: 1.234, through COPY, the upsert and a job run alike);
//! - SQLite keeps the details' JSON text and an uppercase `job_execution_id` as written;
//!   PostgreSQL and Supabase keep `jsonb` (`-0.0` → `0.0`; `1e300`, `u64::MAX`, `i64::MIN` and
//!   `f64` values as they were) and a lowercase UUID.
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "supabase",
    feature = "query"
))]

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use actionlog::query::{Options, ScannedRun, Store, Target};
use actionlog::sink::{PostgresSink, Sink, SqliteSink, SupabaseSink};
use actionlog::{ActionRecord, JobExecution};
use chrono::{DateTime, TimeDelta, Utc};
use common::pg::TestDb;
use common::postgrest::Double;
use serde_json::{Map, Value, json};
use uuid::Uuid;

const KEY: &str = "audit-key";

/// One runtime for the whole module: a PostgreSQL store's connection lives on the runtime it
/// was opened on.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    &RT
}

fn write(sink: &mut dyn Sink, batch: &[ActionRecord]) {
    rt().block_on(sink.write(&batch.to_vec().into())).unwrap();
}

fn write_jobs(sink: &mut dyn Sink, batch: &[JobExecution]) {
    rt().block_on(sink.write_jobs(&batch.to_vec().into()))
        .unwrap();
}

fn open(target: &Target) -> Store {
    rt().block_on(Store::open(target, &Options::default()))
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Sqlite,
    Postgres,
    Supabase,
}

/// The fixture's base time: whole seconds, so each record's own microseconds are its offset.
fn base() -> DateTime<Utc> {
    common::utc("2026-03-01T10:00:00Z")
}

/// Every value the details carry, and NUL in a key and in values.
fn hostile_details() -> Map<String, Value> {
    let v = json!({
        "note": "a\0b",
        "ke\0y": "héllo 🌍 ✓ 日本",
        "big": 1e300,
        "negzero": -0.0,
        "max": u64::MAX,
        "min": i64::MIN,
        "pi": std::f64::consts::PI,
        "nested": {"k": [1, "x\0", null, true]},
    });
    v.as_object().unwrap().clone()
}

/// What was written, by kind.
struct Written {
    /// Every column set (NUL, unicode, extreme numbers, an uppercase job run id).
    rich: ActionRecord,
    /// The same duration through the upsert path (not a first write).
    upserted: ActionRecord,
    /// Only the required columns.
    bare: ActionRecord,
    /// Many actions, most at one shared time.
    same_time: Vec<ActionRecord>,
    /// A run with every column set.
    run: JobExecution,
    /// A run whose `logs` the test then sets to NULL.
    logs_null: JobExecution,
    /// A run with empty logs (kept as an empty text).
    logs_empty: JobExecution,
    /// Many runs at one time.
    same_runs: Vec<JobExecution>,
}

fn fixture() -> Written {
    let t = base();
    let mut rich = ActionRecord::blank(Uuid::now_v7(), "export\0✓");
    rich.action_timestamp = t + TimeDelta::microseconds(123_456);
    rich.user_id = Some("ユーザー\0 1".into());
    rich.action_details = hostile_details();
    rich.job_id = Some("nightly".into());
    rich.job_execution_id = Some("0190A5B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B".into());
    rich.status = "completed".into();
    rich.result_message = Some("done\0!".into());
    rich.error_message = Some("warn: ½".into());
    rich.source = Some("api".into());
    rich.ip_address = Some("2001:db8::1".into());
    rich.user_agent = Some("Mozilla/5.0 (X11) ✓".into());
    rich.request_duration_seconds = Some(1.2345);
    rich.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    rich.span_id = Some("00f067aa0ba902b7".into());

    let mut upserted = ActionRecord::blank(Uuid::now_v7(), "import");
    upserted.action_timestamp = t + TimeDelta::microseconds(1);
    upserted.status = "failed".into();
    upserted.request_duration_seconds = Some(1.2345);
    upserted.first_write = false;

    let mut bare = ActionRecord::blank(Uuid::now_v7(), "ping");
    bare.action_timestamp = t + TimeDelta::microseconds(999_999);

    // 25 at one time (random ids: their order is not their writing order), 6 one
    // microsecond later, 4 one second earlier.
    let shared = t + TimeDelta::seconds(5);
    let mut same_time = Vec::new();
    for (n, at) in [
        (25, shared),
        (6, shared + TimeDelta::microseconds(1)),
        (4, t - TimeDelta::seconds(1)),
    ] {
        for _ in 0..n {
            let mut r = ActionRecord::blank(random_id(), "tick");
            r.action_timestamp = at;
            r.status = "completed".into();
            same_time.push(r);
        }
    }

    let mut run = JobExecution::new(
        Uuid::now_v7(),
        "nightly\0",
        "failed",
        t + TimeDelta::microseconds(7),
    );
    run.completed_at = Some(t + TimeDelta::microseconds(1_234_567_891));
    run.duration_seconds = Some(1.2345);
    run.error_message = Some("boom\0 ✗".into());
    run.logs = "line 1\nline\0 2 ✓\n".into();
    run.metadata = hostile_details();
    run.trace_id = Some("0af7651916cd43dd8448eb211c80319c".into());
    run.span_id = Some("b7ad6b7169203331".into());
    let logs_null = JobExecution::new(
        Uuid::now_v7(),
        "sync",
        "success",
        t + TimeDelta::microseconds(8),
    );
    let logs_empty = JobExecution::new(
        Uuid::now_v7(),
        "sync",
        "success",
        t + TimeDelta::microseconds(9),
    );
    let same_runs = (0..12)
        .map(|_| JobExecution::new(random_id(), "batch", "success", t + TimeDelta::seconds(3)))
        .collect();
    Written {
        rich,
        upserted,
        bare,
        same_time,
        run,
        logs_null,
        logs_empty,
        same_runs,
    }
}

/// An id whose order is unrelated to when it was made (unlike UUID v7).
fn random_id() -> Uuid {
    Uuid::from_u128(fastrand::u128(..))
}

fn write_fixture(sink: &mut dyn Sink, w: &Written) {
    write(sink, &[w.rich.clone(), w.bare.clone()]);
    write(sink, std::slice::from_ref(&w.upserted));
    for chunk in w.same_time.chunks(9) {
        write(sink, chunk);
    }
    write_jobs(
        sink,
        &[w.run.clone(), w.logs_null.clone(), w.logs_empty.clone()],
    );
    write_jobs(sink, &w.same_runs);
}

fn nul_free(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// A JSON value as a store keeps it: NUL replaced everywhere; through `jsonb` (PostgreSQL,
/// Supabase) numbers become NUMERIC, which has no negative zero.
fn kept_value(v: &Value, jsonb: bool) -> Value {
    match v {
        Value::String(s) => Value::String(nul_free(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| kept_value(x, jsonb)).collect()),
        Value::Object(m) => Value::Object(kept_map(m, jsonb)),
        Value::Number(n) if jsonb && n.as_f64() == Some(0.0) && n.is_f64() => json!(0.0),
        other => other.clone(),
    }
}

fn kept_map(m: &Map<String, Value>, jsonb: bool) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (nul_free(k), kept_value(v, jsonb)))
        .collect()
}

fn kept_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(nul_free)
}

/// The record as `flavor` keeps it, with the duration it stores.
fn kept_action(w: &ActionRecord, flavor: Flavor, duration: Option<f64>) -> ActionRecord {
    let jsonb = flavor != Flavor::Sqlite;
    let mut e = w.clone();
    e.first_write = false;
    e.action_type = nul_free(&w.action_type);
    e.status = nul_free(&w.status);
    for (out, v) in [
        (&mut e.user_id, &w.user_id),
        (&mut e.job_id, &w.job_id),
        (&mut e.result_message, &w.result_message),
        (&mut e.error_message, &w.error_message),
        (&mut e.source, &w.source),
        (&mut e.ip_address, &w.ip_address),
        (&mut e.user_agent, &w.user_agent),
    ] {
        *out = kept_opt(v);
    }
    e.action_details = kept_map(&w.action_details, jsonb);
    if jsonb {
        e.job_execution_id = w.job_execution_id.as_deref().map(str::to_ascii_lowercase);
    }
    e.request_duration_seconds = duration;
    e
}

fn kept_run(w: &JobExecution, flavor: Flavor) -> JobExecution {
    let mut e = w.clone();
    e.job_id = nul_free(&w.job_id);
    e.status = nul_free(&w.status);
    e.error_message = kept_opt(&w.error_message);
    e.logs = nul_free(&w.logs);
    e.metadata = kept_map(&w.metadata, flavor != Flavor::Sqlite);
    // The fixture's one run duration, 1.2345 (1.23449999… in binary): 1.234 in every store.
    assert!(w.duration_seconds.is_none_or(|d| d == 1.2345));
    e.duration_seconds = w.duration_seconds.map(|_| 1.234);
    e
}

/// Every action from `from` on, in pages of `page`; each page but the last is full.
fn scan_actions(store: &Store, from: Option<DateTime<Utc>>, page: usize) -> Vec<ActionRecord> {
    let mut out: Vec<ActionRecord> = Vec::new();
    let mut after = None;
    loop {
        let got = rt()
            .block_on(store.scan_actions(from, after, page))
            .unwrap();
        assert!(got.len() <= page);
        let full = got.len() == page;
        out.extend(got);
        match out.last() {
            Some(last) if full => after = Some((last.action_timestamp, last.id)),
            _ => return out,
        }
    }
}

fn scan_runs(store: &Store, from: Option<DateTime<Utc>>, page: usize) -> Vec<ScannedRun> {
    let mut out: Vec<ScannedRun> = Vec::new();
    let mut after = None;
    loop {
        let got = rt().block_on(store.scan_runs(from, after, page)).unwrap();
        assert!(got.len() <= page);
        let full = got.len() == page;
        out.extend(got);
        match out.last() {
            Some(last) if full => after = Some((last.run.started_at, last.run.id)),
            _ => return out,
        }
    }
}

fn details_text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap()
}

/// Everything the scans must give of the fixture in `flavor`'s store (`exec` runs SQL in it).
fn assert_scans(store: &Store, w: &Written, flavor: Flavor, exec: &dyn Fn(&str)) {
    let name = format!("{flavor:?}");
    exec(&format!(
        "UPDATE job_executions SET logs = NULL WHERE id = '{}'",
        w.logs_null.id
    ));

    // Every action once, in (time, id) order, whatever the page size.
    let mut written: Vec<&ActionRecord> = [&w.rich, &w.upserted, &w.bare]
        .into_iter()
        .chain(&w.same_time)
        .collect();
    written.sort_by_key(|r| (r.action_timestamp, r.id));
    for page in [1, 7, 10_000] {
        let got = scan_actions(store, None, page);
        let keys: Vec<(DateTime<Utc>, Uuid)> =
            got.iter().map(|r| (r.action_timestamp, r.id)).collect();
        let want: Vec<(DateTime<Utc>, Uuid)> =
            written.iter().map(|r| (r.action_timestamp, r.id)).collect();
        assert_eq!(keys, want, "{name}: page size {page}");
    }
    // From a time on: the rows at that time and later only.
    let shared = base() + TimeDelta::seconds(5);
    let later = scan_actions(store, Some(shared), 4);
    assert_eq!(later.len(), 31, "{name}");
    assert!(later.iter().all(|r| r.action_timestamp >= shared), "{name}");
    assert!(
        rt().block_on(store.scan_actions(None, None, 0))
            .unwrap()
            .is_empty()
    );

    // Every column as the store keeps it.
    let all = scan_actions(store, None, 10_000);
    let find = |id: Uuid| all.iter().find(|r| r.id == id).unwrap().clone();
    let rich = find(w.rich.id);
    let want = kept_action(&w.rich, flavor, Some(1.234));
    assert_eq!(rich, want, "{name}");
    assert_eq!(
        details_text(&rich.action_details),
        details_text(&want.action_details),
        "{name}: the details' exact numbers"
    );
    match flavor {
        Flavor::Sqlite => {
            assert!(details_text(&rich.action_details).contains("\"negzero\":-0.0"));
            assert_eq!(
                rich.job_execution_id.as_deref(),
                Some("0190A5B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B")
            );
        }
        _ => {
            assert!(details_text(&rich.action_details).contains("\"negzero\":0.0"));
            assert_eq!(
                rich.job_execution_id.as_deref(),
                Some("0190a5b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
            );
        }
    }
    assert_eq!(
        rich.action_details["max"].as_u64(),
        Some(u64::MAX),
        "{name}"
    );
    assert_eq!(rich.action_details["big"].as_f64(), Some(1e300), "{name}");
    assert_eq!(rich.action_details["note"], "a\u{FFFD}b", "{name}");
    assert!(!rich.first_write);
    assert_eq!(
        find(w.upserted.id),
        kept_action(&w.upserted, flavor, Some(1.234)),
        "{name}: the upsert path's duration"
    );
    assert_eq!(
        find(w.bare.id),
        kept_action(&w.bare, flavor, None),
        "{name}"
    );
    for r in &w.same_time {
        assert_eq!(find(r.id), kept_action(r, flavor, None), "{name}");
    }

    // Runs: every one once, in (started_at, id) order, every column as kept.
    let mut runs: Vec<&JobExecution> = [&w.run, &w.logs_null, &w.logs_empty]
        .into_iter()
        .chain(&w.same_runs)
        .collect();
    runs.sort_by_key(|r| (r.started_at, r.id));
    for page in [1, 5, 10_000] {
        let got = scan_runs(store, None, page);
        let ids: Vec<Uuid> = got.iter().map(|r| r.run.id).collect();
        let want: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
        assert_eq!(ids, want, "{name}: runs, page size {page}");
    }
    let got = scan_runs(store, None, 10_000);
    let find = |id: Uuid| got.iter().find(|r| r.run.id == id).unwrap().clone();
    let run = find(w.run.id);
    assert_eq!(run.run, kept_run(&w.run, flavor), "{name}");
    assert_eq!(
        details_text(&run.run.metadata),
        details_text(&kept_run(&w.run, flavor).metadata),
        "{name}"
    );
    assert!(!run.logs_null);
    let null = find(w.logs_null.id);
    assert!(null.logs_null, "{name}: NULL logs");
    assert_eq!(null.run, kept_run(&w.logs_null, flavor), "{name}");
    let empty = find(w.logs_empty.id);
    assert!(!empty.logs_null, "{name}: empty logs are not NULL");
    assert_eq!(empty.run.logs, "");
    let from = base() + TimeDelta::seconds(3);
    assert_eq!(scan_runs(store, Some(from), 5).len(), 12, "{name}");
}

/// The digests as `exec` inserts them (in no order) and as `digests` must return them.
fn assert_digests(store: &Store, flavor: Flavor, exec: &dyn Fn(&str)) {
    let name = format!("{flavor:?}");
    assert_eq!(
        rt().block_on(store.digests(None)).unwrap(),
        Some(Vec::new()),
        "{name}: a table without digests"
    );
    exec(
        "INSERT INTO audit_digests (writer, seq, made_at, kind, digest) VALUES \
         ('b', 1, '2026-01-01T00:00:01.000000Z', 'rows', 'b1'), \
         ('B', 2, '2026-01-01T00:00:02.000000Z', 'idle', 'B2'), \
         ('a', 10, '2026-01-01T00:00:03.000000Z', 'rows', 'a10'), \
         ('a', 9, '2026-01-01T00:00:04.000000Z', 'rows', 'a9'), \
         ('ab', 1, '2026-01-01T00:00:05.000000Z', 'prune', '{\"sig\":\"ü\\u0000\",\"n\":1e3}'), \
         ('a-b', 1, '2026-01-01T00:00:03.000001Z', 'close', 'a-b1')",
    );
    let exact = "{\"sig\":\"ü\\u0000\",\"n\":1e3}";
    assert_eq!(
        rt().block_on(store.digests(None)).unwrap(),
        Some(vec![
            "B2".into(),
            "a9".into(),
            "a10".into(),
            "a-b1".into(),
            exact.into(),
            "b1".into()
        ]),
        "{name}"
    );
    assert_eq!(
        rt().block_on(store.digests(Some(common::utc("2026-01-01T00:00:03Z"))))
            .unwrap(),
        Some(vec!["a9".into(), "a10".into(), "a-b1".into(), exact.into()]),
        "{name}: made at or after"
    );
}

#[test]
fn sqlite_scans_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.db");
    let w = fixture();
    let mut sink = SqliteSink::open(&path).unwrap();
    write_fixture(&mut sink, &w);
    drop(sink);
    // A writer's connection open throughout, as an app's would be: the store is then read
    // through the WAL and sees what `exec` commits (without one it is opened immutable).
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .query_row("SELECT COUNT(*) FROM action_logs", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    let exec = |sql: &str| writer.execute_batch(sql).unwrap();
    let store = open(&Target::Sqlite(path.clone()));
    assert_scans(&store, &w, Flavor::Sqlite, &exec);
    assert_digests(&store, Flavor::Sqlite, &exec);
}

#[test]
fn postgres_scans_and_digests() {
    let Some(db) = TestDb::new("audit_pg") else {
        return;
    };
    let w = fixture();
    write_fixture(&mut db.sink(), &w);
    let exec = |sql: &str| db.exec(&format!("SET search_path TO {}; {sql}", db.schema));
    let store = open(&db.query_target());
    assert_scans(&store, &w, Flavor::Postgres, &exec);
    assert_digests(&store, Flavor::Postgres, &exec);
}

#[test]
fn supabase_scans_and_digests_under_max_rows() {
    let Some(db) = TestDb::new("audit_sb") else {
        return;
    };
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0006_trace_context.sql",
        "0007_audit.sql",
    ]);
    let double = Double::start(&db.url, &db.schema, KEY);
    let mut sink = SupabaseSink::new(&double.url, KEY)
        .unwrap()
        .timeout(Duration::from_secs(5))
        .unwrap();
    let w = fixture();
    write_fixture(&mut sink, &w);
    // Fewer rows per answer than any page asks for: a scan's pages and the digests are still
    // whole.
    double.max_rows(3);
    let exec = |sql: &str| db.exec(&format!("SET search_path TO {}; {sql}", db.schema));
    let store = open(&Target::Supabase {
        url: double.url.clone(),
        key: KEY.into(),
    });
    assert_scans(&store, &w, Flavor::Supabase, &exec);
    assert_digests(&store, Flavor::Supabase, &exec);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}

/// An older store: without `audit_digests` (and, for PostgreSQL and Supabase, without the
/// trace columns). The digests are `None`, not an error and not an empty list; the scans read
/// it, the trace ids `None`.
#[test]
fn a_store_without_the_digests_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let mut r = ActionRecord::blank(Uuid::now_v7(), "old");
    r.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    write(&mut sink, std::slice::from_ref(&r));
    drop(sink);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE audit_digests")
        .unwrap();
    let store = open(&Target::Sqlite(path.clone()));
    assert_eq!(rt().block_on(store.digests(None)).unwrap(), None);
    assert_eq!(scan_actions(&store, None, 10).len(), 1);
    // Opening it to write gives it the table again.
    drop(SqliteSink::open(&path).unwrap());
    let store = open(&Target::Sqlite(path));
    assert_eq!(
        rt().block_on(store.digests(None)).unwrap(),
        Some(Vec::new())
    );

    let Some(db) = TestDb::new("audit_old") else {
        return;
    };
    db.migrate(&["0001_action_logs.sql", "0002_jobs.sql"]);
    let mut sink = PostgresSink::new(&db.url)
        .unwrap()
        .schema(&db.schema)
        .unwrap()
        .connect_timeout(Duration::from_secs(2));
    write(&mut sink, std::slice::from_ref(&r));
    let double = Double::start(&db.url, &db.schema, KEY);
    for target in [
        db.query_target(),
        Target::Supabase {
            url: double.url.clone(),
            key: KEY.into(),
        },
    ] {
        let store = open(&target);
        assert_eq!(
            rt().block_on(store.digests(None)).unwrap(),
            None,
            "{target:?}"
        );
        let got = scan_actions(&store, None, 10);
        assert_eq!(got.len(), 1, "{target:?}");
        assert_eq!(
            (got[0].id, got[0].trace_id.clone()),
            (r.id, None),
            "{target:?}"
        );
    }
}

#[test]
fn the_migration_runs_twice_and_the_sink_applies_it() {
    let Some(db) = TestDb::new("audit_migrate") else {
        return;
    };
    db.migrate(&["0007_audit.sql", "0007_audit.sql"]);
    let columns = "SELECT column_name || ' ' || data_type || ' ' || is_nullable \
        FROM information_schema.columns WHERE table_schema = current_schema() \
        AND table_name = 'audit_digests' ORDER BY ordinal_position";
    let want = [
        "writer character varying NO",
        "seq bigint NO",
        "made_at timestamp with time zone NO",
        "kind character varying NO",
        "digest text NO",
    ];
    assert_eq!(db.psql_rows(columns), want);
    assert_eq!(
        db.psql_rows(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = 'audit_digests' ORDER BY 1"
        ),
        ["audit_digests_pkey", "idx_audit_digests_made_at"]
    );

    let Some(fresh) = TestDb::new("audit_sink") else {
        return;
    };
    write(
        &mut fresh.sink(),
        &[ActionRecord::blank(Uuid::now_v7(), "x")],
    );
    assert_eq!(fresh.psql_rows(columns), want, "the sink's migration");
}

/// Not a test: fills a SQLite store with 1 M actions and times one scan of them in pages of
/// 10 000 (`cargo test --release --features query,sqlite,postgres,supabase --test it
/// audit_store::scan_speed -- --ignored --nocapture`).
#[test]
#[ignore]
fn scan_speed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.db");
    drop(SqliteSink::open(&path).unwrap());
    fill(&path, 1_000_000);
    let store = open(&Target::Sqlite(path));
    let started = std::time::Instant::now();
    let (mut n, mut after, mut bytes) = (0, None, 0);
    loop {
        let page = rt()
            .block_on(store.scan_actions(None, after, 10_000))
            .unwrap();
        n += page.len();
        bytes += page.iter().map(|r| r.action_details.len()).sum::<usize>();
        match page.last() {
            Some(last) if page.len() == 10_000 => after = Some((last.action_timestamp, last.id)),
            _ => break,
        }
    }
    eprintln!(
        "scanned {n} actions ({bytes} details) in {:?}",
        started.elapsed()
    );
    assert_eq!(n, 1_000_000);
}

/// `n` actions as the sink writes them (details, a job run id, durations, trace ids), put in
/// with one statement per 10 000.
fn fill(path: &Path, n: usize) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, \
                 job_id, job_execution_id, status, result_message, source, ip_address, user_agent, \
                 request_duration_seconds, trace_id, span_id) \
                 VALUES (?1, 'data_export', ?2, ?3, ?4, 'nightly', ?5, 'completed', 'ok', 'api', \
                 '203.0.113.7', 'Mozilla/5.0', ?6, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')",
            )
            .unwrap();
        let t = base();
        let mut seen = HashSet::new();
        for i in 0..n {
            let id = Uuid::now_v7();
            assert!(seen.insert(id));
            let at = t + TimeDelta::microseconds((i / 3) as i64 * 1000);
            let details =
                json!({"request_id": format!("req-{i}"), "rows": i, "path": "/api/export"});
            st.execute(rusqlite::params![
                id.to_string(),
                format!("user-{}", i % 100),
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                details.to_string(),
                Uuid::now_v7().to_string(),
                (i % 5000) as f64 / 1000.0,
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}
