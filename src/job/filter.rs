//! [`JobFilter`]: the per-layer filter of the job layer. Job spans always pass, so a run is
//! recorded whatever the log level; everything else follows the log filter, so a run's `logs`
//! hold what the files do.

use tracing::Event;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Filter};

use super::is_job_span;
use super::layer::CANCEL_FIELD;

/// The per-layer filter for a [`JobLayer`](crate::JobLayer): job spans (and the cancellation marker of
/// [`super::run`]) always pass, so a run is recorded whatever the log level; every other span
/// and event is decided by `inner`, the log filter, so a run's `logs` hold what the files do.
#[derive(Debug)]
pub struct JobFilter<F> {
    inner: F,
}

impl<F> JobFilter<F> {
    /// Wraps the log filter (e.g. the same `EnvFilter` directives as the files).
    pub fn new(inner: F) -> Self {
        JobFilter { inner }
    }
}

fn always(meta: &tracing::Metadata<'_>) -> bool {
    is_job_span(meta) || (meta.is_event() && meta.fields().field(CANCEL_FIELD).is_some())
}

impl<S, F: Filter<S>> Filter<S> for JobFilter<F> {
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        always(meta) || self.inner.enabled(meta, cx)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::Interest {
        if always(meta) {
            tracing_core::Interest::always()
        } else {
            self.inner.callsite_enabled(meta)
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        always(event.metadata()) || self.inner.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Job spans pass at any level.
        None
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }
}
