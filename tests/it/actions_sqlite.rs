//! Action records into the embedded SQLite store: the lifecycle of action spans, one-shot
//! events, `#[instrument(err)]`, column inheritance, merging, idempotent replay, dead letters.

use crate::common;

use actionlog::sink::SqliteSink;
use actionlog::{ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};
use common::utc;
use common::wrap::Wrap;
use rusqlite::Connection;
use serde_json::Value;

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Self {
        Db {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("actions.db")
    }
    fn sink(&self) -> SqliteSink {
        SqliteSink::open(self.path()).unwrap()
    }
    fn dead(&self) -> std::path::PathBuf {
        self.dir.path().join("dead-letter")
    }
    /// Rows as JSON objects, ordered by action_timestamp then id.
    fn rows(&self, filter: &str) -> Vec<Value> {
        let c = Connection::open(self.path()).unwrap();
        let sql = format!(
            "SELECT json_object('id', id, 'action_type', action_type, 'user_id', user_id, 'status', status,
              'details', json(action_details), 'job_id', job_id, 'job_execution_id', job_execution_id,
              'result_message', result_message, 'error_message', error_message, 'source', source,
              'ip_address', ip_address, 'user_agent', user_agent, 'duration', request_duration_seconds,
              'action_timestamp', action_timestamp, 'updated_at', updated_at)
             FROM action_logs {filter} ORDER BY action_timestamp, id"
        );
        let mut stmt = c.prepare(&sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|s| serde_json::from_str(&s.unwrap()).unwrap())
            .collect()
    }
}

fn clock() -> ManualClock {
    ManualClock::at(utc("2025-11-03T14:30:45Z"))
}

#[test]
fn span_action_initiated_then_completed_is_one_row() {
    let db = Db::new();
    let clock = clock();
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            let span = tracing::info_span!(
                "start_collection",
                action_type = "data_collection_start",
                user_id = "ana@example.com",
                source = "ui_button",
                lookback_days = 30,
                us_congress = true,
                result_message = tracing::field::Empty,
            );
            let _e = span.enter();
            clock.advance(chrono::Duration::milliseconds(1500));
            span.record("result_message", "42 disclosures");
        },
    );
    assert!(guard.flush());
    let rows = db.rows("");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["action_type"], "data_collection_start");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["user_id"], "ana@example.com");
    assert_eq!(r["source"], "ui_button");
    assert_eq!(r["result_message"], "42 disclosures");
    assert_eq!(
        r["details"],
        serde_json::json!({"lookback_days": 30, "us_congress": true})
    );
    assert_eq!(r["duration"], 1.5);
    assert_eq!(r["action_timestamp"], "2025-11-03T14:30:45.000000Z");
    let stats = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    assert_eq!((stats.actions_recorded, stats.actions_delivered), (2, 2));
}

#[test]
fn initiated_row_is_visible_while_the_action_runs() {
    let db = Db::new();
    let clock = clock();
    let dead = db.dead();
    let (layer, guard) = actionlog::ActionLayer::builder(db.sink())
        .pipeline(PipelineConfig::default().no_spool().dead_letter_dir(&dead))
        .clock(clock.clone())
        .build()
        .unwrap();
    use tracing_subscriber::prelude::*;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("backfill", action_type = "ticker_backfill");
        assert!(guard.flush());
        assert_eq!(db.rows("")[0]["status"], "initiated");
        drop(span);
        assert!(guard.flush());
        assert_eq!(db.rows("")[0]["status"], "completed");
    });
}

#[test]
fn failures_from_error_events_status_and_error_fields() {
    let db = Db::new();
    let clock = clock();
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            tracing::info_span!("a", action_type = "by_error_event").in_scope(|| {
                tracing::info!("fine so far");
                tracing::error!(retries = 3, "upstream returned 503");
            });
            tracing::info_span!(
                "b",
                action_type = "by_status_field",
                status = tracing::field::Empty
            )
            .in_scope(|| {
                tracing::Span::current().record("status", "failed");
            });
            tracing::info_span!(
                "c",
                action_type = "by_error_field",
                error = tracing::field::Empty
            )
            .in_scope(|| {
                tracing::Span::current().record("error", "disk quota exceeded");
            });
            tracing::info_span!(
                "d",
                action_type = "cancelled_job",
                status = tracing::field::Empty
            )
            .in_scope(|| {
                tracing::Span::current().record("status", "cancelled");
            });
        },
    );
    assert!(guard.flush());
    let rows = db.rows("");
    let by_type = |t: &str| rows.iter().find(|r| r["action_type"] == t).unwrap().clone();
    let a = by_type("by_error_event");
    assert_eq!(
        (a["status"].as_str(), a["error_message"].as_str()),
        (Some("failed"), Some("upstream returned 503"))
    );
    assert_eq!(by_type("by_status_field")["status"], "failed");
    let c = by_type("by_error_field");
    assert_eq!(
        (c["status"].as_str(), c["error_message"].as_str()),
        (Some("failed"), Some("disk quota exceeded"))
    );
    assert_eq!(by_type("cancelled_job")["status"], "cancelled");
}

#[derive(Debug)]
struct FetchError(&'static str);
impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

#[tracing::instrument(err, fields(action_type = "run_job_now", job_id = %job))]
fn run_now(job: &str, fail: bool) -> Result<u32, FetchError> {
    if fail {
        Err(FetchError("senate feed unreachable"))
    } else {
        Ok(7)
    }
}

#[test]
fn instrument_err_marks_the_action_failed() {
    let db = Db::new();
    let clock = clock();
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            let _ = run_now("data_collection", true);
            let _ = run_now("ticker_backfill", false);
        },
    );
    assert!(guard.flush());
    let rows = db.rows("");
    let failed = rows
        .iter()
        .find(|r| r["job_id"] == "data_collection")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_message"], "senate feed unreachable");
    assert_eq!(failed["details"]["job"], "data_collection");
    let ok = rows
        .iter()
        .find(|r| r["job_id"] == "ticker_backfill")
        .unwrap();
    assert_eq!(ok["status"], "completed");
}

#[test]
fn one_shot_events_and_inherited_columns() {
    let db = Db::new();
    let clock = clock();
    let exec = uuid::Uuid::now_v7().to_string();
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            tracing::info!(
                action_type = "data_collection_start",
                status = "initiated",
                user_id = "ana",
                sources = "us_congress",
                "clicked"
            );
            tracing::info!(action_type = "pause_job", job_id = "data_collection");
            let run = tracing::info_span!("job_execution", job_id = "nightly", job_execution_id = %exec, source = "scheduled_job");
            run.in_scope(|| {
                tracing::info!(action_type = "job_execution", result = "ok");
                tracing::error!(action_type = "job_step", "step exploded");
            });
        },
    );
    assert!(guard.flush());
    let rows = db.rows("");
    assert_eq!(rows.len(), 4, "{rows:?}");
    let by_type = |t: &str| rows.iter().find(|r| r["action_type"] == t).unwrap().clone();
    let start = by_type("data_collection_start");
    assert_eq!(start["status"], "initiated");
    assert_eq!(start["user_id"], "ana");
    assert_eq!(
        start["details"],
        serde_json::json!({"sources": "us_congress", "message": "clicked"})
    );
    assert_eq!(by_type("pause_job")["status"], "completed");
    let inner = by_type("job_execution");
    assert_eq!(inner["job_id"], "nightly");
    assert_eq!(inner["job_execution_id"], exec);
    assert_eq!(inner["source"], "scheduled_job");
    let step = by_type("job_step");
    assert_eq!(
        (step["status"].as_str(), step["error_message"].as_str()),
        (Some("failed"), Some("step exploded"))
    );
}

#[test]
fn a_rejected_row_is_dead_lettered_while_the_rest_land() {
    let db = Db::new();
    let clock = clock();
    let too_long = "x".repeat(51);
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            for i in 0..10 {
                tracing::info!(action_type = "remove_job", seq = i);
            }
            tracing::info!(action_type = too_long.as_str(), seq = 99);
            tracing::info!(action_type = "resume_job", job_execution_id = "not-a-uuid");
        },
    );
    assert!(guard.flush());
    assert_eq!(db.rows("").len(), 10);
    let dead = dead_letters(&db.dead());
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().any(|d| d["record"]["details"].is_null() && d["record"]["action_details"]["seq"] == 99));
    assert!(
        dead.iter()
            .all(|d| d["sink"] == "sqlite" && d["error"].as_str().unwrap().contains("CHECK"))
    );
    let stats = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    assert_eq!(stats.actions_recorded, 12);
    assert_eq!(stats.actions_delivered, 10);
    assert_eq!(stats.actions_dead_lettered, 2);
}

#[test]
fn dropping_the_guard_delivers_what_is_queued() {
    let db = Db::new();
    let clock = clock();
    // A long linger: only the guard's drop can make these land.
    let config = PipelineConfig::default()
        .no_spool()
        .linger(std::time::Duration::from_secs(3600));
    let guard = with_actions(db.sink(), &db.dead(), &clock, config, || {
        for i in 0..25 {
            tracing::info!(action_type = "run_job_now", seq = i);
        }
    });
    drop(guard);
    assert_eq!(db.rows("").len(), 25);
}

#[test]
fn records_of_one_action_merge_inside_a_batch() {
    let db = Db::new();
    let clock = clock();
    let sink = Wrap::new(db.sink());
    let sizes = sink.sizes.clone();
    let config = PipelineConfig::default()
        .no_spool()
        .linger(std::time::Duration::from_secs(3600));
    let guard = with_actions(sink, &db.dead(), &clock, config, || {
        for i in 0..3 {
            tracing::info_span!("s", action_type = "add_cron_job", seq = i).in_scope(|| {});
        }
    });
    assert!(guard.flush());
    // Six records (initiated + completed per action) became one batch of three rows.
    assert_eq!(*sizes.lock().unwrap(), vec![3]);
    assert!(db.rows("").iter().all(|r| r["status"] == "completed"));
    let stats = guard.stats();
    assert_eq!((stats.actions_recorded, stats.actions_delivered), (6, 6));
}

#[test]
fn a_full_channel_drops_and_counts_and_nothing_goes_unaccounted() {
    for overflow in [actionlog::Overflow::DropNewest, actionlog::Overflow::Block] {
        let db = Db::new();
        let clock = clock();
        let (open, gate) = std::sync::mpsc::channel();
        let sink = Wrap::new(db.sink()).gated(gate);
        let config = PipelineConfig::default()
            .no_spool()
            .queue_capacity(4)
            .batch_size(1)
            .linger(std::time::Duration::from_millis(1))
            .overflow(overflow)
            .block_timeout(std::time::Duration::from_millis(5));
        let guard = with_actions(sink, &db.dead(), &clock, config, || {
            for i in 0..50 {
                tracing::info!(action_type = "remove_job", seq = i);
            }
        });
        open.send(()).unwrap();
        let done = guard.shutdown(std::time::Duration::from_secs(10));
        let s = done.stats;
        assert!(done.complete, "{done:?}");
        assert_eq!(s.actions_recorded, 50);
        // At most the channel (4) plus the batch the worker held can have been kept.
        assert!(s.actions_dropped >= 50 - 4 - 2, "{overflow:?}: {s:?}");
        assert_accounted(&s);
        assert_eq!(db.rows("").len() as u64, s.actions_delivered);
    }
}

#[test]
fn huge_values_are_cut_at_the_field_cap_in_rows_too() {
    let db = Db::new();
    let clock = clock();
    let huge = "h".repeat(200 * 1024);
    let guard = with_actions(
        db.sink(),
        &db.dead(),
        &clock,
        PipelineConfig::default().no_spool(),
        || {
            tracing::info!(
                action_type = "backfill",
                payload = huge.as_str(),
                result_message = huge.as_str()
            );
        },
    );
    assert!(guard.flush());
    let rows = db.rows("");
    let cap = actionlog::limits::DEFAULT_MAX_FIELD_BYTES;
    let expected = format!("{}…[truncated {} bytes]", &huge[..cap], huge.len() - cap);
    assert_eq!(rows[0]["details"]["payload"], expected.as_str());
    assert_eq!(rows[0]["result_message"], expected.as_str());
}

/// The largest spool segment in `spool`, in records.
fn largest_segment(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    std::fs::read_to_string(e.path())
                        .map(|t| t.lines().count())
                        .unwrap_or(0)
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[test]
fn a_slow_sink_spills_to_the_spool_and_everything_lands_later() {
    let db = Db::new();
    let clock = clock();
    // Seconds per batch: a database under a long lock or a saturated link.
    // Largest batch handed over, and largest spool segment seen during a write (records).
    let largest = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let sink = {
        let (largest, spool) = (largest.clone(), db.dir.path().join("spool"));
        Wrap::new(db.sink())
            .delay(std::time::Duration::from_secs(1))
            .before(move |batch| {
                let mut l = largest.lock().unwrap();
                l.0 = l.0.max(batch.len());
                l.1 = l.1.max(largest_segment(&spool));
            })
    };
    let config = PipelineConfig::default()
        .no_spool()
        .queue_capacity(100)
        .batch_size(500)
        .linger(std::time::Duration::from_millis(1))
        // Generous: the point is that the spill keeps room in the channel, not this bound.
        .overflow(actionlog::Overflow::Block)
        .block_timeout(std::time::Duration::from_secs(10))
        .spool_dir(db.dir.path().join("spool"));
    let guard = with_actions(sink, &db.dead(), &clock, config, || {
        for i in 0..2000 {
            tracing::info!(action_type = "scheduled_job_execution", seq = i);
        }
    });
    // At a second per batch this takes longer than a flush's default deadline (5 s).
    common::wait_until("every row", std::time::Duration::from_secs(60), || {
        db.rows("").len() == 2000
    });
    assert!(guard.flush());
    let s = guard.stats();
    assert!(
        s.actions_spooled > 0,
        "the channel never had to spill: {s:?}"
    );
    assert_eq!(s.actions_dropped, 0, "{s:?}");
    assert_eq!(db.rows("").len(), 2000);
    // Memory stays bounded: besides the channel (100), the worker holds at most one batch (500)
    // and one spill, which never takes more than the channel held (100 records per segment).
    let (batch, segment) = *largest.lock().unwrap();
    assert!(
        batch <= 500 && segment <= 100,
        "batch {batch}, segment {segment}"
    );
    assert!(segment > 0, "no segment was seen during a write");
    let done = guard.shutdown(std::time::Duration::from_secs(10));
    assert_accounted(&done.stats);
    assert_eq!(
        done.stats.actions_delivered,
        2000 + done.stats.actions_replayed - done.stats.actions_spooled
    );
    assert_eq!(
        std::fs::read_dir(db.dir.path().join("spool"))
            .unwrap()
            .count(),
        0,
        "spool emptied"
    );
}

#[test]
fn a_write_that_hangs_past_the_shutdown_deadline_does_not_hold_the_shutdown() {
    let db = Db::new();
    let clock = clock();
    let sink = Wrap::new(db.sink()).delay(std::time::Duration::from_secs(30));
    let config = PipelineConfig::default()
        .no_spool()
        .linger(std::time::Duration::from_millis(1))
        .spool_dir(db.dir.path().join("spool"));
    let guard = with_actions(sink, &db.dead(), &clock, config, || {
        for i in 0..5 {
            tracing::info!(action_type = "remove_job", seq = i);
        }
    });
    // The write of the first batch hangs for 30 s; the shutdown deadline is 4 s (spooling
    // fsyncs, which can take a while on a disk busy with the rest of the suite).
    let done = guard.shutdown(std::time::Duration::from_secs(4));
    assert!(done.complete, "{done:?}");
    assert_accounted(&done.stats);
    assert_eq!(done.stats.actions_spooled, 5, "{done:?}");
}
