//! [`ActionFilter`]: the per-layer filter that lets through exactly what the action layer reads,
//! so that a log-level filter on other layers never hides an action.

use tracing::Level;
use tracing_subscriber::layer::Context;

use crate::fields::is_error_field;
use crate::rows::is_inherited;

/// The per-layer filter for an [`ActionLayer`](crate::ActionLayer): it lets through exactly what the layer reads
/// (spans and events declaring `action_type`, a column field or an error field, and ERROR
/// events), decided once per callsite. Compose with it so that a log-level filter on other layers never hides actions:
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use tracing_subscriber::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let sink = actionlog::sink::SqliteSink::open(dir.path().join("a.db")).unwrap();
/// let (actions, _guard) = actionlog::ActionLayer::builder(sink).build().unwrap();
/// let (files, _files_guard) = actionlog::FileLayer::builder(dir.path()).build().unwrap();
/// let subscriber = tracing_subscriber::registry()
///     .with(files.with_filter(tracing_subscriber::EnvFilter::new("warn")))
///     .with(actions.with_filter(actionlog::ActionFilter));
/// # let _ = subscriber; }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionFilter;

impl ActionFilter {
    fn wants(meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() == Level::ERROR
            || declares(meta, "action_type")
            || declares_columns(meta)
            || declares_error(meta)
    }
}

impl<S> tracing_subscriber::layer::Filter<S> for ActionFilter {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::wants(meta)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::Interest {
        if Self::wants(meta) {
            tracing_core::Interest::always()
        } else {
            tracing_core::Interest::never()
        }
    }
}

pub(super) fn declares(meta: &tracing::Metadata<'_>, name: &str) -> bool {
    meta.fields().field(name).is_some()
}

/// Whether `meta` has a field an action inherits (a column, the request id, under any of the
/// names that fill them).
pub(super) fn declares_columns(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().iter().any(|f| is_inherited(f.name()))
}

/// Whether `meta` has a field that reports an error (`error`, `exception.message`).
pub(super) fn declares_error(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().iter().any(|f| is_error_field(f.name()))
}
