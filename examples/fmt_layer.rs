//! tracing-subscriber's own formatter writing into actionlog's day files: `fmt::layer()` keeps
//! its format, [`actionlog::RollingWriter`] brings the size cap, the total bound, retention,
//! compression and `latest.log`; `tracing_appender::non_blocking` moves the I/O off the
//! caller's thread.
//!
//! ```sh
//! cargo run --example fmt_layer && cat logs-fmt/latest.log
//! ```

use tracing_subscriber::prelude::*;

fn main() -> Result<(), actionlog::Error> {
    let files = actionlog::RollingWriter::builder("logs-fmt")
        .max_file_bytes(64 << 20)
        .max_total_bytes(1 << 30)
        .keep_days(30)
        .build()?;
    let (writer, _flush_on_drop) = tracing_appender::non_blocking(files);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_writer(writer))
        .init();

    tracing::info!(user = "ada", "signed in");
    tracing::warn!(attempts = 3, "payment retried");
    Ok(())
}
