//! [`Builder`]: every knob with a sensible default, and the one fallible [`Builder::init`] that
//! installs the global subscriber and returns the [`Guard`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::clock::{Clock, SystemClock, Timezone};
use crate::console::{ColorMode, ConsoleLayer, Stream};
use crate::file::{DEFAULT_CHANNEL_CAPACITY, DEFAULT_FLUSH_DEADLINE, FileLayer, Overflow};
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
    capacity: usize,
    overflow: Overflow,
    flush_deadline: Duration,
    clock: Arc<dyn Clock>,
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
            capacity: DEFAULT_CHANNEL_CAPACITY,
            overflow: Overflow::Block,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            clock: Arc::new(SystemClock),
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
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("flush_deadline", &self.flush_deadline)
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
    pub fn init(self) -> Result<Guard, Error> {
        if tracing::dispatcher::has_been_set() {
            return Err(Error::AlreadyInitialized);
        }
        let filter = self.env_filter()?;
        let max_level = filter.max_level_hint();
        let mut files = FileLayer::builder(&self.log_dir)
            .timezone(self.tz)
            .channel_capacity(self.capacity)
            .overflow(self.overflow)
            .flush_deadline(self.flush_deadline)
            .clock_arc(self.clock.clone());
        if let Some(n) = self.keep_days {
            files = files.keep_days(n);
        }
        let (file, guard) = files.build()?;
        let console = self.console.map(|s| {
            ConsoleLayer::new(s)
                .color(self.color)
                .timezone(self.tz)
                .clock_arc(self.clock.clone())
        });
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(file)
            .with(console);
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
        Ok(guard)
    }
}
