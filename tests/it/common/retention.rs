//! Helpers for the retention tests (`retention_*`): one workload of old and new rows for every
//! store, the prune with a fixed now, what the rollups say about the pruned day, and a writer
//! that writes through a real sink while a prune runs.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actionlog::ActionRecord;
use actionlog::query::{Entity, Filter, Options, Rows, Store, Target};
use actionlog::retention::{Error, Plan, Prune, Pruned};
use chrono::{DateTime, Utc};

/// The clock's now for every prune here.
pub const NOW: &str = "2026-11-10T12:00:00Z";
/// Actions and runs older than this go: before 2026-10-11T12:00:00Z.
pub const AGE: &str = "30d";
/// Run logs older than this go: before 2026-11-03T12:00:00Z.
pub const RUN_LOG_AGE: &str = "7d";

/// Old actions (on 2026-10-01, over several hours, every status), new actions (2026-11-09).
pub const OLD_ACTIONS: usize = 35;
pub const NEW_ACTIONS: usize = 5;
/// Runs: old (deleted), middle-aged (logs trimmed), new (kept whole), each with logs.
pub const OLD_RUNS: usize = 12;
pub const MIDDLE_RUNS: usize = 6;
pub const NEW_RUNS: usize = 3;

pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn id(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012x}")
}

fn time(t: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// `n` actions from `start`, 7 minutes apart (so they cover hours of the day), ids from
/// `first`: types, statuses (an open one among them), users and durations varied.
pub fn actions_sql(first: usize, n: usize, start: &str) -> String {
    let statuses = [
        "completed",
        "failed",
        "initiated",
        "completed",
        "in_progress",
    ];
    let rows: Vec<String> = (first..first + n)
        .map(|i| {
            let t = utc(start) + chrono::Duration::minutes(7 * (i - first) as i64);
            let status = statuses[i % statuses.len()];
            let error = if status == "failed" {
                format!("'timeout {}'", i % 2)
            } else {
                "NULL".into()
            };
            format!(
                "('{}', 'type_{}', '{status}', 'user_{}', {}, {}, {error})",
                id(i),
                i % 3,
                i % 4,
                time(t),
                (i % 5) as f64 / 4.0
            )
        })
        .collect();
    format!(
        "INSERT INTO action_logs (id, action_type, status, user_id, action_timestamp, \
         request_duration_seconds, error_message) VALUES {};",
        rows.join(", ")
    )
}

/// `n` runs from `start`, an hour apart, each with a line of logs, ids from `first`.
pub fn runs_sql(first: usize, n: usize, start: &str) -> String {
    let rows: Vec<String> = (first..first + n)
        .map(|i| {
            let t = utc(start) + chrono::Duration::hours((i - first) as i64);
            format!(
                "('{}', 'job_{}', 'success', {}, 'line of run {i}')",
                id(i),
                i % 2,
                time(t)
            )
        })
        .collect();
    format!(
        "INSERT INTO job_executions (id, job_id, status, started_at, logs) VALUES {};",
        rows.join(", ")
    )
}

/// The whole workload, as SQL both SQLite and PostgreSQL take.
pub fn workload_sql() -> String {
    [
        actions_sql(0, OLD_ACTIONS, "2026-10-01T00:00:00Z"),
        actions_sql(1000, NEW_ACTIONS, "2026-11-09T08:00:00Z"),
        runs_sql(2000, OLD_RUNS, "2026-10-02T00:00:00Z"),
        runs_sql(3000, MIDDLE_RUNS, "2026-11-01T00:00:00Z"),
        runs_sql(4000, NEW_RUNS, "2026-11-09T00:00:00Z"),
    ]
    .join("\n")
}

/// The table of `audit_digests` as the shared design has it (another part of the crate makes
/// it; a prune only deletes from it), with `n` digests of `writer`.
pub fn digests_sql(made_at: &str, rows: &[(&str, usize)]) -> String {
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS audit_digests (writer VARCHAR(100) NOT NULL, seq BIGINT NOT NULL, \
         made_at {made_at} NOT NULL, kind VARCHAR(10) NOT NULL, digest TEXT NOT NULL, \
         PRIMARY KEY (writer, seq));"
    );
    for (writer, n) in rows {
        for seq in 1..=*n {
            sql.push_str(&format!(
                "INSERT INTO audit_digests VALUES ('{writer}', {seq}, '2026-10-01T00:00:00.000000Z', 'rows', '{{}}');"
            ));
        }
    }
    sql
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The prune of the workload: [`AGE`], [`RUN_LOG_AGE`], at [`NOW`].
pub fn prune(target: &Target, batch: usize, dry_run: bool) -> Prune {
    Prune::builder(target.clone())
        .older_than(actionlog::retention::parse_age(AGE).unwrap())
        .run_logs_older_than(actionlog::retention::parse_age(RUN_LOG_AGE).unwrap())
        .batch_size(batch)
        .dry_run(dry_run)
        .clock(actionlog::ManualClock::at(utc(NOW)))
        .build()
        .unwrap()
}

pub fn run(prune: &Prune) -> Result<Pruned, Error> {
    rt().block_on(prune.run())
}

pub fn run_plan(prune: &Prune, plan: &Plan) -> Result<Pruned, Error> {
    rt().block_on(prune.run_plan(plan))
}

/// What the read side says about the pruned day (2026-10-01, whole): the stats sections read
/// from the rollups (the failed actions' list and the runs are read from the rows), and the
/// actions by type and status from the hourly rollups.
pub fn pruned_day(target: &Target) -> Vec<(String, Rows)> {
    let rt = rt();
    let store = rt
        .block_on(Store::open(target, &Options::default()))
        .unwrap();
    let mut day = Filter::new(Entity::Actions);
    day.since = Some(utc("2026-10-01T00:00:00Z"));
    day.until = Some(utc("2026-10-02T00:00:00Z"));
    let stats = rt.block_on(store.stats(&day)).unwrap();
    let mut out: Vec<(String, Rows)> = stats
        .sections
        .into_iter()
        .filter(|(n, _)| {
            [
                "actions_by_type_status",
                "user_activity",
                "action_durations",
            ]
            .contains(n)
        })
        .map(|(n, r)| (n.to_owned(), r))
        .collect();
    let total: i64 = out[0]
        .1
        .objects()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, OLD_ACTIONS as i64, "the day's actions as counted");
    out.push((
        "action_counts".into(),
        rt.block_on(store.action_counts(&day)).unwrap(),
    ));
    out
}

/// The expected report of the workload's prune with batches of 10.
pub fn assert_report(p: &Pruned) {
    assert!(!p.dry_run);
    assert_eq!(p.actions_before, utc("2026-10-11T12:00:00Z"));
    assert_eq!(p.runs_before, utc("2026-10-11T12:00:00Z"));
    assert_eq!(p.run_logs_before, Some(utc("2026-11-03T12:00:00Z")));
    assert_eq!((p.actions.rows, p.actions.batches), (35, 4), "{p:?}");
    assert_eq!((p.runs.rows, p.runs.batches), (12, 2), "{p:?}");
    assert_eq!((p.run_logs.rows, p.run_logs.batches), (6, 1), "{p:?}");
    assert_eq!((p.digests.rows, p.digests.batches), (0, 0), "{p:?}");
}

/// A thread writing new actions through `sink`, 5 per batch, until told to stop; each write's
/// end and length are kept.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, Duration, Vec<String>)>>,
}

impl Writer {
    pub fn start<S: actionlog::sink::Sink + 'static>(mut sink: S) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = rt();
            let mut done = Vec::new();
            let mut i = 0usize;
            while !s.load(Ordering::SeqCst) {
                let batch: Vec<ActionRecord> = (0..5)
                    .map(|_| {
                        i += 1;
                        let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), "written_meanwhile");
                        r.status = "completed".into();
                        r.action_timestamp =
                            utc("2026-11-10T11:00:00Z") + chrono::Duration::milliseconds(i as i64);
                        r
                    })
                    .collect();
                let ids = batch.iter().map(|r| r.id.to_string()).collect();
                let started = Instant::now();
                rt.block_on(sink.write(&batch.into()))
                    .unwrap_or_else(|e| panic!("a write failed during the prune: {e:?}"));
                done.push((Instant::now(), started.elapsed(), ids));
            }
            done
        });
        Writer { stop, thread }
    }

    /// Waits for the first write, so a prune starts while the writer is busy.
    pub fn wait_started(&self, writes: &dyn Fn() -> i64) {
        crate::common::wait_until("the writer's first rows", Duration::from_secs(30), || {
            writes() > 0
        });
    }

    /// Stops the writer; its writes.
    pub fn stop(self) -> Vec<(Instant, Duration, Vec<String>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The writer's writes against the prune's run (`from`, `to`): some finished while the prune
/// ran (it did not hold the writer off to the end), and none waited long.
pub fn assert_interleaved(writes: &[(Instant, Duration, Vec<String>)], from: Instant, to: Instant) {
    let during = writes
        .iter()
        .filter(|(end, _, _)| *end > from && *end < to)
        .count();
    assert!(
        during >= 2,
        "only {during} of {} writes finished during the prune ({:?})",
        writes.len(),
        to - from
    );
    let longest = writes.iter().map(|(_, d, _)| *d).max().unwrap_or_default();
    assert!(
        longest < Duration::from_secs(3),
        "a write waited {longest:?}"
    );
}
