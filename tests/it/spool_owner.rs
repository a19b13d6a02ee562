//! Spool segments record the store they are for: a second program on the same log directory
//! that writes elsewhere (a cron job on `actions.db` beside a PostgreSQL service) leaves the
//! other store's segments untouched, while the store they belong to replays them; segments
//! without a marker (earlier versions, sinks that name no target) belong to whoever opens them.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture, SqliteSink};
use actionlog::{ActionRecord, JobExecution, ManualClock, PipelineConfig};
use common::actions::{Down, assert_accounted, with_actions};

/// A store that says it is a PostgreSQL database; down, or (when `inner` is set) writing
/// through SQLite so that the test can count what it received.
struct Postgresish {
    inner: Option<SqliteSink>,
}

impl Sink for Postgresish {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn target(&self) -> String {
        "postgres://app@db.internal:5432/prod table public.action_logs".into()
    }
    fn write<'a>(&'a mut self, batch: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        match &mut self.inner {
            Some(s) => s.write(batch),
            None => Box::pin(std::future::ready(Err(SinkError::new(
                FailureKind::Transient,
                "connection refused",
            )))),
        }
    }
    fn write_jobs<'a>(
        &'a mut self,
        batch: &'a actionlog::sink::Batch<JobExecution>,
    ) -> SinkFuture<'a> {
        self.inner
            .as_mut()
            .expect("not used down")
            .write_jobs(batch)
    }
}

fn clock() -> ManualClock {
    ManualClock::at(common::utc("2026-03-01T12:00:00Z"))
}

fn segments(spool: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .map(|p| {
                    let bytes = std::fs::read(&p).unwrap();
                    (p, bytes)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Records `n` actions into a store that is down, so they end in the spool; returns its stats.
fn spool_into(sink: impl Sink, dir: &Path, n: u64) -> actionlog::Stats {
    let guard = with_actions(
        sink,
        &dir.join("dead-letter"),
        &clock(),
        PipelineConfig::default().spool_dir(dir.join("spool")),
        || {
            for i in 0..n {
                tracing::info!(action_type = "order", seq = i);
            }
        },
    );
    let s = guard.shutdown(Duration::from_millis(300)).stats;
    assert_accounted(&s);
    assert_eq!(s.actions_spooled, n, "{s:?}");
    s
}

/// Starts a pipeline on `sink` with the shared spool, lets it replay, stops it.
fn start(sink: impl Sink, dir: &Path) -> actionlog::Stats {
    let guard = with_actions(
        sink,
        &dir.join("dead-letter"),
        &clock(),
        PipelineConfig::default().spool_dir(dir.join("spool")),
        || {},
    );
    let s = guard.shutdown(Duration::from_secs(30)).stats;
    assert_accounted(&s);
    s
}

fn rows(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn another_store_leaves_the_segments_to_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    spool_into(Postgresish { inner: None }, dir.path(), 20);
    let before = segments(&spool);
    assert_eq!(before.len(), 1);
    let first = before[0].1.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(
        std::str::from_utf8(first).unwrap(),
        "# actionlog spool store=postgres postgres://app@db.internal:5432/prod table public.action_logs"
    );

    // The cron job: the SQLite file under the same log directory. It replays nothing and
    // deletes nothing.
    let cron_db = dir.path().join("actions.db");
    let s = start(SqliteSink::open(&cron_db).unwrap(), dir.path());
    assert_eq!(s.actions_replayed, 0, "{s:?}");
    assert_eq!(rows(&cron_db), 0);
    assert_eq!(
        segments(&spool),
        before,
        "another store's segment was touched"
    );

    // The service, back: its own segment is delivered, once, and removed.
    let service_db = dir.path().join("service.db");
    let s = start(
        Postgresish {
            inner: Some(SqliteSink::open(&service_db).unwrap()),
        },
        dir.path(),
    );
    assert_eq!((s.actions_replayed, s.actions_delivered), (20, 20), "{s:?}");
    assert_eq!(rows(&service_db), 20);
    assert!(segments(&spool).is_empty());
}

#[test]
fn unmarked_segments_belong_to_whoever_opens_them() {
    // `Down` names no target: its segments carry no marker, exactly as every segment did
    // before the marker existed.
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    spool_into(Down, dir.path(), 15);
    let segs = segments(&spool);
    assert_eq!(segs.len(), 1);
    assert!(
        !segs[0].1.starts_with(b"#"),
        "an unnamed store's segment is marked"
    );

    let db = dir.path().join("actions.db");
    let s = start(SqliteSink::open(&db).unwrap(), dir.path());
    assert_eq!((s.actions_replayed, s.actions_delivered), (15, 15), "{s:?}");
    assert_eq!(rows(&db), 15);
    assert!(segments(&spool).is_empty());
}

#[test]
fn sqlite_segments_are_marked_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let sink = SqliteSink::open(&db).unwrap();
    assert_eq!(
        sink.target(),
        format!(
            "{} table action_logs",
            std::fs::canonicalize(&db).unwrap().display()
        )
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_segments_name_the_database_never_the_password() {
    use actionlog::sink::PostgresSink;
    let set = PostgresSink::new("postgres://app:pw-SECRET@db:5432/prod")
        .unwrap()
        .schema("audit")
        .unwrap();
    let by_url = PostgresSink::new(
        "postgres://app:pw-SECRET@pooler:6432/prod?options=-c%20search_path%3Daudit",
    )
    .unwrap();
    assert_eq!(set.target(), "app@prod table audit.action_logs");
    // The same database through another address is the same store.
    assert_eq!(by_url.target(), set.target());
    assert!(!set.target().contains("SECRET"));
}
