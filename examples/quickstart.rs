//! The one-line set-up: day files in `./logs`, coloured console lines, span fields in metadata.
//!
//! Run with `cargo run --example quickstart`, then look at `logs/latest.log`.

use tracing::{debug, error, info, info_span, warn};

fn main() -> Result<(), actionlog::Error> {
    let _guard = actionlog::builder().filter("debug").init()?;

    info!(
        us_congress = true,
        eu_parliament = false,
        lookback_days = 30,
        max_retries = 3,
        "Start Collection button clicked"
    );

    let job = info_span!(
        "job_execution",
        job_id = "data_collection",
        source = "ui_button"
    );
    job.in_scope(|| {
        debug!(disclosures = 128, "fetched disclosures");
        warn!(ticker = "BRK.B", "ticker lookup slow");
        error!(error = "upstream returned 503", "collection step failed");
    });

    // Records from the `log` crate land in the same files.
    log_style_record();

    let dir = std::env::current_dir()
        .map(|d| d.join("logs"))
        .unwrap_or_default();
    info!(path = %dir.display(), "wrote today's lines; see latest.log");
    Ok(())
}

fn log_style_record() {
    tracing_log::log::info!(target: "legacy_module", "a record from the log crate");
}
