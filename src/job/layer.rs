//! [`JobLayer`]: turns `job_execution` spans into [`JobExecution`] rows and keeps every event of
//! a run as a log line of that row. Each span notes, once, the run it sits in, so an event
//! finds its run (or that it has none) with one look at its own span.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use tracing::field::Field;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

use super::DEFAULT_MAX_JOB_LOG_BYTES;
use super::{RunId, is_job_span, run_id};
use crate::clock::{Clock, Timezone};
use crate::fields::spans::SpanTracking;
use crate::fields::{
    CaptureSettings, ErrorText, Val, ValHandler, Visitor, error_value, event, is_error_field,
    new_id, text_of, to_value,
};
use crate::pipeline::Submitter;
use crate::redact::REDACTED;
use crate::rows::{FailureRule, JobExecution};

/// The field of the marker event [`super::run`] emits when a run is dropped unfinished.
pub(crate) const CANCEL_FIELD: &str = "job_cancelled";

/// In a span inside a run (at any depth): the run's span.
struct InRun(Id);

/// The state of an open run.
struct Run {
    started: DateTime<Utc>,
    job_id: String,
    metadata: Map<String, Value>,
    /// `status` and `error` as recorded on the span.
    status: Option<String>,
    error_field: Option<String>,
    /// The first ERROR event inside the run.
    error: Option<String>,
    cancelled: bool,
    /// The run was left by a panic unwinding through it.
    panicked: bool,
    /// A `job_execution_id` the span was given.
    explicit_id: Option<String>,
    logs: String,
    /// Bytes of log lines left out once the cap was reached.
    cut: usize,
    /// The run span's trace context, read when the run starts: by its end the OpenTelemetry
    /// layer may have ended its own span and let go of the ids.
    trace: Option<crate::trace::TraceContext>,
}

/// Records span fields into a [`Run`], redacting secret-looking names.
struct RunWriter<'a> {
    run: &'a mut Run,
    render: &'a CaptureSettings,
}

impl ValHandler for RunWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let name = field.name();
        let v = if self.render.redaction.hides_field(name) {
            Value::String(REDACTED.to_owned())
        } else {
            let mut v = if is_error_field(name) {
                error_value(v, &self.render.limits)
            } else {
                to_value(v, &self.render.limits)
            };
            self.render.redaction.scrub_value(&mut v);
            v
        };
        let text = text_of;
        match name {
            "job_id" => self.run.job_id = text(v),
            "status" => self.run.status = Some(text(v)),
            n if is_error_field(n) || n == "error_message" => self.run.error_field = Some(text(v)),
            "job_execution_id" => self.run.explicit_id = Some(text(v)),
            "next_scheduled_run" => {
                // Normalised so the scheduled_jobs upkeep can read it back safely; a value
                // that is not a time is kept under another name.
                let s = text(v);
                match DateTime::parse_from_rfc3339(&s) {
                    Ok(t) => {
                        let t = t
                            .with_timezone(&Utc)
                            .to_rfc3339_opts(SecondsFormat::Micros, true);
                        self.run.metadata.insert(name.into(), Value::String(t));
                    }
                    Err(_) => {
                        self.run
                            .metadata
                            .insert("next_scheduled_run_unparsed".into(), Value::String(s));
                    }
                }
            }
            _ => {
                self.run.metadata.insert(name.to_owned(), v);
            }
        }
    }
}

/// A [`Layer`] turning `job_execution` spans into `job_executions` rows (see [`crate::job`]),
/// delivered through the pipeline of the [`crate::ActionLayer`] it was made from
/// ([`crate::ActionLayer::job_layer`]).
///
/// Filter it with [`JobFilter`](crate::JobFilter), so that runs are recorded whatever the log level while their
/// captured lines follow the log filter:
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use tracing_subscriber::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let sink = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
/// let (actions, guard) = actionlog::ActionLayer::builder(sink).build().unwrap();
/// let jobs = actions.job_layer();
/// let subscriber = tracing_subscriber::registry()
///     .with(jobs.with_filter(actionlog::JobFilter::new(tracing_subscriber::EnvFilter::new("info"))))
///     .with(actions.with_filter(actionlog::ActionFilter));
/// tracing::subscriber::with_default(subscriber, || {
///     let run = tracing::info_span!("job_execution", job_id = "data_collection");
///     run.in_scope(|| tracing::info!(records = 12, "collected"));
/// });
/// drop(guard); // delivers the run, with its one log line
/// # }
/// ```
pub struct JobLayer {
    submitter: Submitter,
    clock: Arc<dyn Clock>,
    tz: Timezone,
    max_job_log_bytes: usize,
    failure_rule: FailureRule,
    /// Redaction, caps and span fields, for the runs' fields and their log lines.
    spans: SpanTracking,
}

impl std::fmt::Debug for JobLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLayer")
            .field("max_job_log_bytes", &self.max_job_log_bytes)
            .finish_non_exhaustive()
    }
}

impl JobLayer {
    pub(crate) fn new(
        submitter: Submitter,
        render: CaptureSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        JobLayer {
            submitter,
            clock,
            tz: Timezone::default(),
            max_job_log_bytes: DEFAULT_MAX_JOB_LOG_BYTES,
            failure_rule: FailureRule::default(),
            spans: SpanTracking::new(render, false),
        }
    }

    /// Cap on a run's captured `logs` (default [`DEFAULT_MAX_JOB_LOG_BYTES`]); lines past it are
    /// left out and counted in a `…[truncated N bytes]` marker at the end.
    #[must_use]
    pub fn max_job_log_bytes(mut self, n: usize) -> Self {
        self.max_job_log_bytes = n;
        self
    }

    /// The zone of the captured lines' timestamps (default: local time, like the console).
    #[must_use]
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self
    }

    /// Which events fail the run they happen in (default: the action layer's, see
    /// [`FailureRule`]).
    #[must_use]
    pub fn failure_rule(mut self, rule: FailureRule) -> Self {
        self.failure_rule = rule;
        self
    }

    /// The clock for run times and log lines (default: the action layer's).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn finish(&self, run: Run, id: Uuid) -> JobExecution {
        let ended = self.clock.now();
        let failed_status = matches!(run.status.as_deref(), Some("failed"));
        let panicked = run.panicked || std::thread::panicking();
        let status = if run.cancelled || run.status.as_deref() == Some("cancelled") {
            "cancelled"
        } else if failed_status || run.error_field.is_some() || run.error.is_some() || panicked {
            "failed"
        } else {
            "success"
        };
        let mut row = JobExecution::new(id, &run.job_id, status, run.started);
        row.completed_at = Some(ended);
        let micros = (ended - run.started).num_microseconds().unwrap_or(0).max(0);
        row.duration_seconds = Some(micros as f64 / 1e6);
        if status == "failed" {
            row.error_message = run
                .error_field
                .or(run.error)
                .or_else(|| panicked.then(|| "panicked".to_owned()))
                .or_else(|| Some("failed".to_owned()));
        }
        let mut logs = run.logs;
        if logs.ends_with('\n') {
            logs.pop();
        }
        if run.cut > 0 {
            if !logs.is_empty() {
                logs.push('\n');
            }
            logs.push_str(&crate::limits::marker(run.cut));
        }
        row.logs = logs;
        row.metadata = run.metadata;
        row.trace_id = run.trace.map(|t| t.trace_hex());
        row.span_id = run.trace.map(|t| t.span_hex());
        row
    }
}

impl<S> Layer<S> for JobLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        self.spans.on_register_dispatch(dispatch);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Span fields for the captured lines' metadata.
        self.spans.on_new_span(attrs, id, &ctx, &*self.clock);
        let Some(span) = ctx.span(id) else { return };
        if !is_job_span(attrs.metadata()) {
            // Remember the run this span sits in, once, so that an event inside it finds the
            // run in one look instead of walking up its spans. (The registry keeps a span open
            // while it has children, so the run's id cannot be reused meanwhile.)
            let run = span.parent().and_then(|parent| {
                let ext = parent.extensions();
                if ext.get::<Run>().is_some() {
                    Some(parent.id())
                } else {
                    ext.get::<InRun>().map(|r| r.0.clone())
                }
            });
            if let Some(run) = run {
                span.extensions_mut().insert(InRun(run));
            }
            return;
        }
        let now = self.clock.now();
        let mut run = Run {
            started: now,
            job_id: String::new(),
            metadata: Map::new(),
            status: None,
            error_field: None,
            error: None,
            cancelled: false,
            panicked: false,
            explicit_id: None,
            logs: String::new(),
            cut: 0,
            trace: None,
        };
        attrs.record(&mut Visitor(RunWriter {
            run: &mut run,
            render: &self.spans.settings,
        }));
        run_id(&span, now, run.explicit_id.as_deref());
        run.trace = crate::trace::of_span(&span);
        span.extensions_mut().insert(run);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.spans.on_record(id, values, &ctx);
        if let Some(span) = ctx.span(id) {
            if let Some(run) = span.extensions_mut().get_mut::<Run>() {
                values.record(&mut Visitor(RunWriter {
                    run,
                    render: &self.spans.settings,
                }));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(leaf) = ctx.event_span(event) else {
            return;
        };
        let run = {
            let ext = leaf.extensions();
            if ext.get::<Run>().is_some() {
                Some(leaf.id())
            } else {
                ext.get::<InRun>().map(|r| r.0.clone())
            }
        };
        let Some(span) = run.and_then(|id| ctx.span(&id)) else {
            return;
        };
        let meta = event.metadata();
        let cancel = meta.fields().field(CANCEL_FIELD).is_some();
        let error = self
            .failure_rule
            .fails_event(meta)
            .then(|| ErrorText::of(event, &self.spans.settings.limits));
        let stamp = crate::format::time::stamp_unix(self.clock.unix_now(), self.tz);
        let seps = crate::format::console::SEPS;
        event::capture(event, &ctx, &self.spans, seps, |s, logger| {
            crate::format::console::write_line(
                &mut s.line,
                &stamp,
                meta.level(),
                false,
                &s.message,
                logger,
                None,
                &s.meta,
            );
            let mut ext = span.extensions_mut();
            let Some(run) = ext.get_mut::<Run>() else {
                return;
            };
            run.cancelled |= cancel;
            if run.error.is_none() {
                run.error = error;
            }
            if run.cut > 0 || run.logs.len() + s.line.len() > self.max_job_log_bytes {
                run.cut += s.line.len();
            } else {
                // Lines are built from `str`s and escaped: always UTF-8.
                run.logs.push_str(&String::from_utf8_lossy(&s.line));
            }
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.spans.on_enter(id, &ctx, &*self.clock);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.spans.on_exit(id, &ctx, &*self.clock);
        // A panic unwinding out of the run fails it, even when the span itself is closed later,
        // outside the unwinding (a `catch_unwind` around `in_scope`).
        if std::thread::panicking() {
            if let Some(span) = ctx.span(id) {
                if let Some(run) = span.extensions_mut().get_mut::<Run>() {
                    run.panicked = true;
                }
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        let Some(run) = ext.remove::<Run>() else {
            return;
        };
        let run_id = ext.get_mut::<RunId>().map(|r| r.0);
        drop(ext);
        let run_id = run_id.unwrap_or_else(|| new_id(run.started));
        self.submitter.submit_job(self.finish(run, run_id));
    }
}
