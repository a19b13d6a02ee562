//! Configuration failures — a missing table (42P01 / PGRST205), a rejected key (401/403), a
//! wrong password (28P01) — follow a bounded policy: records go to the spool, and once it is at
//! its bound to the dead-letter file, never dropped while that has room; the store is retried
//! with its own long, capped backoff; once fixed, the next start delivers the spool.

use crate::common;

use std::path::Path;
use std::time::Duration;

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture, SqliteSink};
use actionlog::{ActionRecord, ManualClock, Overflow, PipelineConfig, Stats};
use common::actions::{assert_accounted, dead_letters, with_actions};

/// A store whose every write fails as a missing table does.
struct NoTable;

impl Sink for NoTable {
    fn name(&self) -> &'static str {
        "no-table"
    }
    fn write<'a>(&'a mut self, _: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Err(SinkError::new(
            FailureKind::Config,
            "relation \"action_logs\" does not exist (42P01)",
        ))))
    }
}

fn clock() -> ManualClock {
    ManualClock::at(common::utc("2026-03-01T12:00:00Z"))
}

/// A small channel, a spool whose first segment reaches its bound, and a `Block` overflow
/// long enough that only a worker that stopped taking records could make the caller drop one.
fn config(dir: &Path) -> PipelineConfig {
    PipelineConfig::default()
        .queue_capacity(20)
        .batch_size(5)
        .linger(Duration::from_millis(1))
        .overflow(Overflow::Block)
        .block_timeout(Duration::from_secs(5))
        .config_retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .spool_dir(dir.join("spool"))
        .spool_max_bytes(1)
}

fn run_against(sink: impl Sink, dir: &Path, n: u64) -> Stats {
    let guard = with_actions(
        sink,
        &dir.join("dead-letter"),
        &clock(),
        config(dir),
        || {
            for seq in 0..n {
                tracing::info!(action_type = "order", seq);
            }
        },
    );
    let s = guard.shutdown(Duration::from_millis(500)).stats;
    assert_accounted(&s);
    s
}

fn spooled_on_disk(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("spool"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
                .map(|e| {
                    std::fs::read_to_string(e.path())
                        .unwrap()
                        .lines()
                        .filter(|l| !l.starts_with('#'))
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn past_the_spool_bound_records_are_dead_lettered_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_against(NoTable, dir.path(), 200);
    assert_eq!(s.actions_recorded, 200);
    assert_eq!(s.actions_dropped, 0, "{s:?}");
    assert_eq!(s.actions_delivered, 0, "{s:?}");
    assert!(
        s.actions_spooled > 0 && s.actions_dead_lettered > 0,
        "{s:?}"
    );
    assert_eq!(spooled_on_disk(dir.path()) as u64, s.actions_spooled);
    let dead = dead_letters(&dir.path().join("dead-letter"));
    assert_eq!(dead.len() as u64, s.actions_dead_lettered);
    assert!(
        dead.iter()
            .any(|d| d["error"].as_str().unwrap().contains("42P01")),
        "the dead letters do not name the cause"
    );

    // Fixed: the next start delivers the spool.
    let db = dir.path().join("actions.db");
    let s2 = run_against(SqliteSink::open(&db).unwrap(), dir.path(), 0);
    assert_eq!(s2.actions_replayed, s.actions_spooled, "{s2:?}");
    assert_eq!(s2.actions_delivered, s.actions_spooled, "{s2:?}");
}

#[cfg(feature = "postgres")]
#[test]
fn a_missing_postgres_table_keeps_the_records_until_it_exists() {
    use actionlog::sink::PostgresSink;
    let Some(db) = common::pg::TestDb::new("config_failure") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // No migration: the schema is empty, so every write meets 42P01.
    let sink = PostgresSink::new(&db.url)
        .unwrap()
        .schema(&db.schema)
        .unwrap()
        .migrate(false);
    let s = run_against(sink, dir.path(), 60);
    assert_eq!((s.actions_dropped, s.actions_delivered), (0, 0), "{s:?}");
    assert_eq!(s.actions_spooled + s.actions_dead_lettered, 60, "{s:?}");

    // The table is created (the migrating sink): the spool lands, once each.
    let s2 = run_against(db.sink(), dir.path(), 0);
    assert_eq!(s2.actions_delivered, s.actions_spooled, "{s2:?}");
    assert_eq!(db.count("") as u64, s.actions_spooled);
    db.assert_no_duplicate_ids();
}
