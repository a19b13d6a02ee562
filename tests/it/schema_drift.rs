//! Schema drift: a hand-made `action_logs` whose `action_details` is `json` (not `jsonb`) and
//! whose duration is `double precision` (not `DECIMAL(10,3)`). Binary COPY cannot write those
//! columns; the sink notices at connect and writes through the upsert's casts instead, so every
//! row lands — none is dead-lettered — and each one once.

#![cfg(feature = "postgres")]

use crate::common;

use std::time::Duration;

use actionlog::sink::PostgresSink;
use actionlog::{ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};

const HAND_MADE: &str = "CREATE TABLE action_logs (
    id UUID PRIMARY KEY,
    action_type VARCHAR(50) NOT NULL,
    user_id VARCHAR(255),
    action_timestamp TIMESTAMPTZ DEFAULT NOW(),
    action_details JSON,
    job_id VARCHAR(100),
    job_execution_id UUID,
    status VARCHAR(20),
    result_message TEXT,
    error_message TEXT,
    source VARCHAR(50),
    ip_address VARCHAR(45),
    user_agent TEXT,
    request_duration_seconds DOUBLE PRECISION
)";

#[test]
fn json_and_float8_columns_take_the_casting_path_and_every_row_lands() {
    let Some(db) = common::pg::TestDb::new("schema_drift") else {
        return;
    };
    db.exec(&format!("SET search_path TO {}; {HAND_MADE}", db.schema));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead-letter");
    let sink = PostgresSink::new(&db.url)
        .unwrap()
        .schema(&db.schema)
        .unwrap()
        .migrate(false);
    let guard = with_actions(
        sink,
        &dead,
        &ManualClock::at(common::utc("2026-03-01T12:00:00Z")),
        PipelineConfig::default()
            .batch_size(50)
            .spool_dir(dir.path().join("spool")),
        || {
            for seq in 0..200u64 {
                let span = tracing::info_span!(
                    "order",
                    action_type = "order",
                    seq,
                    request_duration_seconds = 0.25
                );
                // An action span: a first write, then the final status through the upsert.
                span.in_scope(|| tracing::info!("placing"));
            }
            tracing::info!(action_type = "note", note = "one-shot");
        },
    );
    let done = guard.shutdown(Duration::from_secs(60));
    let s = done.stats;
    assert!(done.complete, "{s:?}");
    assert_accounted(&s);
    assert_eq!(s.actions_dead_lettered + s.actions_dropped, 0, "{s:?}");
    assert!(dead_letters(&dead).is_empty());
    assert_eq!(db.count(""), 201);
    db.assert_no_duplicate_ids();
    assert_eq!(db.count("WHERE status = 'completed'"), 201);
    let rows = db.query(
        "SELECT count(*) FROM action_logs WHERE (action_details->>'seq') IS NOT NULL \
         AND request_duration_seconds IS NOT NULL",
    );
    assert_eq!(rows[0].get::<_, i64>(0), 200);
}
