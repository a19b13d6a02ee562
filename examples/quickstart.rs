//! The one-line set-up: day files in `./logs`, coloured console lines, span fields in metadata,
//! and action records in the embedded SQLite store `./logs/actions.db`.
//!
//! Run with `cargo run --example quickstart`, then look at `logs/latest.log` and the rows it
//! prints from `logs/actions.db`.

use tracing::{debug, error, info, info_span, warn};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = actionlog::builder().filter("debug").init()?;

    // A plain event: file + console.
    info!(
        us_congress = true,
        eu_parliament = false,
        lookback_days = 30,
        max_retries = 3,
        "Start Collection button clicked"
    );

    // An action that completes: one `action_logs` row, `initiated` then `completed`.
    let collect = info_span!(
        "start_collection",
        action_type = "data_collection_start",
        source = "ui_button",
        user_id = "ana@example.com",
        lookback_days = 30,
        result_message = tracing::field::Empty,
    );
    collect.in_scope(|| {
        debug!(disclosures = 128, "fetched disclosures");
        tracing::Span::current().record("result_message", "128 disclosures stored");
    });
    drop(collect);

    // An action that fails: an ERROR event inside it.
    info_span!(
        "backfill",
        action_type = "ticker_backfill",
        source = "ui_button",
        user_id = "ana@example.com"
    )
    .in_scope(|| {
        warn!(ticker = "BRK.B", "ticker lookup slow");
        error!(error = "upstream returned 503", "backfill step failed");
    });

    // A one-shot action: one event, one row.
    info!(
        action_type = "pause_job",
        job_id = "data_collection",
        source = "ui_button",
        "Pause clicked"
    );

    // Records from the `log` crate land in the same files.
    tracing_log::log::info!(target: "legacy_module", "a record from the log crate");

    // Flush files and deliver action records before reading them back.
    let stats = guard.shutdown(std::time::Duration::from_secs(5)).stats;
    println!("\nstats: {stats:?}");
    println!("day files: ./logs/YYYY-MM-DD.log (./logs/latest.log points at today's)");
    print_actions("logs/actions.db")?;
    Ok(())
}

fn print_actions(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open(path)?;
    let mut stmt = db.prepare(
        "SELECT action_type, status, coalesce(result_message, error_message, ''), request_duration_seconds
         FROM action_logs ORDER BY action_timestamp DESC LIMIT 3",
    )?;
    println!("newest rows of {path} (sqlite3 {path} 'SELECT * FROM action_logs'):");
    let rows = stmt.query_map([], |r| {
        Ok(format!(
            "  {:<22} {:<10} {:<24} {:?}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<f64>>(3)?
        ))
    })?;
    for row in rows {
        println!("{}", row?);
    }
    Ok(())
}
