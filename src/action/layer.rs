//! [`ActionLayer`]: reads action records out of spans and events and hands them to the delivery
//! pipeline. The hot path captures and hands off: it never does I/O and never awaits; spans and
//! events without action or column fields cost one scan of their (static) field names.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

use super::capture::{Captured, Fields, Origin};
use super::packed::{PackWriter, Packed, PackedFields};
use super::{INHERITED, new_id, to_value};
use crate::clock::{Clock, SystemClock};
use crate::job::JobLayer;
use crate::pipeline::{self, Intake, PipelineConfig};
use crate::record::{Val, ValHandler, Visitor};
use crate::redact::{REDACTED, Redaction};
use crate::sink::Sink;
use crate::{Error, Guard};

/// Typed fields of a span that is an action or carries column fields, kept in its extensions.
#[derive(Default)]
struct TypedFields(Vec<(&'static str, Value)>);

/// Records into [`TypedFields`], redacting secret-looking names.
struct TypedWriter<'a> {
    fields: &'a mut TypedFields,
    redaction: &'a Redaction,
}

impl ValHandler for TypedWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let v = if self.redaction.hides_field(field.name()) {
            Value::String(REDACTED.to_owned())
        } else {
            to_value(v)
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
    /// The first ERROR event seen inside the span (its `error` field, else its message).
    error: Option<String>,
    /// Column fields of the enclosing spans at creation, innermost first.
    inherited: Vec<(&'static str, Value)>,
}

/// Picks the `error` field (preferred) or the message out of an event.
#[derive(Default)]
pub(crate) struct ErrorText {
    pub(crate) error: Option<String>,
    pub(crate) message: Option<String>,
}

impl ValHandler for &mut ErrorText {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let text = || match to_value(v) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        match field.name() {
            "error" => self.error = Some(text()),
            "message" => self.message = Some(text()),
            _ => {}
        }
    }
}

/// A [`Layer`] turning action spans and events into [`ActionRecord`](super::ActionRecord)s delivered to a database.
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
    intake: Intake,
    redaction: Redaction,
    clock: Arc<dyn Clock>,
    emit_initiated: bool,
}

impl std::fmt::Debug for ActionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionLayer")
            .field("emit_initiated", &self.emit_initiated)
            .finish_non_exhaustive()
    }
}

impl ActionLayer {
    fn writer<'a>(&'a self, fields: &'a mut TypedFields) -> TypedWriter<'a> {
        TypedWriter {
            fields,
            redaction: &self.redaction,
        }
    }

    /// A [`JobLayer`] delivering job runs through this layer's pipeline (same channel, sink,
    /// counters, clock and redaction).
    pub fn job_layer(&self) -> JobLayer {
        JobLayer::new(
            self.intake.clone(),
            self.redaction.clone(),
            self.clock.clone(),
        )
    }

    /// Starts configuring an action layer delivering to `sink`.
    pub fn builder(sink: impl Sink) -> ActionLayerBuilder {
        ActionLayerBuilder {
            sink: Box::new(sink),
            config: PipelineConfig::default(),
            clock: Arc::new(SystemClock),
            emit_initiated: true,
            flush_deadline: crate::DEFAULT_FLUSH_DEADLINE,
            redaction: Redaction::default(),
        }
    }
}

/// The per-layer filter for an [`ActionLayer`]: it lets through exactly what the layer reads
/// (spans and events declaring `action_type` or a column field, and ERROR events), decided once
/// per callsite. Compose with it so that a log-level filter on other layers never hides actions:
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
        *meta.level() == Level::ERROR || declares(meta, "action_type") || declares_columns(meta)
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

fn declares_columns(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields().iter().any(|f| INHERITED.contains(&f.name()))
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
        if let Some(f) = span.extensions().get::<TypedFields>() {
            for (k, v) in &f.0 {
                if INHERITED.contains(k) && !out.iter().any(|(n, _)| n == k) {
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
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let is_action = declares(meta, "action_type");
        if !is_action && !declares_columns(meta) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = TypedFields(Vec::with_capacity(meta.fields().len()));
        attrs.record(&mut Visitor(self.writer(&mut fields)));
        // A job run's own id, for its action record (if it is one) and for what runs inside it.
        // The job span keeps it in its fields, so what runs inside inherits it.
        let explicit = fields.0.iter().find_map(|(k, v)| match v {
            Value::String(s) if *k == "job_execution_id" => Some(s.as_str()),
            _ => None,
        });
        let now = self.clock.now();
        let job_run = crate::job::run_id(&span, now, explicit);
        if let Some(run) = job_run {
            let run = Value::String(run.to_string());
            match fields.0.iter_mut().find(|(k, _)| *k == "job_execution_id") {
                Some(slot) => slot.1 = run,
                None => fields.0.push(("job_execution_id", run)),
            }
        }
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
                        redaction: &self.redaction,
                    }));
                    Fields::Packed(PackedFields { meta, packed })
                };
                self.intake.submit(Captured {
                    id: state.id,
                    at: started,
                    name: meta.name(),
                    origin: Origin::SpanStart,
                    fields: initial,
                    inherited: state.inherited.clone(),
                    first_write: true,
                });
            }
            span.extensions_mut().insert(state);
        }
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<TypedFields>() {
                values.record(&mut Visitor(self.writer(fields)));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let is_action = declares(meta, "action_type");
        let is_error = *meta.level() == Level::ERROR;
        if !is_action && !is_error {
            return;
        }
        if is_error {
            // Fail the innermost enclosing action.
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    let mut ext = span.extensions_mut();
                    if let Some(state) = ext.get_mut::<ActionSpan>() {
                        if state.error.is_none() {
                            let mut t = ErrorText::default();
                            event.record(&mut Visitor(&mut t));
                            state.error =
                                Some(t.error.or(t.message).unwrap_or_else(|| "error".into()));
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
                redaction: &self.redaction,
            }));
            let now = self.clock.now();
            self.intake.submit(Captured {
                id: new_id(now),
                at: now,
                name: meta.name(),
                origin: Origin::Event { is_error },
                fields: Fields::Packed(PackedFields {
                    meta: event.metadata(),
                    packed,
                }),
                inherited: ctx
                    .event_scope(event)
                    .map(|s| inherited(s))
                    .unwrap_or_default(),
                first_write: true,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        let Some(state) = ext.remove::<ActionSpan>() else {
            return;
        };
        // The span is closing: its fields can be moved out rather than cloned.
        let fields = ext.remove::<TypedFields>().map(|f| f.0).unwrap_or_default();
        drop(ext);
        self.intake.submit(Captured {
            id: state.id,
            at: state.started,
            name: span.name(),
            origin: Origin::SpanEnd {
                ended: self.clock.now(),
                error: state.error,
            },
            fields: Fields::Typed(fields),
            inherited: state.inherited,
            // The initiated record, if one was made, wrote this id first.
            first_write: !self.emit_initiated,
        });
    }
}

/// Configures an [`ActionLayer`] and its delivery pipeline.
#[must_use]
pub struct ActionLayerBuilder {
    sink: Box<dyn Sink>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
    emit_initiated: bool,
    flush_deadline: std::time::Duration,
    redaction: Redaction,
}

impl std::fmt::Debug for ActionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionLayerBuilder")
            .field("sink", &self.sink.name())
            .field("config", &self.config)
            .field("emit_initiated", &self.emit_initiated)
            .finish_non_exhaustive()
    }
}

impl ActionLayerBuilder {
    /// Whether an action span yields an `initiated` record at creation (default true).
    pub fn emit_initiated(mut self, on: bool) -> Self {
        self.emit_initiated = on;
        self
    }

    /// Which field names are redacted in action rows (default [`Redaction::default`]).
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.redaction = r;
        self
    }

    /// Delivery settings: channel, batching, overflow, retries, dead-letter directory.
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock for action timestamps and durations (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub(crate) fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long dropping the guard waits for queued records to be delivered (default 5 s).
    pub fn flush_deadline(mut self, d: std::time::Duration) -> Self {
        self.flush_deadline = d;
        self
    }

    /// Starts the delivery worker and returns the layer and its guard.
    ///
    /// # Errors
    /// [`Error::Config`] for out-of-range settings, [`Error::Thread`] if the worker cannot start.
    pub fn build(self) -> Result<(ActionLayer, Guard), Error> {
        let mut config = self.config;
        config.redaction = self.redaction.clone();
        let (intake, worker) = pipeline::start(self.sink, config, self.clock.clone())?;
        let layer = ActionLayer {
            intake,
            redaction: self.redaction,
            clock: self.clock,
            emit_initiated: self.emit_initiated,
        };
        let guard = Guard {
            files: Vec::new(),
            actions: vec![worker],
            flush_deadline: self.flush_deadline,
        };
        Ok((layer, guard))
    }
}
