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
use crate::pipeline::{self, PipelineConfig, Store};
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
    /// Stores beside the first ([`Self::also_sink`]), each with its own pipeline.
    also: Vec<AddedStore>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
    emit_initiated: bool,
    flush_deadline: Duration,
    render: CaptureSettings,
    jobs: JobSettings,
    failure_rule: FailureRule,
    /// Where the spool and dead letters go unless the pipeline config names them.
    log_dir: PathBuf,
    /// Signed digests over what every store takes.
    #[cfg(feature = "audit")]
    audit: Option<crate::audit::Audit>,
}

/// Changes an added store's delivery settings from the first store's (see
/// [`ActionLayerBuilder::also_sink_with`]).
type Settings = Box<dyn FnOnce(PipelineConfig) -> PipelineConfig + Send>;

/// A store added beside the first, and how its settings differ.
struct AddedStore {
    sink: Box<dyn Sink>,
    settings: Option<Settings>,
}

impl std::fmt::Debug for ActionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let also: Vec<_> = self.also.iter().map(|a| a.sink.name()).collect();
        f.debug_struct("ActionLayerBuilder")
            .field("sink", &self.sink.as_ref().map(|s| s.name()))
            .field("also", &also)
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
            also: Vec::new(),
            config: PipelineConfig::default(),
            clock: Arc::new(SystemClock),
            emit_initiated: true,
            flush_deadline: crate::file::DEFAULT_FLUSH_DEADLINE,
            render: CaptureSettings::default(),
            jobs: JobSettings::default(),
            failure_rule: FailureRule::default(),
            log_dir: PathBuf::from("logs"),
            #[cfg(feature = "audit")]
            audit: None,
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

    /// The stores added beside the first, in the order given.
    pub(crate) fn added_sinks(&self) -> impl Iterator<Item = &dyn Sink> {
        self.also.iter().map(|a| a.sink.as_ref())
    }

    /// Also delivers every action record and job run to `sink`, beside the first store (the
    /// one given to [`ActionLayer::builder`]) and any other added, through a pipeline of its
    /// own: its own queue, worker thread, retries, spool and dead-letter file, with the first
    /// store's delivery settings ([`Self::pipeline`]). A store that is down or slow holds only
    /// its own records — they wait in its spool — while the others go on delivering, and each
    /// store receives each record once. A full queue drops, under its overflow policy, for its
    /// own store only, counted in that store's [`crate::StoreStats`].
    ///
    /// Its spool and dead-letter files go to `<log_dir>/stores/<name>-<hash>/spool/` and
    /// `…/dead-letter/` — `<name>` the sink's [`Sink::name`], `<hash>` the CRC-32 of its
    /// [`Sink::target`] in 8 hex digits, e.g. `stores/postgres-1c291ca3/` — stable from one
    /// run to the next, so a restart replays each store's spool to that store only. The first
    /// store keeps `spool/` and `dead-letter/`. [`Self::also_sink_with`] sets them otherwise.
    ///
    /// One store given twice (the same name and target) fails [`Self::build`] with
    /// [`Error::DuplicateStore`]; a sink that names no target is known by its name alone, so
    /// two such sinks need different names.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let dir = tempfile::tempdir().unwrap();
    /// let local = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
    /// let archive = actionlog::sink::SqliteSink::open(dir.path().join("archive.db")).unwrap();
    /// let (actions, guard) = actionlog::ActionLayer::builder(local)
    ///     .also_sink(archive)
    ///     .log_dir(dir.path())
    ///     .build()
    ///     .unwrap();
    /// use tracing_subscriber::prelude::*;
    /// let subscriber = tracing_subscriber::registry().with(actions);
    /// tracing::subscriber::with_default(subscriber, || tracing::info!(action_type = "export"));
    /// assert!(guard.flush());
    /// let stores = guard.store_stats();
    /// assert_eq!(stores.len(), 2);
    /// assert!(stores.iter().all(|s| s.stats.actions_delivered == 1));
    /// # }
    /// ```
    pub fn also_sink(mut self, sink: impl Sink) -> Self {
        self.also.push(AddedStore {
            sink: Box::new(sink),
            settings: None,
        });
        self
    }

    /// [`Self::also_sink`], with this store's delivery settings changed from the first
    /// store's by `settings` — queue capacity, overflow, retries, spool bound, or directories
    /// of its own (a spool or dead-letter directory set here replaces the derived one):
    /// `|p| p.overflow(actionlog::Overflow::DropNewest).retry_budget(Duration::from_secs(600))`.
    /// Applied when the layer is built, so it starts from the first store's final settings.
    pub fn also_sink_with(
        mut self,
        sink: impl Sink,
        settings: impl FnOnce(PipelineConfig) -> PipelineConfig + Send + 'static,
    ) -> Self {
        self.also.push(AddedStore {
            sink: Box::new(sink),
            settings: Some(Box::new(settings)),
        });
        self
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
    /// directories. A directory set here wins over [`Self::log_dir`]. They are the first
    /// store's; a store added with [`Self::also_sink`] takes them too, all but the
    /// directories (see [`Self::also_sink_with`] to change them for it).
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// The directory under which the spool (`spool/`) and the dead-letter files
    /// (`dead-letter/`) live (default `logs`, like the day files of [`crate::init`]); those
    /// of stores added with [`Self::also_sink`] under `stores/<name>-<hash>/`.
    pub fn log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.log_dir = dir.as_ref().to_path_buf();
        self
    }

    /// Covers the final state of every action record and job run each store takes with a
    /// chain of signed digests, written in the same transaction as the rows and to a digest
    /// file per day under `<log_dir>/digests/` (`stores/<name>-<hash>/digests/` for a store
    /// added with [`Self::also_sink`]); `actionlog verify` checks them. See [`crate::audit`].
    /// A first store whose sink keeps no digests fails [`Self::build`] with [`Error::Config`];
    /// an added one that keeps none (an OTLP collector) gets the records without digests.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let dir = tempfile::tempdir().unwrap();
    /// let key = actionlog::audit::SigningKey::generate().unwrap();
    /// let store = actionlog::sink::SqliteSink::open(dir.path().join("actions.db")).unwrap();
    /// let (_actions, guard) = actionlog::ActionLayer::builder(store)
    ///     .audit(actionlog::audit::Audit::new(key).writer("web-1"))
    ///     .log_dir(dir.path())
    ///     .build()
    ///     .unwrap();
    /// drop(guard);
    /// assert!(dir.path().join("digests").is_dir());
    /// # }
    /// ```
    #[cfg(feature = "audit")]
    pub fn audit(mut self, audit: crate::audit::Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    #[cfg(feature = "audit")]
    pub(crate) fn has_audit(&self) -> bool {
        self.audit.is_some()
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

    /// Starts the delivery workers, one per store, and returns the layer and its guard.
    ///
    /// # Errors
    /// [`Error::Config`] for out-of-range settings, no sink, or two stores sharing a spool or
    /// dead-letter directory; [`Error::DuplicateStore`] for a store given twice;
    /// [`Error::Thread`] if a worker cannot start.
    pub fn build(self) -> Result<(ActionLayer, Guard), Error> {
        let mut config = self.config;
        config.redaction = self.render.redaction.clone();
        config.log_dir = self.log_dir;
        #[cfg(feature = "audit")]
        {
            config.audit = self.audit;
        }
        let mut stores = Vec::with_capacity(1 + self.also.len());
        for added in self.also {
            // The first store's settings, but never its directories.
            let mut base = config.clone();
            base.spool_dir = None;
            base.dead_letter_dir = None;
            let mut own = match added.settings {
                Some(f) => f(base),
                None => base,
            };
            own.redaction = config.redaction.clone();
            own.log_dir = config.log_dir.clone();
            let own = own.for_added_store(added.sink.name(), &added.sink.target());
            stores.push(Store {
                sink: added.sink,
                config: own,
            });
        }
        if let Some(sink) = self.sink {
            stores.insert(0, Store { sink, config });
        }
        let (submitter, handles) = pipeline::start(stores, self.clock.clone())?;
        let guard = handles
            .into_iter()
            .map(|h| Guard::new(h, self.flush_deadline))
            .reduce(Guard::merge)
            .unwrap_or_else(Guard::empty);
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
        Ok((layer, guard))
    }
}
