//! The shutdown recipe: wire SIGTERM and Ctrl-C to `Guard::shutdown` so that a service stopped
//! by its supervisor (systemd, Kubernetes, docker stop) writes out every line and delivers every
//! action record before it exits, within a deadline.
//!
//! Run with `cargo run --example graceful_shutdown`, then press Ctrl-C (or `kill -TERM <pid>`).

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = actionlog::init()?;

    // The service's work: here, an action every 100 ms.
    let work = tokio::spawn(async {
        for seq in 0u64.. {
            tracing::info!(
                action_type = "scheduled_job_execution",
                seq,
                source = "scheduled_job"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Wait for SIGTERM or Ctrl-C.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    work.abort();

    // Flush files and deliver queued actions, waiting at most 5 s; off the async threads,
    // since it blocks.
    let done = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5))).await?;
    println!(
        "stopped: {} lines written, {} actions delivered, complete: {}",
        done.stats.lines_written, done.stats.actions_delivered, done.complete
    );
    Ok(())
}
