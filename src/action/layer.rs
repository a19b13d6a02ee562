//! [`ActionLayer`]: reads action records out of spans and events and hands them to the delivery
//! pipeline. The hot path captures and hands off: it never does I/O and never awaits; spans and
//! events without action or column fields cost one scan of their (static) field names.
//! [`ActionFilter`], the per-layer filter that lets through exactly what the layer reads, so
//! that a log-level filter on other layers never hides an action, decides from the same names.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

use super::builder::ActionLayerBuilder;
use crate::clock::{self, Clock, Timezone};
use crate::fields::callsite::{self, Callsite};
use crate::fields::packed::{PackWriter, Packed, PackedFields};
use crate::fields::spans;
use crate::fields::spans::FlatId;
use crate::fields::{
    CaptureSettings, ErrorText, Val, ValHandler, Visitor, error_value, is_error_field, new_id,
    new_id_unix, to_value,
};
use crate::job::JobLayer;
use crate::job::run_id;
use crate::pipeline::Submitter;
use crate::redact::REDACTED;
use crate::rows::{CapturedAction, FailureRule, Fields, Origin, canonical, is_inherited};
use crate::sink::Sink;

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

fn declares(meta: &tracing::Metadata<'_>, name: &str) -> bool {
    meta.fields().field(name).is_some()
}

/// Whether `meta` has a field an action inherits (a column, the request id, under any of the
/// names that fill them).
fn declares_columns(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().iter().any(|f| is_inherited(f.name()))
}

/// Whether `meta` has a field that reports an error (`error`, `exception.message`).
fn declares_error(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().iter().any(|f| is_error_field(f.name()))
}

/// Typed fields of a span that is an action or carries column fields, kept in its extensions.
#[derive(Default)]
struct TypedFields(Vec<(&'static str, Value)>);

/// What this layer keeps in a span's extensions: one entry (one allocation, one lookup), the
/// typed fields and, for an action, its open state.
struct SpanState {
    fields: TypedFields,
    action: Option<ActionSpan>,
}

/// Records into [`TypedFields`], redacting secret-looking names.
struct TypedWriter<'a> {
    fields: &'a mut TypedFields,
    render: &'a CaptureSettings,
    /// The span's callsite under `render`'s redaction: which fields are hidden, decided once.
    callsite: &'a Callsite,
}

impl ValHandler for TypedWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let v = if self.callsite.hides(field, &self.render.redaction) {
            Value::String(REDACTED.to_owned())
        } else {
            let mut v = if is_error_field(field.name()) {
                error_value(v, &self.render.limits)
            } else {
                to_value(v, &self.render.limits)
            };
            self.render.redaction.scrub_value(&mut v);
            v
        };
        match self.fields.0.iter_mut().find(|(k, _)| *k == field.name()) {
            Some(slot) => slot.1 = v,
            None => self.fields.0.push((field.name(), v)),
        }
    }
}

/// The state of an open action span.
struct ActionSpan {
    id: Uuid,
    started: DateTime<Utc>,
    /// The first failing event seen inside the span (its `error` field, else its message;
    /// see [`FailureRule`]).
    error: Option<String>,
    /// Column fields of the enclosing spans at creation, innermost first.
    inherited: Vec<(&'static str, Value)>,
    /// The span's trace context, read at its creation: by its close the OpenTelemetry layer
    /// may have ended its own span and let go of the ids.
    trace: Option<crate::trace::TraceContext>,
}

/// A [`Layer`] turning action spans and events into [`ActionRecord`](crate::ActionRecord)s delivered to a database.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use tracing_subscriber::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let sink = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
/// let (actions, guard) = actionlog::ActionLayer::builder(sink).build().unwrap();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(actions), || {
///     let span = tracing::info_span!("collect", action_type = "data_collection_start", user_id = "ana");
///     span.in_scope(|| tracing::info!("working"));
/// });
/// drop(guard); // delivers what is queued
/// # }
/// ```
pub struct ActionLayer {
    pub(super) submitter: Submitter,
    pub(super) render: CaptureSettings,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) emit_initiated: bool,
    pub(super) jobs: JobSettings,
    pub(super) failure_rule: FailureRule,
    /// This layer's stack of entered spans per thread (`fields::spans`): an event outside
    /// any span skips the registry's scope lookup for inherited columns.
    pub(super) spans: FlatId,
    /// The subscriber this layer is in, for the spans' OpenTelemetry contexts (`trace`).
    pub(super) registration: crate::trace::Registration,
}

/// What the job layer made from an action layer starts with.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobSettings {
    pub(super) max_job_log_bytes: usize,
    pub(super) tz: Timezone,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            max_job_log_bytes: crate::job::DEFAULT_MAX_JOB_LOG_BYTES,
            tz: Timezone::default(),
        }
    }
}

impl std::fmt::Debug for ActionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionLayer")
            .field("emit_initiated", &self.emit_initiated)
            .finish_non_exhaustive()
    }
}

impl ActionLayer {
    fn writer<'a>(
        &'a self,
        fields: &'a mut TypedFields,
        callsite: &'a Callsite,
    ) -> TypedWriter<'a> {
        TypedWriter {
            fields,
            render: &self.render,
            callsite,
        }
    }

    /// A [`JobLayer`] delivering job runs through this layer's pipeline (same channel, sink,
    /// counters, clock, redaction, size caps and [`FailureRule`]; the builder's job settings).
    pub fn job_layer(&self) -> JobLayer {
        JobLayer::new(
            self.submitter.clone(),
            self.render.clone(),
            self.clock.clone(),
        )
        .max_job_log_bytes(self.jobs.max_job_log_bytes)
        .timezone(self.jobs.tz)
        .failure_rule(self.failure_rule)
    }

    /// Starts configuring an action layer delivering to `sink`.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let dir = tempfile::tempdir().unwrap();
    /// let sink = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
    /// let (actions, guard) = actionlog::ActionLayer::builder(sink)
    ///     .log_dir(dir.path()) // spool and dead letters
    ///     .emit_initiated(false)
    ///     .build()
    ///     .unwrap();
    /// # let _ = (actions, guard); }
    /// ```
    pub fn builder(sink: impl Sink) -> ActionLayerBuilder {
        ActionLayerBuilder::without_sink().sink_boxed(Box::new(sink))
    }
}

/// An instant as [`Clock::unix_now`] gives it.
fn unix(t: DateTime<Utc>) -> (i64, u32) {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

/// Column fields of the enclosing spans of `parent`, innermost first, each name once.
fn inherited<'a, S>(
    scope: impl Iterator<Item = tracing_subscriber::registry::SpanRef<'a, S>>,
) -> Vec<(&'static str, Value)>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    for span in scope {
        if let Some(f) = span.extensions().get::<SpanState>() {
            for (k, v) in &f.fields.0 {
                if is_inherited(k) && !out.iter().any(|(n, _)| canonical(n) == canonical(k)) {
                    out.push((k, v.clone()));
                }
            }
        }
    }
    out
}

impl<S> Layer<S> for ActionLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        self.registration.on_register_dispatch(dispatch);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let is_action = declares(meta, "action_type");
        if !is_action && !declares_columns(meta) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        crate::trace::on_new_span(attrs, &span, &self.registration);
        let mut fields = TypedFields(Vec::with_capacity(meta.fields().len()));
        let cs = callsite::get(meta, &self.render.redaction, false);
        attrs.record(&mut Visitor(self.writer(&mut fields, &cs)));
        // A job run's own id, for its action record (if it is one) and for what runs inside it.
        // The job span keeps it in its fields, so what runs inside inherits it.
        let explicit = fields.0.iter().find_map(|(k, v)| match v {
            Value::String(s) if *k == "job_execution_id" => Some(s.as_str()),
            _ => None,
        });
        let now = clock::now_fast(&*self.clock);
        let job_run = run_id(&span, now, explicit);
        if let Some(run) = job_run {
            let run = Value::String(run.to_string());
            match fields.0.iter_mut().find(|(k, _)| *k == "job_execution_id") {
                Some(slot) => slot.1 = run,
                None => fields.0.push(("job_execution_id", run)),
            }
        }
        let mut action = None;
        if is_action {
            let started = now;
            let state = ActionSpan {
                id: new_id(started),
                started,
                error: None,
                inherited: span
                    .parent()
                    .map(|p| inherited(p.scope()))
                    .unwrap_or_default(),
                trace: crate::trace::of_span(&span),
            };
            if self.emit_initiated {
                // The creation fields, packed like an event's (no copy of the span's values);
                // a job span's fields also hold its run id, which the attributes do not.
                let initial = if job_run.is_some() {
                    Fields::Typed(fields.0.clone())
                } else {
                    let mut packed = Packed::new();
                    attrs.record(&mut Visitor(PackWriter {
                        out: &mut packed,
                        render: &self.render,
                        callsite: &cs,
                    }));
                    Fields::Packed(PackedFields { meta, packed })
                };
                self.submitter.submit(CapturedAction {
                    id: state.id,
                    at: unix(started),
                    name: meta.name(),
                    origin: Origin::SpanStart,
                    fields: initial,
                    inherited: state.inherited.clone(),
                    first_write: true,
                    trace: state.trace,
                });
            }
            action = Some(state);
        }
        span.extensions_mut().insert(SpanState { fields, action });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            crate::trace::on_record(values, &span);
            if let Some(SpanState { fields, .. }) = span.extensions_mut().get_mut::<SpanState>() {
                let cs = callsite::get(span.metadata(), &self.render.redaction, false);
                values.record(&mut Visitor(self.writer(fields, &cs)));
            }
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        spans::enter(self.spans, id);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        spans::exit(self.spans, id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        // Decided once per callsite (the packing below needs the callsite's decisions too).
        let cs = callsite::get(meta, &self.render.redaction, false);
        let is_action = cs.action_type;
        // Only events the filter let through get here: action events, ERROR events, and
        // those with a column or error field.
        let fails = self.failure_rule.fails(meta.level(), || cs.error_field);
        if !is_action && !fails {
            return;
        }
        let in_span = !(event.is_contextual() && spans::outside_spans(self.spans));
        if fails && in_span {
            // Fail the innermost enclosing action.
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    let mut ext = span.extensions_mut();
                    if let Some(state) = ext.get_mut::<SpanState>().and_then(|s| s.action.as_mut())
                    {
                        if state.error.is_none() {
                            state.error = Some(ErrorText::of(event, &self.render.limits));
                        }
                        break;
                    }
                }
            }
        }
        if is_action {
            let mut packed = Packed::new();
            event.record(&mut Visitor(PackWriter {
                out: &mut packed,
                render: &self.render,
                callsite: &cs,
            }));
            // Raw seconds and nanoseconds: the id's milliseconds and the record's time without
            // chrono's calendar arithmetic on the caller.
            let now = self.clock.unix_now();
            self.submitter.submit(CapturedAction {
                id: new_id_unix(now),
                at: now,
                name: meta.name(),
                origin: Origin::Event { fails },
                fields: Fields::Packed(PackedFields {
                    meta: event.metadata(),
                    packed,
                }),
                inherited: if in_span {
                    ctx.event_scope(event)
                        .map(|s| inherited(s))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
                first_write: true,
                trace: if in_span {
                    ctx.event_span(event)
                        .and_then(|s| crate::trace::of_span(&s))
                } else {
                    None
                },
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        // The span is closing: its fields can be moved out rather than cloned.
        let Some(SpanState {
            fields: TypedFields(fields),
            action: Some(state),
        }) = ext.remove::<SpanState>()
        else {
            return;
        };
        drop(ext);
        self.submitter.submit(CapturedAction {
            id: state.id,
            at: unix(state.started),
            name: span.name(),
            origin: Origin::SpanEnd {
                ended: clock::now_fast(&*self.clock),
                error: state.error,
            },
            fields: Fields::Typed(fields),
            inherited: state.inherited,
            // The initiated record, if one was made, wrote this id first.
            first_write: !self.emit_initiated,
            trace: state.trace,
        });
    }
}
