//! Action records into PostgreSQL: `DATABASE_URL=postgres://user@host/db cargo run --example
//! postgres --features postgres`. Creates the `action_logs` schema in an empty database
//! (`migrate(true)`), records an action that completes and one that fails, and exits within
//! seconds. Without `DATABASE_URL` it uses the local test server,
//! `postgres://root@127.0.0.1:5432/test`.

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let guard = actionlog::builder()
        .database_url(url)
        .migrate(true)
        .flush_deadline(Duration::from_secs(5))
        .init()?;

    tracing::info_span!(
        "start_collection",
        action_type = "data_collection_start",
        user_id = "ana",
        source = "ui_button"
    )
    .in_scope(|| tracing::info!(lookback_days = 30, "collecting"));
    tracing::info_span!(
        "backfill",
        action_type = "ticker_backfill",
        user_id = "ana",
        source = "ui_button"
    )
    .in_scope(|| tracing::error!(error = "ticker service returned 500", "backfill failed"));

    let stats = guard.shutdown(Duration::from_secs(5)).stats;
    println!(
        "delivered {} action records ({} dead-lettered, {} dropped)",
        stats.actions_delivered, stats.actions_dead_lettered, stats.actions_dropped
    );
    println!(
        "try: psql \"$DATABASE_URL\" -c \"SELECT action_type, status, error_message FROM action_logs ORDER BY action_timestamp DESC LIMIT 5\""
    );
    Ok(())
}
