//! What the read side's rollups cost the SQLite sink: batches of fresh action records written
//! through `SqliteSink` into a store with its rollup triggers and read-side indexes (as the
//! sink makes it), into one with the per-day rollups but not the per-hour ones (a store made
//! before the per-hour ones), and into one where all were dropped (a store as it was before them),
//! interleaved in one run. Each store grows by the same rows.
//!
//! Run: `cargo bench --bench sqlite_sink`

use std::time::{Duration, Instant};

use actionlog::ActionRecord;
use actionlog::sink::{Sink, SqliteSink};

const BATCH: usize = 500;
const ROUNDS: usize = 40;

fn records(n: usize, round: usize) -> Vec<ActionRecord> {
    (0..n)
        .map(|i| {
            let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), "data_collection_start");
            r.status = if i % 20 == 0 { "failed" } else { "completed" }.into();
            r.user_id = Some(format!("user{}", (i + round * 7) % 1000));
            r.source = Some("ui_button".into());
            r.request_duration_seconds = Some(((i * 31) % 2000) as f64 / 1000.0);
            r.action_details.insert("n".into(), i.into());
            r
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.db");
    let daily = dir.path().join("daily.db");
    let without = dir.path().join("without.db");
    let hourly =
        "DROP TRIGGER action_logs_hourly_insert; DROP TRIGGER action_logs_hourly_status_update;
         DROP TRIGGER action_logs_hourly_failures_update; DROP TRIGGER action_logs_hourly_delete;";
    drop(SqliteSink::open(&daily).unwrap());
    rusqlite::Connection::open(&daily)
        .unwrap()
        .execute_batch(hourly)
        .unwrap();
    drop(SqliteSink::open(&without).unwrap());
    rusqlite::Connection::open(&without)
        .unwrap()
        .execute_batch(&format!(
            "{hourly} DROP TRIGGER action_logs_rollup_insert; DROP TRIGGER action_logs_rollup_update;
             DROP TRIGGER action_logs_rollup_delete; DROP INDEX idx_action_logs_stats;
             DROP INDEX idx_action_logs_failed;"
        ))
        .unwrap();
    // Opening it again leaves it so: the sink makes the rollups only when their table is
    // missing, and the tables are still there.
    let mut sinks = [
        SqliteSink::open(&with).unwrap(),
        SqliteSink::open(&daily).unwrap(),
        SqliteSink::open(&without).unwrap(),
    ];
    let mut spent = [Duration::ZERO; 3];
    for round in 0..ROUNDS {
        for (k, sink) in sinks.iter_mut().enumerate() {
            let batch = records(BATCH, round);
            let t = Instant::now();
            rt.block_on(sink.write(&batch.into())).unwrap();
            spent[k] += t.elapsed();
        }
    }
    let rate = |d: Duration| (BATCH * ROUNDS) as f64 / d.as_secs_f64() / 1000.0;
    println!(
        "SQLite sink, {} rows in batches of {BATCH}, interleaved: with all rollups {:.1} k rows/s, \
         with the per-day ones only {:.1} k rows/s, without {:.1} k rows/s ({:.0} % / {:.0} % of without)",
        BATCH * ROUNDS,
        rate(spent[0]),
        rate(spent[1]),
        rate(spent[2]),
        100.0 * rate(spent[0]) / rate(spent[2]),
        100.0 * rate(spent[1]) / rate(spent[2])
    );
}
