//! [`ActionLayer`]: reads action records out of spans and events and hands them to the delivery
//! pipeline. The hot path captures and hands off: it never does I/O and never awaits; spans and
//! events without action or column fields cost one scan of their (static) field names.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

use super::filter::{declares, declares_columns};
use crate::clock::{Clock, SystemClock, Timezone};
use crate::error::Error;
use crate::fields::packed::{PackWriter, Packed, PackedFields};
use crate::fields::span::run_id;
use crate::fields::{ErrorText, Render, Val, ValHandler, Visitor, new_id, to_value};
use crate::guard::Guard;
use crate::job::JobLayer;
use crate::limits::Limits;
use crate::pipeline::{self, Intake, PipelineConfig};
use crate::redact::{REDACTED, Redaction};
use crate::rows::{Captured, Fields, INHERITED, Origin};
use crate::sink::Sink;

/// Typed fields of a span that is an action or carries column fields, kept in its extensions.
#[derive(Default)]
struct TypedFields(Vec<(&'static str, Value)>);

/// Records into [`TypedFields`], redacting secret-looking names.
struct TypedWriter<'a> {
    fields: &'a mut TypedFields,
    render: &'a Render,
}

impl ValHandler for TypedWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let v = if self.render.redaction.hides_field(field.name()) {
            Value::String(REDACTED.to_owned())
        } else {
            to_value(v, &self.render.limits)
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
    render: Render,
    clock: Arc<dyn Clock>,
    emit_initiated: bool,
    jobs: JobSettings,
}

/// What the job layer made from an action layer starts with.
#[derive(Debug, Clone, Copy)]
struct JobSettings {
    max_log_bytes: usize,
    tz: Timezone,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            max_log_bytes: crate::job::DEFAULT_MAX_LOG_BYTES,
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
    fn writer<'a>(&'a self, fields: &'a mut TypedFields) -> TypedWriter<'a> {
        TypedWriter {
            fields,
            render: &self.render,
        }
    }

    /// A [`JobLayer`] delivering job runs through this layer's pipeline (same channel, sink,
    /// counters, clock, redaction and size caps; the builder's job settings).
    pub fn job_layer(&self) -> JobLayer {
        JobLayer::new(self.intake.clone(), self.render.clone(), self.clock.clone())
            .max_log_bytes(self.jobs.max_log_bytes)
            .timezone(self.jobs.tz)
    }

    /// Starts configuring an action layer delivering to `sink`.
    pub fn builder(sink: impl Sink) -> ActionLayerBuilder {
        ActionLayerBuilder::without_sink().sink_boxed(Box::new(sink))
    }
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
        let job_run = run_id(&span, now, explicit);
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
                        render: &self.render,
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

/// Configures an [`ActionLayer`], the [`JobLayer`] made from it, and their delivery pipeline.
///
/// The defaults are those of [`crate::init`]: spool and dead letters under `logs/` (set
/// [`Self::log_dir`]), default redaction and size caps, the system clock.
#[must_use]
pub struct ActionLayerBuilder {
    sink: Option<Box<dyn Sink>>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
    emit_initiated: bool,
    flush_deadline: Duration,
    render: Render,
    jobs: JobSettings,
}

impl std::fmt::Debug for ActionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionLayerBuilder")
            .field("sink", &self.sink.as_ref().map(|s| s.name()))
            .field("config", &self.config)
            .field("emit_initiated", &self.emit_initiated)
            .finish_non_exhaustive()
    }
}

impl ActionLayerBuilder {
    /// A builder whose sink is chosen later (by [`crate::Builder`]).
    pub(crate) fn without_sink() -> Self {
        ActionLayerBuilder {
            sink: None,
            config: PipelineConfig::default(),
            clock: Arc::new(SystemClock),
            emit_initiated: true,
            flush_deadline: crate::file::DEFAULT_FLUSH_DEADLINE,
            render: Render::default(),
            jobs: JobSettings::default(),
        }
    }

    /// Delivers to `sink`.
    pub(crate) fn sink_boxed(mut self, sink: Box<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Whether a sink was given.
    pub(crate) fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Whether an action span yields an `initiated` record at creation (default true).
    pub fn emit_initiated(mut self, on: bool) -> Self {
        self.emit_initiated = on;
        self
    }

    /// Which field names are redacted in action rows and job runs (default
    /// [`Redaction::default`]).
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.render.redaction = r;
        self
    }

    /// Size caps on field values (default [`Limits::default`]).
    pub fn limits(mut self, l: Limits) -> Self {
        self.render.limits = l;
        self
    }

    /// Delivery settings: channel, batching, overflow, retries, spool and dead-letter
    /// directories. A directory set here wins over [`Self::log_dir`].
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// The directory under which the spool (`spool/`) and the dead-letter files
    /// (`dead-letter/`) live (default `logs`, like the day files of [`crate::init`]).
    pub fn log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.config.log_dir = dir.as_ref().to_path_buf();
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
    pub fn flush_deadline(mut self, d: Duration) -> Self {
        self.flush_deadline = d;
        self
    }

    /// Cap on the log lines kept with each job run (default
    /// [`crate::job::DEFAULT_MAX_LOG_BYTES`]); see [`JobLayer::max_log_bytes`].
    pub fn job_log_bytes(mut self, n: usize) -> Self {
        self.jobs.max_log_bytes = n;
        self
    }

    /// The zone of the timestamps in job runs' captured lines (default: local time).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.jobs.tz = tz;
        self
    }

    /// Starts the delivery worker and returns the layer and its guard.
    ///
    /// # Errors
    /// [`Error::Config`] for out-of-range settings (or no sink), [`Error::Thread`] if the
    /// worker cannot start.
    pub fn build(self) -> Result<(ActionLayer, Guard), Error> {
        let sink = self
            .sink
            .ok_or(Error::Config("the action layer needs a sink"))?;
        let mut config = self.config;
        config.redaction = self.render.redaction.clone();
        let (intake, handle) = pipeline::start(sink, config, self.clock.clone())?;
        let layer = ActionLayer {
            intake,
            render: self.render,
            clock: self.clock,
            emit_initiated: self.emit_initiated,
            jobs: self.jobs,
        };
        Ok((layer, Guard::new(handle, self.flush_deadline)))
    }
}
