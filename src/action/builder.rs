//! [`ActionLayerBuilder`]: the action layer's settings and its pipeline's, with the defaults
//! of [`crate::init`], ending in [`ActionLayerBuilder::build`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::layer::{ActionLayer, JobSettings};
use crate::clock::{Clock, SystemClock, Timezone};
use crate::error::Error;
use crate::fields::CaptureSettings;
use crate::fields::spans::FlatId;
use crate::guard::Guard;
use crate::limits::Limits;
use crate::pipeline::{self, PipelineConfig};
use crate::redact::Redaction;
use crate::rows::FailureRule;
use crate::sink::Sink;

/// Configures an [`ActionLayer`], the [`crate::JobLayer`] made from it, and their delivery pipeline.
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
    render: CaptureSettings,
    jobs: JobSettings,
    failure_rule: FailureRule,
    /// Where the spool and dead letters go unless the pipeline config names them.
    log_dir: PathBuf,
}

impl std::fmt::Debug for ActionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionLayerBuilder")
            .field("sink", &self.sink.as_ref().map(|s| s.name()))
            .field("config", &self.config)
            .field("emit_initiated", &self.emit_initiated)
            .field("failure_rule", &self.failure_rule)
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
            render: CaptureSettings::default(),
            jobs: JobSettings::default(),
            failure_rule: FailureRule::default(),
            log_dir: PathBuf::from("logs"),
        }
    }

    /// Delivers to `sink`.
    pub(crate) fn sink_boxed(mut self, sink: Box<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The sink given, if any.
    pub(crate) fn sink(&self) -> Option<&dyn Sink> {
        self.sink.as_deref()
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
        self.log_dir = dir.as_ref().to_path_buf();
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
    /// [`crate::job::DEFAULT_MAX_JOB_LOG_BYTES`]); see [`crate::JobLayer::max_job_log_bytes`].
    pub fn max_job_log_bytes(mut self, n: usize) -> Self {
        self.jobs.max_job_log_bytes = n;
        self
    }

    /// The zone of the timestamps in job runs' captured lines (default: local time).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.jobs.tz = tz;
        self
    }

    /// Which events fail the action or job run they happen in (default
    /// [`FailureRule::ErrorEventsAndErrorFields`]: ERROR events, and events of any level with
    /// an `error` field).
    pub fn failure_rule(mut self, rule: FailureRule) -> Self {
        self.failure_rule = rule;
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
        config.log_dir = self.log_dir;
        let (submitter, handle) = pipeline::start(sink, config, self.clock.clone())?;
        let layer = ActionLayer {
            submitter,
            render: self.render,
            clock: self.clock,
            emit_initiated: self.emit_initiated,
            jobs: self.jobs,
            failure_rule: self.failure_rule,
            spans: FlatId::new(),
            registration: crate::trace::Registration::default(),
        };
        Ok((layer, Guard::new(handle, self.flush_deadline)))
    }
}
