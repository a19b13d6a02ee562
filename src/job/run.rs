//! [`run`]: drives a job's future inside its `job_execution` span and records the run as
//! `cancelled` if the future is dropped before it finishes (a timeout, an aborted task, a
//! shutdown), which the span alone cannot tell; and a run's identity: which spans are runs
//! ([`is_job_span`]) and the run's id ([`run_id`]), made by whichever layer asks first so the
//! action and job layers agree.

use std::future::Future;

use chrono::{DateTime, Utc};
use tracing::{Instrument, Subscriber};
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use uuid::Uuid;

use crate::fields::new_id;

/// The span name that marks a job execution.
pub const SPAN_NAME: &str = "job_execution";

/// Whether a span with this metadata is a job execution.
pub(crate) fn is_job_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == SPAN_NAME && meta.fields().field("job_id").is_some()
}

/// The run id of a job span, kept in its extensions; made by whichever of our layers asks
/// first, so the action layer and the job layer agree whatever their order.
#[derive(Clone, Copy)]
pub(crate) struct RunId(pub(crate) Uuid);

/// The run id of `span`, creating it if the span is a job span without one yet: the span's own
/// `job_execution_id` field when it holds a UUID, else a new UUID v7 for `now`.
pub(crate) fn run_id<S>(
    span: &SpanRef<'_, S>,
    now: DateTime<Utc>,
    explicit: Option<&str>,
) -> Option<Uuid>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !is_job_span(span.metadata()) {
        return None;
    }
    if let Some(id) = span.extensions().get::<RunId>() {
        return Some(id.0);
    }
    let id = explicit
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| new_id(now));
    span.extensions_mut().insert(RunId(id));
    Some(id)
}

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
