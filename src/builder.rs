//! [`Builder`]: every knob with a sensible default, and the one fallible [`Builder::init`] that
//! installs the global subscriber and returns the [`Guard`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

use crate::action::{ActionFilter, ActionLayer};
use crate::clock::{Clock, SystemClock, Timezone};
use crate::console::{ColorMode, ConsoleLayer, Stream};
use crate::file::{DEFAULT_CHANNEL_CAPACITY, DEFAULT_FLUSH_DEADLINE, FileLayer, Overflow};
use crate::job::JobFilter;
use crate::pipeline::PipelineConfig;
use crate::redact::Redaction;
use crate::sink::Sink;
use crate::{Error, Guard};

/// The filter used when neither the builder nor `RUST_LOG` gives one.
pub const DEFAULT_FILTER: &str = "info";

/// Configures actionlog; start from [`crate::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// let _guard = actionlog::builder()
///     .log_dir("/var/log/tracker")
///     .filter("info,tracker=debug")
///     .timezone(actionlog::Timezone::Utc)
///     .keep_days(30)
///     .overflow(actionlog::Overflow::Block)
///     .flush_deadline(Duration::from_secs(2))
///     .init()?;
/// # Ok::<(), actionlog::Error>(())
/// ```
#[must_use]
pub struct Builder {
    log_dir: PathBuf,
    console: Option<Stream>,
    color: ColorMode,
    filter: Option<String>,
    tz: Timezone,
    keep_days: Option<usize>,
    max_file_bytes: Option<u64>,
    max_total_bytes: Option<u64>,
    #[cfg(feature = "compress")]
    compress: bool,
    capacity: usize,
    overflow: Overflow,
    flush_deadline: Duration,
    clock: Arc<dyn Clock>,
    actions: bool,
    sink: Option<Box<dyn Sink>>,
    #[cfg(feature = "postgres")]
    database_url: Option<String>,
    migrate: bool,
    action_table: String,
    pipeline: PipelineConfig,
    emit_initiated: bool,
    redaction: Redaction,
    panic_hook: bool,
    max_field_bytes: usize,
    max_record_bytes: usize,
    scheduled_jobs: bool,
    job_log_bytes: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            log_dir: PathBuf::from("logs"),
            console: Some(Stream::Stderr),
            color: ColorMode::Auto,
            filter: None,
            tz: Timezone::Local,
            keep_days: None,
            max_file_bytes: None,
            max_total_bytes: None,
            #[cfg(feature = "compress")]
            compress: false,
            capacity: DEFAULT_CHANNEL_CAPACITY,
            overflow: Overflow::Block,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            clock: Arc::new(SystemClock),
            actions: true,
            sink: None,
            #[cfg(feature = "postgres")]
            database_url: None,
            migrate: false,
            action_table: "action_logs".to_owned(),
            pipeline: PipelineConfig::default(),
            emit_initiated: true,
            redaction: Redaction::default(),
            panic_hook: true,
            max_field_bytes: crate::limits::DEFAULT_MAX_FIELD_BYTES,
            max_record_bytes: crate::limits::DEFAULT_MAX_RECORD_BYTES,
            scheduled_jobs: false,
            job_log_bytes: crate::job::DEFAULT_MAX_LOG_BYTES,
        }
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("log_dir", &self.log_dir)
            .field("console", &self.console)
            .field("color", &self.color)
            .field("filter", &self.filter)
            .field("timezone", &self.tz)
            .field("keep_days", &self.keep_days)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_total_bytes", &self.max_total_bytes)
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("flush_deadline", &self.flush_deadline)
            .field("actions", &self.actions)
            .field("sink", &self.sink.as_ref().map(|s| s.name()))
            .field("migrate", &self.migrate)
            .field("action_table", &self.action_table)
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Directory of the day files (default `./logs`).
    pub fn log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.log_dir = dir.as_ref().to_path_buf();
        self
    }

    /// Console output on or off (default on, to stderr).
    pub fn console(mut self, on: bool) -> Self {
        self.console = on.then_some(self.console.unwrap_or_default());
        self
    }

    /// The console's stream (turns the console on).
    pub fn console_stream(mut self, stream: Stream) -> Self {
        self.console = Some(stream);
        self
    }

    /// Console colours (default [`ColorMode::Auto`]).
    pub fn color(mut self, mode: ColorMode) -> Self {
        self.color = mode;
        self
    }

    /// Filter directives in `RUST_LOG` syntax, e.g. `"info,tracker=debug"`. Default: `RUST_LOG`
    /// if set, else `info`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Zone of timestamps and day boundaries (default [`Timezone::Local`]).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self
    }

    /// Keep only the newest `n` day files (default: keep all).
    pub fn keep_days(mut self, n: usize) -> Self {
        self.keep_days = Some(n);
        self
    }

    /// Caps each day file at `n` bytes, continuing in `YYYY-MM-DD.1.log`, … (default: no
    /// cap); see [`crate::FileLayerBuilder::max_file_bytes`].
    pub fn max_file_bytes(mut self, n: u64) -> Self {
        self.max_file_bytes = Some(n);
        self
    }

    /// Bounds the day files' total bytes, oldest closed files deleted first (default: no
    /// bound); see [`crate::FileLayerBuilder::max_total_bytes`].
    pub fn max_total_bytes(mut self, n: u64) -> Self {
        self.max_total_bytes = Some(n);
        self
    }

    /// Compresses closed day files in the background (default off); see
    /// [`crate::FileLayerBuilder::compress`].
    #[cfg(feature = "compress")]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// Capacity of the file channel in lines (default 65 536).
    pub fn channel_capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// What happens when the channel is full (default [`Overflow::Block`]: nothing lost).
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.overflow = o;
        self
    }

    /// How long dropping the guard waits for queued lines (default 5 s).
    pub fn flush_deadline(mut self, d: Duration) -> Self {
        self.flush_deadline = d;
        self
    }

    /// The clock for timestamps and day rollover (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Action records on or off (default on: to SQLite at `<log_dir>/actions.db`; to
    /// PostgreSQL when a database URL is configured (feature `postgres`); to Supabase when
    /// `SUPABASE_URL` is set (feature `supabase`).
    pub fn actions(mut self, on: bool) -> Self {
        self.actions = on;
        self
    }

    /// Delivers action records to `sink` instead of the default.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Delivers action records to PostgreSQL at `url` (default: the `DATABASE_URL` environment
    /// variable if set, else the embedded SQLite database). A database that is down at start
    /// does not fail `init`: records are retried in the background.
    #[cfg(feature = "postgres")]
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Creates the action table, indexes and trigger on first connection if missing (PostgreSQL;
    /// SQLite always does). Default off: production schemas are usually migrated by hand with
    /// `migrations/0001_action_logs.sql`.
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// The action table's name (default `action_logs`), validated as an SQL identifier.
    pub fn action_table(mut self, name: impl Into<String>) -> Self {
        self.action_table = name.into();
        self
    }

    /// Delivery settings: channel capacity, batch size and linger, overflow, retry backoff.
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.pipeline = config;
        self
    }

    /// Whether action spans yield an `initiated` record when created (default true).
    pub fn emit_initiated(mut self, on: bool) -> Self {
        self.emit_initiated = on;
        self
    }

    /// Which field names are redacted in every output — console, files, action rows (default
    /// [`Redaction::default`]: password, secret, token, api_key, authorization, cookie, session,
    /// credit-card-like names, …).
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.redaction = r;
        self
    }

    /// Cap on one field value or message in bytes (default 64 KiB; process-wide, see
    /// [`crate::limits`]): longer ones are cut and end with `…[truncated N bytes]`.
    pub fn max_field_bytes(mut self, n: usize) -> Self {
        self.max_field_bytes = n;
        self
    }

    /// Cap on one event's fields together in bytes (default 1 MiB; process-wide).
    pub fn max_record_bytes(mut self, n: usize) -> Self {
        self.max_record_bytes = n;
        self
    }

    /// Whether `init` installs a panic hook (default on) that logs every panic as an ERROR event
    /// on target `panic` with its location, thread and message — so it also fails the action it
    /// happened in — and flushes the day files (waiting at most one second) before calling the
    /// hook that was there before.
    pub fn panic_hook(mut self, on: bool) -> Self {
        self.panic_hook = on;
        self
    }

    /// Keeps `scheduled_jobs` rows current from the job runs (default off): see [`crate::job`].
    /// Applies to the sinks `init` makes; a sink given with [`Self::sink`] has its own switch.
    pub fn scheduled_jobs(mut self, on: bool) -> Self {
        self.scheduled_jobs = on;
        self
    }

    /// Cap on the log lines kept with each job run (default
    /// [`crate::job::DEFAULT_MAX_LOG_BYTES`]).
    pub fn job_log_bytes(mut self, n: usize) -> Self {
        self.job_log_bytes = n;
        self
    }

    /// The configured sink, or the default one, or none when actions are off.
    fn action_sink(&mut self) -> Result<Option<Box<dyn Sink>>, Error> {
        if !self.actions {
            return Ok(None);
        }
        crate::sink::validate_table_name(&self.action_table)?;
        if let Some(s) = self.sink.take() {
            return Ok(Some(s));
        }
        #[cfg(feature = "postgres")]
        {
            let url = self.database_url.clone().or_else(|| {
                std::env::var("DATABASE_URL")
                    .ok()
                    .filter(|u| !u.trim().is_empty())
            });
            if let Some(url) = url {
                let sink = crate::sink::postgres::PostgresSink::new(&url)?
                    .table(&self.action_table)?
                    .migrate(self.migrate)
                    .scheduled_jobs(self.scheduled_jobs);
                return Ok(Some(Box::new(sink)));
            }
        }
        #[cfg(feature = "supabase")]
        if std::env::var("SUPABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
            let sink = crate::sink::supabase::SupabaseSink::from_env()?
                .table(&self.action_table)?
                .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Box::new(sink)));
        }
        #[cfg(feature = "sqlite")]
        {
            let sink = crate::sink::sqlite::SqliteSink::open_table(
                self.log_dir.join("actions.db"),
                &self.action_table,
            )?
            .scheduled_jobs(self.scheduled_jobs);
            return Ok(Some(Box::new(sink)));
        }
        #[allow(unreachable_code)]
        Ok(None)
    }

    fn env_filter(&self) -> Result<EnvFilter, Error> {
        let directives = match &self.filter {
            Some(d) => d.clone(),
            None => match std::env::var("RUST_LOG") {
                Ok(d) if !d.trim().is_empty() => d,
                _ => DEFAULT_FILTER.to_owned(),
            },
        };
        EnvFilter::builder()
            .parse(&directives)
            .map_err(|e| Error::Filter {
                reason: e.to_string(),
                directives,
            })
    }

    /// Builds the layers and installs them as the process's global subscriber, with the `log`
    /// crate bridged in. Returns the guard to keep alive until the end of `main`.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`] when a global subscriber exists (a second `init`); the log
    /// directory and file errors of [`crate::FileLayerBuilder::build`]; [`Error::Filter`] for
    /// bad directives.
    pub fn init(mut self) -> Result<Guard, Error> {
        if tracing::dispatcher::has_been_set() {
            return Err(Error::AlreadyInitialized);
        }
        let filter = self.env_filter()?;
        let max_level = filter.max_level_hint();
        crate::limits::set(self.max_field_bytes, self.max_record_bytes);
        let mut files = FileLayer::builder(&self.log_dir)
            .timezone(self.tz)
            .channel_capacity(self.capacity)
            .overflow(self.overflow)
            .flush_deadline(self.flush_deadline)
            .redaction(self.redaction.clone())
            .clock_arc(self.clock.clone());
        if let Some(n) = self.keep_days {
            files = files.keep_days(n);
        }
        if let Some(n) = self.max_file_bytes {
            files = files.max_file_bytes(n);
        }
        if let Some(n) = self.max_total_bytes {
            files = files.max_total_bytes(n);
        }
        #[cfg(feature = "compress")]
        {
            files = files.compress(self.compress);
        }
        let (file, mut guard) = files.build()?;
        // After the files: a log directory problem is reported as such, not as a database one.
        let sink = self.action_sink()?;
        let console = self.console.map(|s| {
            ConsoleLayer::new(s)
                .color(self.color)
                .timezone(self.tz)
                .redaction(self.redaction.clone())
                .clock_arc(self.clock.clone())
        });
        let mut jobs = None;
        let actions = match sink {
            Some(sink) => {
                let (layer, action_guard) = ActionLayer::builder(sink)
                    .pipeline(
                        self.pipeline
                            .clone()
                            .dead_letter_dir(self.log_dir.join("dead-letter"))
                            .spool_dir(self.log_dir.join("spool")),
                    )
                    .emit_initiated(self.emit_initiated)
                    .redaction(self.redaction.clone())
                    .flush_deadline(self.flush_deadline)
                    .clock_arc(self.clock.clone())
                    .build()?;
                guard = guard.merge(action_guard);
                // Job runs are recorded whatever the level; their captured lines follow it.
                jobs = Some(
                    layer
                        .job_layer()
                        .timezone(self.tz)
                        .max_log_bytes(self.job_log_bytes)
                        .with_filter(JobFilter::new(self.env_filter()?)),
                );
                Some(layer.with_filter(ActionFilter))
            }
            None => None,
        };
        // The level filter applies to the files and console only: actions are an audit trail
        // and are recorded whatever RUST_LOG says.
        let subscriber = tracing_subscriber::registry()
            .with(file.and_then(console).with_filter(filter))
            .with(actions)
            .with(jobs);
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| Error::AlreadyInitialized)?;
        // Route `log` records into tracing. If the app installed another `log` logger first,
        // its records stay with that logger: not an error for us.
        let log_level = match max_level {
            Some(l) => tracing_log::AsLog::as_log(&l),
            None => tracing_log::log::LevelFilter::Trace,
        };
        let _ = tracing_log::LogTracer::builder()
            .with_max_level(log_level)
            .init();
        if self.panic_hook {
            install_panic_hook(guard.file_flusher());
        }
        Ok(guard)
    }
}

/// Logs panics as ERROR events and flushes the files, then runs the previous hook.
fn install_panic_hook(files: crate::guard::FileFlusher) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread_name = thread.name().unwrap_or("<unnamed>");
        let message = crate::report::panic_text(info.payload());
        tracing::error!(target: "panic", location = %location, thread = thread_name, "panicked: {message}");
        // Not from the writer thread itself: it cannot flush while it is unwinding.
        if thread_name != crate::file::WRITER_THREAD {
            files.flush(std::time::Duration::from_secs(1));
        }
        previous(info);
    }));
}
