//! Action records into Supabase through its REST API:
//!
//! ```sh
//! SUPABASE_URL=https://<project>.supabase.co SUPABASE_SERVICE_ROLE_KEY=… \
//!     cargo run --example supabase --features supabase
//! ```
//!
//! (`SUPABASE_KEY` is used when `SUPABASE_SERVICE_ROLE_KEY` is not set.) Records an action that
//! completes and one that fails, flushes, and exits within seconds, printing what happened. The
//! table must exist: run `migrations/0001_action_logs.sql` in the Supabase SQL editor first.

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = actionlog::sink::SupabaseSink::from_env()?.timeout(Duration::from_secs(5))?;
    let guard = actionlog::builder()
        .sink(sink)
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

    let done = guard.shutdown(Duration::from_secs(5));
    let s = done.stats;
    println!(
        "delivered {} action records to Supabase ({} kept in logs/dead-letter/, {} dropped)",
        s.actions_delivered, s.actions_dead_lettered, s.actions_dropped
    );
    if s.actions_dead_lettered > 0 {
        println!(
            "see logs/dead-letter/*.jsonl for the reason (e.g. a rejected key or a missing table)"
        );
    }
    Ok(())
}
