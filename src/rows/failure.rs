//! [`FailureRule`]: which events inside an action or a job run fail it. The rule is the one
//! `tracing` users already write failures with: an ERROR event, or an `error` field at any
//! level (what `#[instrument(err)]` emits, at whatever level `err(level = …)` gives it).

use tracing::{Level, Metadata};

use crate::fields::is_error_field;

/// Which events fail the action or job run they happen in (the innermost enclosing one).
///
/// Whatever the rule, a `status = "failed"` or an `error` field recorded on the action's span
/// itself fails it, and a panic unwinding out of a job run fails the run. The failing event's
/// `error` field (else its message) becomes `error_message`.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// let dir = tempfile::tempdir().unwrap();
/// let sink = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
/// let (actions, _guard) = actionlog::ActionLayer::builder(sink)
///     .failure_rule(actionlog::FailureRule::ErrorEvents) // a WARN with `error` no longer fails
///     .build()
///     .unwrap();
/// # let _ = actions; }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailureRule {
    /// An ERROR event, or an event of any level with an `error` (or `exception.message`)
    /// field: `#[tracing::instrument(err(level = "warn"))]` fails the action it returns an
    /// error from. The default.
    #[default]
    ErrorEventsAndErrorFields,
    /// ERROR events only: an `error` field on a WARN or INFO event is just a field.
    ErrorEvents,
}

impl FailureRule {
    /// Whether an event at `level` fails the action or run it happens in; `error_field`: it
    /// has a field that reports an error (decided once per callsite where a cache has it).
    pub(crate) fn fails(self, level: &Level, error_field: impl FnOnce() -> bool) -> bool {
        *level == Level::ERROR || (self == FailureRule::ErrorEventsAndErrorFields && error_field())
    }

    /// [`Self::fails`] for an event with `meta`, its fields looked at by name.
    pub(crate) fn fails_event(self, meta: &Metadata<'_>) -> bool {
        self.fails(meta.level(), || {
            meta.fields().iter().any(|f| is_error_field(f.name()))
        })
    }
}
