//! Helpers for the alert tests: one data set that makes every default rule fire (in SQL that
//! SQLite and PostgreSQL both take), the SQL that makes it right again, the log directory's
//! spool and dead letters, and an engine over a store with a manual clock.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use actionlog::ManualClock;
use actionlog::alert::{Config, Engine, PassReport};
use actionlog::query::Target;
use chrono::{DateTime, Duration, Utc};

/// The clock's start: twenty past the hour, so the failure-rate window has partial hours at
/// both ends (read from the table) and a whole one between (read from the rollups).
pub const T0: &str = "2026-11-03T12:20:00Z";

pub fn t0() -> DateTime<Utc> {
    T0.parse().unwrap()
}

/// A time as the SQLite sink writes it (PostgreSQL reads the same text).
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn id(group: u32, i: usize) -> String {
    format!("00000000-0000-7000-{group:04x}-{i:012x}")
}

/// The rule file of the tests: repeats every 10 minutes, quick retries, the dead man's switch
/// at 30 minutes, the spool rule over 2 passes; `extra` appended (notifiers).
pub fn rules(extra: &str) -> Config {
    Config::parse(&format!(
        "[alert]\nrepeat = \"10m\"\nattempts = 3\nbackoff = \"10ms\"\ndeadline = \"5s\"\n\
         timeout = \"2s\"\n\n[rules.silence]\nmax_silence = \"30m\"\n\n\
         [rules.spool_growing]\npasses = 2\n\n{extra}"
    ))
    .unwrap()
}

/// Jobs, runs and actions that make the store rules fire at [`T0`]:
/// - `feed` at its maximum of consecutive failures (job_failed_max_retries);
/// - `ticker` due an hour ago (job_overdue); `fine` due in an hour; `off` disabled and both;
/// - `checkout`: 10 failed, 5 completed and 3 initiated 45 to 40 minutes ago
///   (failure_rate: 10 of 15); `browse`: 20 completed;
/// - nothing newer than 40 minutes (silence, at 30 minutes).
pub fn firing_sql() -> String {
    let t0 = t0();
    let mut actions = Vec::new();
    let mut n = 0;
    let mut push = |ty: &str, status: &str, count: usize, from: i64| {
        for i in 0..count {
            let at = t0 - Duration::minutes(from) + Duration::seconds(i as i64 * 10);
            actions.push(format!(
                "('{}', '{ty}', '{status}', '{}', {})",
                id(0x8000, n),
                ts(at),
                if status == "failed" {
                    "'card declined'"
                } else {
                    "NULL"
                }
            ));
            n += 1;
        }
    };
    push("checkout", "failed", 10, 45);
    push("checkout", "completed", 5, 43);
    push("checkout", "initiated", 3, 42);
    push("browse", "completed", 20, 44);
    let job = |job: &str, enabled: bool, failures: u32, next: DateTime<Utc>| {
        format!("('{job}', {enabled}, {failures}, 3, '{}')", ts(next))
    };
    format!(
        "INSERT INTO action_logs (id, action_type, status, action_timestamp, error_message) VALUES {};
         INSERT INTO scheduled_jobs (job_id, enabled, consecutive_failures, max_consecutive_failures, next_scheduled_run) VALUES {}, {}, {}, {};
         INSERT INTO job_executions (id, job_id, status, started_at, error_message) VALUES ('{}', 'feed', 'failed', '{}', 'feed down');",
        actions.join(", "),
        job("feed", true, 3, t0 + Duration::hours(2)),
        job("ticker", true, 0, t0 - Duration::hours(1)),
        job("fine", true, 0, t0 + Duration::hours(1)),
        job("off", false, 5, t0 - Duration::hours(5)),
        id(0x9000, 1),
        ts(t0 - Duration::hours(3)),
    )
}

/// What makes the store rules right again at `now`: `feed` succeeded, `ticker` rescheduled,
/// and 20 completed checkouts a minute ago (10 of 35 failed; a new action).
pub fn fixed_sql(now: DateTime<Utc>) -> String {
    let rows: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "('{}', 'checkout', 'completed', '{}')",
                id(0x8001, i),
                ts(now - Duration::minutes(1))
            )
        })
        .collect();
    format!(
        "UPDATE scheduled_jobs SET consecutive_failures = 0 WHERE job_id = 'feed';
         UPDATE scheduled_jobs SET next_scheduled_run = '{}' WHERE job_id = 'ticker';
         INSERT INTO action_logs (id, action_type, status, action_timestamp) VALUES {};",
        ts(now + Duration::hours(1)),
        rows.join(", ")
    )
}

/// A SQLite store at `<dir>/logs/actions.db` made by the real sink (rollups included), then
/// `sql`; left without a `-wal` file, as a stopped writer leaves it.
#[cfg(feature = "sqlite")]
pub fn sqlite_store(dir: &Path, sql: &str) -> PathBuf {
    let db = dir.join("logs").join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    sqlite_exec(&db, sql);
    db
}

/// Runs `sql` on the SQLite store `db`, leaving it without a `-wal` file.
#[cfg(feature = "sqlite")]
pub fn sqlite_exec(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(sql).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
}

/// Two dead-lettered records under `log_dir`.
pub fn dead_letters(log_dir: &Path) {
    let dir = log_dir.join("dead-letter");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("2026-11-03.jsonl"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
}

/// One more record in the spool under `log_dir` (the segment made if missing).
pub fn grow_spool(log_dir: &Path) {
    use std::io::Write;
    let dir = log_dir.join("spool");
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("seg-1-1-1.jsonl"))
        .unwrap();
    writeln!(f, "{{\"record\":\"waiting for the store\"}}").unwrap();
}

/// An engine over `target` with the test rules plus `extra`, the log directory `log_dir`,
/// its state file `state`, and `clock`.
pub fn engine(
    target: &Target,
    log_dir: &Path,
    state: &Path,
    clock: &ManualClock,
    extra: &str,
) -> Engine {
    Engine::builder(target.clone())
        .config(rules(extra))
        .log_dir(log_dir)
        .state_file(state)
        .clock(clock.clone())
        .build()
        .unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One pass, which must succeed and evaluate every rule.
pub fn pass(rt: &tokio::runtime::Runtime, e: &mut Engine) -> PassReport {
    let r = rt.block_on(e.pass()).unwrap();
    assert!(r.store_error.is_none(), "{:?}", r.store_error);
    assert!(
        r.problems
            .iter()
            .all(|p| !p.contains("could not be evaluated")),
        "{:?}",
        r.problems
    );
    r
}

/// `(event, rule, subject)` of each payload.
pub fn events(payloads: &[serde_json::Value]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = payloads
        .iter()
        .map(|p| {
            (
                p["event"].as_str().unwrap().to_owned(),
                p["rule"].as_str().unwrap().to_owned(),
                p["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `(rule, subject)` of what is firing.
pub fn firing(r: &PassReport) -> Vec<(String, String)> {
    let mut v: Vec<_> = r
        .firing
        .iter()
        .map(|i| (i.rule.clone(), i.subject.clone()))
        .collect();
    v.sort();
    v
}

/// The six incidents the data set and the log directory make.
pub fn all_six() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("dead_letters", "dead_letters"),
        ("failure_rate", "checkout"),
        ("job_failed_max_retries", "feed"),
        ("job_overdue", "ticker"),
        ("silence", "store"),
        ("spool_growing", "spool"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    v.sort();
    v
}
