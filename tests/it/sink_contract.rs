//! One contract, every store: the behaviours any [`Sink`] must have, run against SQLite, the
//! real PostgreSQL, and Supabase through the PostgREST double (PostgREST cannot be installed
//! here; `common::postgrest` enforces its documented protocol and writes into the real
//! PostgreSQL). Each check gets a fresh store.
//!
//! - a batch written twice is one row per id, and the second write changes nothing, not even
//!   `updated_at` (a replay is a no-op);
//! - a late `initiated` never overwrites a final status;
//! - NUL characters are cleaned (U+FFFD) everywhere, and a 1 MiB value is kept whole;
//! - a batch with one row the store refuses fails as `Rejected`, all or nothing, and through
//!   the pipeline the other rows land while the bad one is dead-lettered;
//! - a job run written twice is one row, kept as first written.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "supabase"))]

use crate::common;

use std::time::Duration;

use actionlog::sink::{FailureKind, Sink, SqliteSink, SupabaseSink};
use actionlog::{ActionRecord, JobExecution, ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};
use common::pg::TestDb;
use common::postgrest::Double;
use uuid::Uuid;

const KEY: &str = "contract-key";

/// A fresh store of one kind: makes sinks for it and reads its rows back as text.
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres(TestDb),
    Supabase(TestDb, Double),
}

impl Store {
    fn all(test: &str) -> Vec<Store> {
        let mut v = vec![Store::Sqlite(tempfile::tempdir().unwrap())];
        if let Some(db) = TestDb::new(&format!("{test}_pg")) {
            v.push(Store::Postgres(db));
        }
        if let Some(db) = TestDb::new(&format!("{test}_sb")) {
            for m in ["0001_action_logs.sql", "0002_jobs.sql"] {
                db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
            }
            let double = Double::start(&db.url, &db.schema, KEY);
            v.push(Store::Supabase(db, double));
        }
        v
    }

    fn name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
            Store::Supabase(..) => "supabase",
        }
    }

    fn sink(&self) -> Box<dyn Sink> {
        match self {
            Store::Sqlite(dir) => {
                Box::new(SqliteSink::open(dir.path().join("actions.db")).unwrap())
            }
            Store::Postgres(db) => Box::new(db.sink()),
            Store::Supabase(_, double) => Box::new(
                SupabaseSink::new(&double.url, KEY)
                    .unwrap()
                    .timeout(Duration::from_secs(5))
                    .unwrap(),
            ),
        }
    }

    /// `sql` (one text column per value) on the store.
    fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Store::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("actions.db")).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, Option<String>>(i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Store::Postgres(db) | Store::Supabase(db, _) => db
                .query(sql)
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, Option<String>>(i))
                        .collect()
                })
                .collect(),
        }
    }

    /// One text value.
    fn value(&self, sql: &str) -> Option<String> {
        self.rows(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    /// `updated_at` as text (the types differ by store).
    fn updated_at(&self, id: Uuid) -> Option<String> {
        let cast = if matches!(self, Store::Sqlite(_)) {
            ""
        } else {
            "::text"
        };
        self.value(&format!(
            "SELECT updated_at{cast} FROM action_logs WHERE id = '{id}'"
        ))
    }
}

fn write(sink: &mut dyn Sink, batch: &[ActionRecord]) -> Result<(), actionlog::sink::SinkError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(sink.write(&batch.to_vec().into()))
}

fn write_jobs(sink: &mut dyn Sink, batch: &[JobExecution]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(sink.write_jobs(&batch.to_vec().into()))
        .unwrap();
}

fn record(status: &str) -> ActionRecord {
    let mut r = ActionRecord::blank(Uuid::now_v7(), "contract");
    r.status = status.into();
    r.user_id = Some("ana".into());
    r
}

#[test]
fn a_replayed_batch_is_one_row_each_and_changes_nothing() {
    for store in Store::all("replay") {
        let mut sink = store.sink();
        let batch = vec![record("initiated"), record("completed")];
        write(&mut *sink, &batch).unwrap();
        let before: Vec<_> = batch.iter().map(|r| store.updated_at(r.id)).collect();
        assert!(before.iter().all(Option::is_some), "{}", store.name());
        let mut again = batch.clone();
        for r in &mut again {
            r.first_write = false;
        }
        write(&mut *sink, &again).unwrap();
        write(&mut *sink, &batch).unwrap();
        let after: Vec<_> = batch.iter().map(|r| store.updated_at(r.id)).collect();
        assert_eq!(before, after, "{}: a replay touched the rows", store.name());
        assert_eq!(
            store
                .value("SELECT CAST(COUNT(*) AS TEXT) FROM action_logs")
                .as_deref(),
            Some("2"),
            "{}",
            store.name()
        );
    }
}

#[test]
fn a_late_initiated_never_overwrites_a_final_status() {
    for store in Store::all("late") {
        let mut sink = store.sink();
        let done = record("completed");
        write(&mut *sink, std::slice::from_ref(&done)).unwrap();
        let mut late = done.clone();
        late.status = "initiated".into();
        late.first_write = false;
        late.result_message = Some("late".into());
        write(&mut *sink, &[late]).unwrap();
        let id = done.id;
        assert_eq!(
            store
                .value(&format!("SELECT status FROM action_logs WHERE id = '{id}'"))
                .as_deref(),
            Some("completed"),
            "{}",
            store.name()
        );
    }
}

#[test]
fn nul_is_cleaned_and_huge_values_are_kept_whole() {
    let big = "x".repeat(1 << 20);
    for store in Store::all("nul") {
        let mut sink = store.sink();
        let mut r = record("completed");
        r.result_message = Some("a\0b".into());
        r.user_id = Some("u\0".into());
        r.action_details.insert("k\0".into(), "v\0".into());
        r.action_details.insert("big".into(), big.clone().into());
        write(&mut *sink, std::slice::from_ref(&r)).unwrap();
        let id = r.id;
        let details = if matches!(store, Store::Sqlite(_)) {
            "json_extract(action_details, '$.big')"
        } else {
            "action_details->>'big'"
        };
        let get = "CAST(length(user_id) AS TEXT)";
        let row = &store.rows(&format!(
            "SELECT result_message, user_id, {get}, {details} FROM action_logs WHERE id = '{id}'"
        ))[0];
        let name = store.name();
        assert_eq!(row[0].as_deref(), Some("a\u{FFFD}b"), "{name}");
        assert_eq!(row[1].as_deref(), Some("u\u{FFFD}"), "{name}");
        assert_eq!(
            row[2].as_deref(),
            Some("2"),
            "{name}: length() must see the whole value"
        );
        assert_eq!(row[3].as_ref().map(String::len), Some(1 << 20), "{name}");
    }
}

#[test]
fn a_refused_row_fails_its_batch_and_the_pipeline_isolates_it() {
    for store in Store::all("reject") {
        let name = store.name();
        let mut sink = store.sink();
        let mut bad = record("completed");
        bad.action_type = "t".repeat(60); // longer than the column allows
        let mut bad_run = record("completed");
        bad_run.job_execution_id = Some("not-a-uuid".into());
        for bad in [bad, bad_run] {
            let e = write(&mut *sink, &[record("completed"), bad]).unwrap_err();
            assert_eq!(e.kind, FailureKind::Rejected, "{name}: {e}");
        }
        assert_eq!(
            store
                .value("SELECT CAST(COUNT(*) AS TEXT) FROM action_logs")
                .as_deref(),
            Some("0"),
            "{name}: all or nothing"
        );

        let dead = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
        let config = PipelineConfig::default()
            .no_spool()
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(200));
        let guard = with_actions(store.sink(), dead.path(), &clock, config, || {
            for i in 0..9 {
                tracing::info!(action_type = "contract", seq = i);
            }
            tracing::info!(action_type = "t".repeat(60).as_str(), seq = 9);
        });
        let s = guard.shutdown(Duration::from_secs(10)).stats;
        assert_accounted(&s);
        assert_eq!(
            (s.actions_delivered, s.actions_dead_lettered),
            (9, 1),
            "{name}: {s:?}"
        );
        assert_eq!(dead_letters(dead.path()).len(), 1, "{name}");
        assert_eq!(
            store
                .value("SELECT CAST(COUNT(*) AS TEXT) FROM action_logs")
                .as_deref(),
            Some("9"),
            "{name}"
        );
    }
}

#[test]
fn a_job_run_written_twice_is_one_row_kept_as_first_written() {
    for store in Store::all("jobs") {
        let mut sink = store.sink();
        let mut run = JobExecution::new(
            Uuid::now_v7(),
            "data_collection",
            "failed",
            chrono::Utc::now(),
        );
        run.error_message = Some("boom".into());
        run.logs = "line 1\nline 2".into();
        write_jobs(&mut *sink, std::slice::from_ref(&run));
        let mut again = run.clone();
        again.status = "success".into();
        write_jobs(&mut *sink, &[again]);
        let id = run.id;
        let row = &store.rows(&format!(
            "SELECT status, error_message, logs FROM job_executions WHERE id = '{id}'"
        ));
        assert_eq!(row.len(), 1, "{}", store.name());
        let want = ["failed", "boom", "line 1\nline 2"].map(|s| Some(s.to_owned()));
        assert_eq!(row[0], want, "{}", store.name());
    }
}
