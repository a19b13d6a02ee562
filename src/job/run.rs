//! [`run`]: drives a job's future inside its `job_execution` span and records the run as
//! `cancelled` if the future is dropped before it finishes (a timeout, an aborted task, a
//! shutdown), which the span alone cannot tell.

use std::future::Future;

use tracing::Instrument;

/// Emits the cancellation marker (field [`super::layer::CANCEL_FIELD`]) unless the run finished.
struct Unfinished {
    span: tracing::Span,
    done: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.done {
            tracing::warn!(
                parent: &self.span,
                job_cancelled = true,
                "job run cancelled before it finished"
            );
        }
    }
}

/// Runs `fut` inside `span` (a `job_execution` span, see [`crate::job`]). If the returned
/// future is dropped before `fut` completes, the run is recorded as `cancelled`.
///
/// ```
/// # async fn collect() -> Result<usize, std::io::Error> { Ok(3) }
/// # async fn demo() {
/// let span = tracing::info_span!("job_execution", job_id = "data_collection");
/// let collected = actionlog::job::run(span, async {
///     let n = collect().await?;
///     tracing::info!(records = n, "collected");
///     Ok::<_, std::io::Error>(n)
/// })
/// .await;
/// # let _ = collected; }
/// ```
///
/// A run fails when an ERROR event happens inside it; to fail it on an `Err` result without
/// logging one yourself, use [`try_run`].
pub async fn run<F: Future>(span: tracing::Span, fut: F) -> F::Output {
    let mut guard = Unfinished {
        span: span.clone(),
        done: false,
    };
    let out = fut.instrument(span).await;
    guard.done = true;
    out
}

/// Like [`run`], and an `Err` result fails the run: it is logged as an ERROR event inside the
/// run (`error` field: the error's `Display`), which becomes the row's `error_message`.
///
/// ```
/// async fn backfill() -> Result<u32, std::io::Error> {
///     let run = tracing::info_span!("job_execution", job_id = "ticker_backfill");
///     actionlog::job::try_run(run, async { Ok(3) }).await
/// }
/// ```
pub async fn try_run<T, E, F>(span: tracing::Span, fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let parent = span.clone();
    let out = run(span, fut).await;
    if let Err(e) = &out {
        tracing::error!(parent: &parent, error = %e, "job run failed");
    }
    out
}
