//! [`Builder`]: one builder over the outputs' own builders. The settings every output shares
//! (log directory, time zone, clock, redaction, size caps, flush deadline) are set once here
//! and handed to each output's builder; what belongs to one output is set on that output's
//! builder ([`Builder::file_layer`], [`Builder::action_layer`]). [`Builder::build`] returns the
//! composed layers and the guard without installing anything; [`Builder::init`] (in
//! `install`, with everything else that is process-wide) is `build` plus installing them as the
//! global subscriber.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::action::{ActionFilter, ActionLayerBuilder};
use crate::clock::{Clock, SystemClock, Timezone};
use crate::console::{ColorMode, ConsoleLayer, Stream};
use crate::error::Error;
use crate::file::{FileLayer, FileLayerBuilder};
use crate::guard::Guard;
use crate::job::JobFilter;
use crate::limits::Limits;
use crate::redact::Redaction;
use crate::sink::Sink;

pub use crate::log_filter::DEFAULT_FILTER;

/// The environment variable that sets up the container case without a code change:
/// `ACTIONLOG_STDOUT=json` means JSON lines on standard output, no day files and no console
/// ([`Builder::stdout_json`], [`Builder::day_files`], [`Builder::console`]). Read by
/// [`crate::builder`] (and so [`crate::init`]); the builder's own calls after it win. Unset or
/// empty, it changes nothing; any other value fails `build` / `init` with [`Error::Config`].
pub const STDOUT_ENV: &str = "ACTIONLOG_STDOUT";

/// Configures actionlog; start from [`crate::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// let _guard = actionlog::builder()
///     .log_dir("/var/log/tracker")
///     .filter("info,tracker=debug")
///     .timezone(actionlog::Timezone::Utc)
///     .flush_deadline(Duration::from_secs(2))
///     .file_layer(|f| f.keep_days(30).overflow(actionlog::Overflow::Block))
///     .action_layer(|a| a.emit_initiated(false))
///     .init()?;
/// # Ok::<(), actionlog::Error>(())
/// ```
#[must_use]
pub struct Builder {
    log_dir: PathBuf,
    filter: Option<String>,
    files: FileLayerBuilder,
    /// Kept while the console is off, so turning it on again keeps its stream.
    console: Stream,
    console_on: bool,
    color: ColorMode,
    /// Span close lines on the console (the files' setting is on their builder).
    close_lines: bool,
    /// Short trace ids on the console.
    console_trace_ids: bool,
    /// Kept, and given every shared setting, while actions are off: turning them on again keeps
    /// what was set meanwhile.
    actions: ActionLayerBuilder,
    actions_on: bool,
    // Shared settings the console (built at the end) also needs.
    tz: Timezone,
    clock: Arc<dyn Clock>,
    redaction: Redaction,
    limits: Limits,
    pub(crate) panic_hook: bool,
    pub(crate) signals: bool,
    // The default sink's choice (when no sink is given).
    #[cfg(feature = "postgres")]
    database_url: Option<String>,
    migrate: bool,
    action_table: String,
    scheduled_jobs: bool,
    /// Whether `build` says on stderr where action records go (`init` does; a layer composed
    /// by hand with `build` only warns when they go nowhere).
    pub(crate) announce_store: bool,
    /// A value of [`STDOUT_ENV`] that means nothing, reported by `build`.
    env_error: Option<&'static str>,
}

impl Default for Builder {
    fn default() -> Self {
        let log_dir = PathBuf::from("logs");
        let builder = Builder {
            files: FileLayer::builder(&log_dir),
            actions: ActionLayerBuilder::without_sink().log_dir(&log_dir),
            actions_on: true,
            log_dir,
            filter: None,
            console: Stream::Stderr,
            console_on: true,
            console_trace_ids: false,
            color: ColorMode::Auto,
            close_lines: false,
            tz: Timezone::Local,
            clock: Arc::new(SystemClock),
            redaction: Redaction::default(),
            limits: Limits::default(),
            panic_hook: true,
            signals: true,
            #[cfg(feature = "postgres")]
            database_url: None,
            migrate: false,
            action_table: "action_logs".to_owned(),
            scheduled_jobs: false,
            announce_store: false,
            env_error: None,
        };
        builder.with_env()
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("log_dir", &self.log_dir)
            .field("filter", &self.filter)
            .field("files", &self.files)
            .field("console", &self.console_on.then_some(self.console))
            .field("actions", &self.actions_on.then_some(&self.actions))
            .field("timezone", &self.tz)
            .field("migrate", &self.migrate)
            .field("action_table", &self.action_table)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Applies [`STDOUT_ENV`].
    fn with_env(mut self) -> Self {
        match std::env::var(STDOUT_ENV) {
            Err(std::env::VarError::NotPresent) => self,
            Ok(v) if v.trim().is_empty() => self,
            Ok(v) if v.trim().eq_ignore_ascii_case("json") => {
                self.stdout_json(true).day_files(false).console(false)
            }
            _ => {
                self.env_error = Some("ACTIONLOG_STDOUT must be `json` (or unset, or empty)");
                self
            }
        }
    }

    /// Directory of the day files, and of the spool, the dead letters and the SQLite store
    /// under it (default `./logs`). With the day files off it still holds the others: the
    /// default SQLite store stays `<log_dir>/actions.db`.
    pub fn log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.log_dir = dir.as_ref().to_path_buf();
        self.files = self.files.log_dir(&self.log_dir);
        self.actions = self.actions.log_dir(&self.log_dir);
        self
    }

    /// Filter directives in `RUST_LOG` syntax, e.g. `"info,tracker=debug"`, for the files, the
    /// console and the lines kept with job runs (actions are recorded whatever it says).
    /// Default: `RUST_LOG` if set, else `info`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Zone of timestamps and day boundaries, for every output (default [`Timezone::Local`]).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self.files = self.files.timezone(tz);
        self.actions = self.actions.timezone(tz);
        self
    }

    /// The clock of every output (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self.files = self.files.clock_arc(self.clock.clone());
        self.actions = self.actions.clock_arc(self.clock.clone());
        self
    }

    /// Which field names are redacted in every output — console, files, action rows (default
    /// [`Redaction::default`]: password, secret, token, api_key, authorization, cookie, session,
    /// credit-card-like names, …).
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.redaction = r.clone();
        self.files = self.files.redaction(r.clone());
        self.actions = self.actions.redaction(r);
        self
    }

    /// Cap on one field value or message in bytes, in every output (default 64 KiB; see
    /// [`crate::limits`]): longer ones are cut and end with `…[truncated N bytes]`.
    pub fn max_field_bytes(self, n: usize) -> Self {
        let record = self.limits.max_record_bytes();
        self.limits(Limits::new(n, record))
    }

    /// Cap on one event's fields together in bytes, in every output (default 1 MiB).
    pub fn max_record_bytes(self, n: usize) -> Self {
        let field = self.limits.max_field_bytes();
        self.limits(Limits::new(field, n))
    }

    fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self.files = self.files.limits(l);
        self.actions = self.actions.limits(l);
        self
    }

    /// How long dropping the guard waits for queued lines and records (default 5 s).
    pub fn flush_deadline(mut self, d: Duration) -> Self {
        self.files = self.files.flush_deadline(d);
        self.actions = self.actions.flush_deadline(d);
        self
    }

    /// Settings of the day files only, on their own builder: retention, queue bounds,
    /// overflow policy, … (`|f| f.keep_days(30)`).
    pub fn file_layer(mut self, f: impl FnOnce(FileLayerBuilder) -> FileLayerBuilder) -> Self {
        self.files = f(self.files);
        self
    }

    /// One line when a span closes, in the files and on the console (default off): the
    /// span's name, fields and times (`elapsed_ms`, `busy_ms`, `idle_ms`), as
    /// [`FileLayerBuilder::span_close_lines`] describes — a request keeps a line with its
    /// timing, as tracing-subscriber's `FmtSpan::CLOSE` gives. Spans the log filter disables
    /// give none.
    pub fn span_close_lines(mut self, on: bool) -> Self {
        self.close_lines = on;
        self.files = self.files.span_close_lines(on);
        self
    }

    /// JSON lines on standard output, in the day files' format, through the same writer
    /// thread (default off; [`STDOUT_ENV`] turns it on without a code change): see
    /// [`FileLayerBuilder::stdout_json`]. The console cannot share stdout with them: `build`
    /// refuses a console on [`Stream::Stdout`] then (on stderr, the default, it stays).
    ///
    /// ```no_run
    /// // In a container: one stream of JSON lines, nothing on disk but the action store.
    /// let _guard = actionlog::builder()
    ///     .stdout_json(true)
    ///     .day_files(false)
    ///     .console(false)
    ///     .init()?;
    /// # Ok::<(), actionlog::Error>(())
    /// ```
    pub fn stdout_json(mut self, on: bool) -> Self {
        self.files = self.files.stdout_json(on);
        self
    }

    /// The day files on or off (default on). Off, no day file is written and no directory
    /// made for them; the log directory still holds the action store, spool and dead letters
    /// when they are used. With [`Self::stdout_json`] and [`Self::ship_lines`] off too, the
    /// JSON lines go nowhere (the console and actions stay).
    pub fn day_files(mut self, on: bool) -> Self {
        self.files = self.files.day_files(on);
        self
    }

    /// Ships every log line to `sink` too — an [`OtlpSink`](crate::sink::OtlpSink): each line
    /// an OpenTelemetry log record to a collector — through the durable path action records
    /// take, in a pipeline of its own (bounded queue, batches, retries, disk spool replayed by
    /// the next start, dead letters, counters in [`Guard::store_stats`]), so line volume never
    /// delays the audit trail. With [`Self::day_files`] off (and stdout off, the default) the
    /// collector is the only place the lines go: nothing is written under the log directory
    /// but that pipeline's spool and dead letters, `<log_dir>/stores/<name>-<hash>-lines/`, and
    /// only while the collector cannot take them. See [`FileLayerBuilder::ship_lines`] for the
    /// bounds; the lines shipped are those of the log filter, each the day file's line.
    ///
    /// `build` fails with [`Error::Config`] for a sink that does not take lines (the database
    /// sinks).
    ///
    /// ```no_run
    /// # #[cfg(feature = "otlp")] {
    /// // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 OTEL_SERVICE_NAME=tracker …
    /// let _guard = actionlog::builder()
    ///     .ship_lines(actionlog::sink::OtlpSink::from_env()?)
    ///     .day_files(false)
    ///     .init()?;
    /// # }
    /// # Ok::<(), actionlog::Error>(())
    /// ```
    pub fn ship_lines(mut self, sink: impl Sink) -> Self {
        self.files = self.files.ship_lines(sink);
        self
    }

    /// [`Self::ship_lines`], with the pipeline of lines' settings changed from its defaults by
    /// `settings` (see [`FileLayerBuilder::ship_lines_with`]): `|p|
    /// p.overflow(actionlog::Overflow::DropNewest)` keeps a full queue of lines from ever
    /// holding the writer.
    pub fn ship_lines_with(
        mut self,
        sink: impl Sink,
        settings: impl FnOnce(crate::PipelineConfig) -> crate::PipelineConfig + Send + 'static,
    ) -> Self {
        self.files = self.files.ship_lines_with(sink, settings);
        self
    }

    /// Console output on or off (default on, to stderr).
    pub fn console(mut self, on: bool) -> Self {
        self.console_on = on;
        self
    }

    /// The console's stream (turns the console on).
    pub fn console_stream(mut self, stream: Stream) -> Self {
        self.console = stream;
        self.console_on = true;
        self
    }

    /// Short trace ids on the console (default off): see [`ConsoleLayer::trace_ids`]. The day
    /// files always carry the whole ids.
    pub fn console_trace_ids(mut self, on: bool) -> Self {
        self.console_trace_ids = on;
        self
    }

    /// Console colours (default [`ColorMode::Auto`]).
    pub fn color(mut self, mode: ColorMode) -> Self {
        self.color = mode;
        self
    }

    /// Action records and job runs on or off (default on: to SQLite at
    /// `<log_dir>/actions.db`; to PostgreSQL when a database URL is configured or
    /// `ACTIONLOG_DATABASE_URL` or `DATABASE_URL` is set (feature `postgres`); to Supabase when
    /// `SUPABASE_URL` is set (feature `supabase`)). `init` says in one line on stderr where they
    /// go — store kind, database and table, never a password — and `init` and `build` warn
    /// when no store is configured, so they never go nowhere in silence. Like every output's
    /// switch, turning actions off keeps their settings: on again, they have what was set
    /// before and meanwhile.
    pub fn actions(mut self, on: bool) -> Self {
        self.actions_on = on;
        self
    }

    /// Covers what every store takes with signed digests ([`crate::audit`]; see
    /// [`ActionLayerBuilder::audit`]). Without this call the key comes from
    /// `ACTIONLOG_AUDIT_KEY` (the key itself) or `ACTIONLOG_AUDIT_KEY_FILE` (its file) when
    /// either is set; a key there that cannot be read fails `init()` with [`Error::Setting`]
    /// naming the variable, never its value.
    ///
    /// ```no_run
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let key = actionlog::audit::SigningKey::from_file("/etc/myapp/audit.pem")?;
    ///     let _guard = actionlog::builder()
    ///         .audit(actionlog::audit::Audit::new(key).writer("web-1"))
    ///         .init()?;
    ///     Ok(())
    /// }
    /// ```
    #[cfg(feature = "audit")]
    pub fn audit(self, audit: crate::audit::Audit) -> Self {
        self.action_layer(|a| a.audit(audit))
    }

    /// Settings of the action and job layers and their pipeline only, on their own builder:
    /// `|a| a.pipeline(…).emit_initiated(false).max_job_log_bytes(n)` (turns actions on).
    pub fn action_layer(self, f: impl FnOnce(ActionLayerBuilder) -> ActionLayerBuilder) -> Self {
        let mut b = self.actions(true);
        b.actions = f(b.actions);
        b
    }

    /// Delivers action records and job runs to `sink` instead of the default choice (turns
    /// actions on). This is the first store: its spool and dead letters stay in
    /// `<log_dir>/spool/` and `<log_dir>/dead-letter/`. Called again, the last sink wins; to
    /// deliver to more than one store, add the others with [`Self::also_sink`].
    pub fn sink(self, sink: impl Sink) -> Self {
        self.action_layer(|a| a.sink_boxed(Box::new(sink)))
    }

    /// Also delivers action records and job runs to `sink`, beside the first store — the one
    /// given to [`Self::sink`], or else the default choice (SQLite, or the database the
    /// environment names) — through a pipeline of its own (turns actions on): e.g. SQLite for
    /// the local dashboard and a remote PostgreSQL. Each store has its own queue, worker,
    /// retries, spool (`<log_dir>/stores/<name>-<hash>/spool/`) and dead-letter file, so a
    /// store that is down never holds the others back, and each store receives each record
    /// once. See [`ActionLayerBuilder::also_sink`] for the directories and
    /// [`Self::also_sink_with`] for settings of its own; [`Guard::store_stats`] gives each
    /// store's counters. The same store given twice fails `build` with
    /// [`Error::DuplicateStore`].
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")] {
    /// let remote = actionlog::sink::PostgresSink::new("postgres://app@db.internal/app")?;
    /// // The default SQLite store under ./logs, and PostgreSQL beside it.
    /// let _guard = actionlog::builder().also_sink(remote).init()?;
    /// # }
    /// # Ok::<(), actionlog::Error>(())
    /// ```
    pub fn also_sink(self, sink: impl Sink) -> Self {
        self.action_layer(|a| a.also_sink(sink))
    }

    /// [`Self::also_sink`], with this store's delivery settings changed from the first
    /// store's by `settings` (see [`ActionLayerBuilder::also_sink_with`]):
    /// `|p| p.overflow(actionlog::Overflow::DropNewest)` keeps a slow remote from ever holding
    /// the caller.
    pub fn also_sink_with(
        self,
        sink: impl Sink,
        settings: impl FnOnce(crate::PipelineConfig) -> crate::PipelineConfig + Send + 'static,
    ) -> Self {
        self.action_layer(|a| a.also_sink_with(sink, settings))
    }

    /// Delivers action records to PostgreSQL at `url` (default: the `ACTIONLOG_DATABASE_URL`
    /// environment variable if set, else `DATABASE_URL`, else the embedded SQLite database). A database that is down at start
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

    /// The action table's name for the default sink (default `action_logs`), validated as an
    /// SQL identifier.
    pub fn action_table(mut self, name: impl Into<String>) -> Self {
        self.action_table = name.into();
        self
    }

    /// Keeps `scheduled_jobs` rows current from the job runs (default off): see [`crate::job`].
    /// Applies to the default sink; a sink given with [`Self::sink`] has its own switch.
    pub fn scheduled_jobs(mut self, on: bool) -> Self {
        self.scheduled_jobs = on;
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

    /// Whether `init` handles SIGTERM and SIGINT when nothing else does (default on): the
    /// outputs are stopped within the flush deadline, then the process ends as the signal
    /// would. An app's own handler, installed before or after `init`, always wins; see the
    /// README's "What is guaranteed". On Windows: the console's Ctrl-C, Ctrl-Break, close and
    /// shutdown events, passed on after the stop; an app's handler registered after `init`
    /// wins, one registered before runs after the stop.
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// The default sink, chosen from the configuration and the environment.
    fn default_sink(&self) -> Result<Option<crate::sink::choice::Chosen>, Error> {
        crate::sink::Choice {
            sqlite_path: self.log_dir.join("actions.db"),
            #[cfg(feature = "postgres")]
            database_url: self.database_url.clone(),
            migrate: self.migrate,
            table: &self.action_table,
            scheduled_jobs: self.scheduled_jobs,
        }
        .open()
    }

    pub(crate) fn env_filter(&self) -> Result<EnvFilter, Error> {
        crate::log_filter::parse(self.filter.as_deref())
    }

    /// Starts every output and returns them composed as one layer, with their guard, without
    /// installing anything: put the layer on a registry of your own beside other layers
    /// (tracing-opentelemetry, a layer of yours) and keep every default. The day files and the
    /// console sit behind the log filter; actions and job runs behind [`ActionFilter`] and
    /// [`JobFilter`], so they are recorded whatever the level.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// let (actionlog_layer, guard) = actionlog::builder()
    ///     .log_dir(dir.path())
    ///     .console(false)
    ///     .build()
    ///     .unwrap();
    /// let mine = tracing_subscriber::filter::LevelFilter::INFO; // any layer of yours
    /// let subscriber = tracing_subscriber::registry().with(actionlog_layer).with(mine);
    /// tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "hello"));
    /// assert!(guard.flush());
    /// assert_eq!(guard.stats().lines_written, 1);
    /// ```
    ///
    /// Unlike [`Self::init`], `build` neither bridges the `log` crate nor installs the panic
    /// hook: those are process-wide.
    ///
    /// # Errors
    /// The log directory and file errors of [`crate::FileLayerBuilder::build`];
    /// [`Error::Filter`] for bad directives; [`Error::Database`] when the default store cannot
    /// be opened; [`Error::Config`] for out-of-range settings, a bad [`STDOUT_ENV`], or the
    /// console and the JSON lines both on stdout.
    pub fn build<S>(mut self) -> Result<(impl Layer<S> + Send + Sync + 'static, Guard), Error>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(e) = self.env_error {
            return Err(Error::Config(e));
        }
        if self.console_on && self.console == Stream::Stdout && self.files.writes_stdout() {
            return Err(Error::Config(
                "the console and the JSON lines cannot share standard output: \
                 keep the console on stderr (the default) or turn it off",
            ));
        }
        let filter = self.env_filter()?;
        if let (Some(sink), true) = (self.files.ships_to(), self.announce_store) {
            crate::report::emit(format_args!(
                "log lines are shipped to {}",
                crate::sink::describe(sink, None)
            ));
        }
        let files = std::mem::replace(&mut self.files, FileLayer::builder(&self.log_dir));
        let (file, mut guard) = match files.writes_somewhere() {
            true => files.build().map(|(l, g)| (Some(l), g))?,
            false => (None, Guard::empty()),
        };
        let console = self.console_on.then_some(self.console).map(|s| {
            ConsoleLayer::new(s)
                .color(self.color)
                .timezone(self.tz)
                .redaction(self.redaction.clone())
                .limits(self.limits)
                .clock_arc(self.clock.clone())
                .span_close_lines(self.close_lines)
                .trace_ids(self.console_trace_ids)
        });
        // The level filter applies to the files and console only: actions are an audit trail
        // and are recorded whatever RUST_LOG says. A list rather than `Option` layers: a `None`
        // layer composed with `and_then` hides the per-layer filters' interest.
        let mut layers: Vec<Box<dyn Layer<S> + Send + Sync>> = Vec::new();
        match file {
            Some(file) => layers.push(file.and_then(console).with_filter(filter).boxed()),
            None => layers.extend(console.map(|c| c.with_filter(filter).boxed())),
        }
        // After the files: a log directory problem is reported as such, not as a database one.
        #[allow(unused_mut)]
        let mut actions = std::mem::replace(&mut self.actions, ActionLayerBuilder::without_sink());
        // The signing key from the environment, unless the application set one.
        #[cfg(feature = "audit")]
        if self.actions_on && !actions.has_audit() {
            if let Some(audit) = crate::audit::Audit::from_env().map_err(|e| Error::Setting {
                setting: audit_setting(),
                reason: e.to_string(),
            })? {
                actions = actions.audit(audit);
            }
        }
        let (builder, from) = match self.actions_on.then_some(actions) {
            Some(b) if b.sink().is_some() => (Some(b), None),
            Some(b) => match self.default_sink()? {
                Some(chosen) => (Some(b.sink_boxed(chosen.sink)), chosen.from),
                // No default store, but stores were added: they are the stores.
                None if b.added_sinks().next().is_some() => (Some(b), None),
                None => {
                    crate::report::emit(format_args!(
                        "action records and job runs are not recorded: no store is configured \
                         ({}; or turn actions off with `Builder::actions(false)`)",
                        crate::sink::no_store_hint()
                    ));
                    (None, None)
                }
            },
            None => (None, None),
        };
        if let (Some(b), true) = (&builder, self.announce_store) {
            let first = b.sink().map(|s| crate::sink::describe(s, from));
            let stores: Vec<String> = first
                .into_iter()
                .chain(b.added_sinks().map(|s| crate::sink::describe(s, None)))
                .collect();
            crate::report::emit(format_args!(
                "action records and job runs go to {}",
                stores.join(" and to ")
            ));
        }
        if let Some(builder) = builder {
            let (layer, action_guard) = builder.build()?;
            guard = guard.merge(action_guard);
            // Job runs are recorded whatever the level; their captured lines follow it.
            let jobs = layer
                .job_layer()
                .with_filter(JobFilter::new(self.env_filter()?));
            layers.push(layer.with_filter(ActionFilter).boxed());
            layers.push(jobs.boxed());
        }
        Ok((crate::layers::Layers(layers), guard))
    }
}

/// The variable the signing key came from, for an error about it.
#[cfg(feature = "audit")]
fn audit_setting() -> &'static str {
    if std::env::var_os(crate::audit::KEY_ENV).is_some_and(|v| !v.is_empty()) {
        crate::audit::KEY_ENV
    } else {
        crate::audit::KEY_FILE_ENV
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::ActionRecord;
    use crate::sink::{Batch, SinkFuture};
    use tracing_subscriber::Registry;

    /// A store that takes every write.
    struct Takes;

    impl Sink for Takes {
        fn name(&self) -> &'static str {
            "takes"
        }

        fn write<'a>(&'a mut self, _: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
            Box::pin(std::future::ready(Ok(())))
        }
    }

    #[test]
    fn actions_turned_off_and_on_keep_what_was_set_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let d = Duration::from_millis(1234);
        let b = Builder::default()
            .log_dir(dir.path())
            .console(false)
            .day_files(false)
            .sink(Takes)
            .action_layer(|a| a.emit_initiated(false))
            .actions(false)
            .flush_deadline(d)
            .actions(true);
        assert!(b.actions.sink().is_some(), "the sink given before");
        assert!(
            format!("{:?}", b.actions).contains("emit_initiated: false"),
            "{:?}",
            b.actions
        );
        let (_layer, guard) = b.build::<Registry>().unwrap();
        assert_eq!(guard.flush_deadline(), d);
    }

    #[test]
    fn the_console_turned_off_and_on_keeps_its_stream() {
        let b = Builder::default()
            .console_stream(Stream::Stdout)
            .console(false)
            .color(ColorMode::Never)
            .console(true);
        assert!(b.console_on);
        assert_eq!(b.console, Stream::Stdout);
        assert_eq!(b.color, ColorMode::Never);
    }

    #[test]
    fn day_files_and_stdout_turned_off_and_on_keep_what_was_set_meanwhile() {
        let b = Builder::default()
            .day_files(false)
            .stdout_json(false)
            .file_layer(|f| f.keep_days(3).queue_capacity(7))
            .flush_deadline(Duration::from_millis(1234))
            .day_files(true)
            .stdout_json(true);
        assert!(b.files.writes_stdout() && b.files.writes_somewhere());
        let files = format!("{:?}", b.files);
        for kept in [
            "keep_days: Some(3)",
            "capacity: 7",
            "flush_deadline: 1.234s",
            "day_files: true",
        ] {
            assert!(files.contains(kept), "{kept} in {files}");
        }
    }
}
