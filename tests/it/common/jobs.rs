//! Helpers for job-run tests: a subscriber with the action and job layers, and the shared
//! workload.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use actionlog::sink::Sink;
use actionlog::{
    ActionFilter, ActionLayer, Guard, JobFilter, ManualClock, PipelineConfig, Timezone,
};
use futures_util::FutureExt;
use tracing_subscriber::prelude::*;

/// Runs `f` with the action and job layers delivering to `sink`, log filter `filter`.
pub fn with_jobs<S: Sink>(
    sink: S,
    dead_letter: &Path,
    clock: &ManualClock,
    filter: &str,
    max_job_log_bytes: usize,
    f: impl FnOnce(),
) -> Guard {
    let (actions, guard) = ActionLayer::builder(sink)
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .dead_letter_dir(dead_letter)
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(200)),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let jobs = actions
        .job_layer()
        .timezone(Timezone::Utc)
        .max_job_log_bytes(max_job_log_bytes);
    let subscriber = tracing_subscriber::registry()
        .with(jobs.with_filter(JobFilter::new(tracing_subscriber::EnvFilter::new(filter))))
        .with(actions.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, f);
    guard
}

/// Four runs: a success (with a nested action logging a line, a debug line the filter drops, and a
/// `next_scheduled_run`), a failure (ERROR event), a cancelled run (future dropped unfinished)
/// and a failed `try_run`. Each run lasts 1.5 s of the manual clock.
pub fn workload(clock: &ManualClock) {
    let step = || clock.advance(chrono::Duration::milliseconds(1500));
    let next_minute = || clock.advance(chrono::Duration::milliseconds(60_000 - 1500));

    let run = tracing::info_span!(
        "job_execution",
        job_id = "data_collection",
        trigger = "scheduled",
        next_scheduled_run = "2025-11-03T15:30:45+00:00",
        api_token = "canary-job-token",
    );
    run.in_scope(|| {
        tracing::info!(records = 12, "collected");
        tracing::debug!("below the filter");
        tracing::info_span!(
            "store",
            action_type = "store_disclosures",
            source = "scheduled_job"
        )
        .in_scope(|| {
            // Inside a span inside the run: still one of the run's lines.
            tracing::info!(rows = 12, "stored");
            step()
        });
    });
    drop(run);
    next_minute();

    let run = tracing::info_span!("job_execution", job_id = "data_collection");
    run.in_scope(|| {
        tracing::warn!(attempt = 2, "retrying");
        tracing::error!(error = "house feed timed out", "collection failed");
        step();
    });
    drop(run);
    next_minute();

    let cancelled = actionlog::job::run(
        tracing::info_span!("job_execution", job_id = "ticker_backfill"),
        async {
            tracing::info!("started");
            std::future::pending::<()>().await
        },
    );
    // Polled once, then dropped unfinished.
    assert!(cancelled.now_or_never().is_none());
    step();
    next_minute();

    let failed = actionlog::job::try_run(
        tracing::info_span!("job_execution", job_id = "ticker_backfill"),
        async { Err::<(), _>(std::io::Error::other("quota exceeded")) },
    );
    assert!(failed.now_or_never().unwrap().is_err());
}
