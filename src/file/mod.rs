//! The daily JSON-lines output: [`FileLayer`] captures each event's raw parts on the caller's
//! thread ([`record`]: values copied or formatted once, not escaped; the span fields as their
//! span's flattening) and appends them to that thread's slot ([`handoff`]), bounded in lines and
//! bytes; the writer thread ([`writer`]) takes every slot's records in rounds, renders each into
//! its JSON line ([`render`]: escaping, URL scrubbing, the record cap; the layout is
//! `format::file`'s) and appends them to
//! `<dir>/YYYY-MM-DD.log`, or the day's current part `YYYY-MM-DD.N.log`
//! under a size cap ([`rolling`], names in [`names`]). Each time a file is opened, [`retention`]
//! applies `keep_days` and `max_total_bytes`; with the `compress` feature a thread of its own
//! gzips closed files (`compress`). [`read`] reads it all back for every consumer. The same
//! lines may go to standard output too, or instead of the day files ([`stdout`], [`writer::Output`]):
//! the container set-up. And they may be shipped, each the day file's line as it is, through a
//! pipeline of their own to a store that takes lines ([`FileLayerBuilder::ship_lines`]: an
//! OpenTelemetry collector), with or without the day files.
//!
//! The caller never does I/O. What it may do is wait: under [`Overflow::Block`] (the default) a
//! full hand-off makes the caller wait for the writer, so nothing is lost; under
//! [`Overflow::DropNewest`] it never waits and the line is dropped and counted instead. Lines
//! of one thread keep their order; a thread that exits leaves its lines to the writer. At
//! midnight each line goes into the file of its own day, except a line stamped before midnight
//! that reaches the writer after it moved to the new day: that one goes into the new day's
//! file, with its own timestamp (see [`writer`]).

#[cfg(feature = "compress")]
pub(crate) mod compress;
#[cfg(test)]
mod golden;
mod handle;
mod handoff;
#[cfg(test)]
mod line_properties;
pub(crate) mod names;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod probe;
pub mod read;
mod record;
mod render;
pub(crate) mod retention;
pub(crate) mod rolling;
mod rolling_writer;
mod stdout;
pub(crate) mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{Clock, SystemClock, Timezone};
use crate::error::Error;
use crate::fields::CaptureSettings;
use crate::fields::spans::{SpanTracking, line_layer_span_hooks};
use crate::format::time;
use crate::guard::Guard;
use crate::limits::Limits;
use crate::pipeline::{self, PipelineConfig};
use crate::redact::Redaction;
use crate::sink::Sink;
use handle::{Counters, FileHandle};
use handoff::Handoff;
pub use handoff::{DEFAULT_BLOCK_TIMEOUT, DEFAULT_QUEUE_MAX_BYTES};
pub use rolling_writer::{RollingWriter, RollingWriterBuilder};

pub use crate::handle::Overflow;

/// The file writer thread's name.
pub(crate) const WRITER_THREAD: &str = "actionlog-file";

/// Default bound of the lines queued for the file writer.
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Default time [`Guard`] waits on drop for queued lines to be written.
pub const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// A [`Layer`] writing every event as one JSON line to daily files, or to standard output
/// ([`FileLayerBuilder::stdout_json`], [`FileLayerBuilder::day_files`]).
///
/// Compose it with any other layers and filters:
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let (files, guard) = actionlog::FileLayer::builder(dir.path()).build().unwrap();
/// let subscriber = tracing_subscriber::registry()
///     .with(files.with_filter(tracing_subscriber::filter::LevelFilter::INFO));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("collect", lookback_days = 30);
///     let _in = span.enter();
///     tracing::info!(us_congress = true, "Start Collection button clicked");
/// });
/// drop(guard); // flushes
/// let day_file = std::fs::read_dir(dir.path()).unwrap()
///     .map(|e| e.unwrap().path())
///     .find(|p| p.extension().is_some_and(|x| x == "log") && !p.ends_with("latest.log"))
///     .unwrap();
/// let line = std::fs::read_to_string(day_file).unwrap();
/// assert!(line.contains(r#""metadata":{"us_congress":true,"lookback_days":30}"#));
/// ```
pub struct FileLayer {
    handoff: Handoff,
    clock: Arc<dyn Clock>,
    tz: Timezone,
    /// Redaction, caps, span fields and span close lines
    /// ([`FileLayerBuilder::span_close_lines`]).
    spans: SpanTracking,
}

impl std::fmt::Debug for FileLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLayer")
            .field("overflow", &self.handoff.overflow)
            .field("timezone", &self.tz)
            .finish_non_exhaustive()
    }
}

impl FileLayer {
    /// Starts configuring a file layer writing into `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> FileLayerBuilder {
        FileLayerBuilder {
            dir: dir.as_ref().to_path_buf(),
            tz: Timezone::default(),
            bounds: rolling::Bounds::default(),
            #[cfg(feature = "compress")]
            compress: false,
            capacity: DEFAULT_QUEUE_CAPACITY,
            max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            block_timeout: DEFAULT_BLOCK_TIMEOUT,
            overflow: Overflow::default(),
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            clock: Arc::new(SystemClock),
            render: CaptureSettings::default(),
            close_lines: false,
            day_files: true,
            stdout_json: false,
            ship: None,
        }
    }
}

impl<S> Layer<S> for FileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    line_layer_span_hooks!(spans, clock);

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let now = self.clock.unix_now();
        let day = time::day_unix(now, self.tz);
        // The event's raw parts only: the writer renders the line (see `record`).
        record::with_buffer(|buf| {
            record::capture(buf, event, now, &self.spans.settings);
            self.spans.with_event_flat(event, &ctx, |flat| {
                self.handoff.send_event(day, event.metadata(), buf, flat);
            });
        });
    }
}

/// Configures a [`FileLayer`]; [`build`](Self::build) opens today's file and starts the writer.
#[must_use]
pub struct FileLayerBuilder {
    dir: PathBuf,
    tz: Timezone,
    bounds: rolling::Bounds,
    #[cfg(feature = "compress")]
    compress: bool,
    capacity: usize,
    max_bytes: u64,
    block_timeout: Duration,
    overflow: Overflow,
    flush_deadline: Duration,
    clock: Arc<dyn Clock>,
    render: CaptureSettings,
    close_lines: bool,
    day_files: bool,
    stdout_json: bool,
    ship: Option<ShipLines>,
}

/// Changes the pipeline of lines' settings from its defaults (see
/// [`FileLayerBuilder::ship_lines_with`]).
type LinesSettings = Box<dyn FnOnce(PipelineConfig) -> PipelineConfig + Send>;

/// Where the lines are shipped, and how its pipeline's settings differ from the defaults.
struct ShipLines {
    sink: Box<dyn Sink>,
    settings: Option<LinesSettings>,
}

impl std::fmt::Debug for FileLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLayerBuilder")
            .field("dir", &self.dir)
            .field("timezone", &self.tz)
            .field("keep_days", &self.bounds.keep_days)
            .field("max_file_bytes", &self.bounds.max_file_bytes)
            .field("max_total_bytes", &self.bounds.max_total_bytes)
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("flush_deadline", &self.flush_deadline)
            .field("span_close_lines", &self.close_lines)
            .field("day_files", &self.day_files)
            .field("stdout_json", &self.stdout_json)
            .field("ship_lines", &self.ship.as_ref().map(|s| s.sink.name()))
            .finish_non_exhaustive()
    }
}

impl FileLayerBuilder {
    /// The directory of the day files (the one given to [`FileLayer::builder`]).
    pub fn log_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = dir.as_ref().to_path_buf();
        self
    }

    /// The zone of timestamps and day boundaries (default: local time).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self
    }

    /// Keep only the files of the newest `n` days, all their parts and compressed files
    /// included (at least 1: the open file is never deleted). Default: keep everything.
    pub fn keep_days(mut self, n: usize) -> Self {
        self.bounds.keep_days = Some(n);
        self
    }

    /// Caps each file at `n` bytes (default: no cap). When the next line would take today's
    /// file past it, the writer closes the file and continues in `YYYY-MM-DD.1.log`, then
    /// `.2.log`, …; `latest.log` follows. A line is never split: a file holds at least one
    /// line, so a single line longer than `n` gets a file of its own; and while the disk
    /// refuses writes, the lines held meanwhile finish in the file they started in.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_files, _guard) = actionlog::FileLayer::builder(dir.path())
    ///     .max_file_bytes(64 << 20)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn max_file_bytes(mut self, n: u64) -> Self {
        self.bounds.max_file_bytes = Some(n);
        self
    }

    /// Bounds the bytes of actionlog's own files in the directory (day files, their parts and
    /// compressed files) at `n` (default: no bound). Each time a file is opened, the oldest
    /// closed files are deleted first until the rest, plus the room the open file may still
    /// take, fit in `n`; the open file is never deleted and no other name is touched. Files are
    /// cut into parts of at most `n / 8` (or [`max_file_bytes`](Self::max_file_bytes), if
    /// smaller), so a busy day cannot outgrow the bound. Works together with
    /// [`keep_days`](Self::keep_days): a file goes when either says so. The spool, dead-letter
    /// directory and `actions.db` have their own bounds and are not counted here.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_files, _guard) = actionlog::FileLayer::builder(dir.path())
    ///     .max_total_bytes(1 << 30) // 1 GiB, in parts of at most 128 MiB
    ///     .keep_days(30)
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn max_total_bytes(mut self, n: u64) -> Self {
        self.bounds.max_total_bytes = Some(n);
        self
    }

    /// Compresses closed files (yesterday's day file, today's earlier parts) to `….log.gz` on
    /// a background thread of their own at the lowest CPU priority, off the writer's path
    /// (default off; cargo feature `compress`). A crash at any point leaves every line whole
    /// in the plain or the compressed file; [`crate::day_files`] reads both, each line once.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_files, _guard) = actionlog::FileLayer::builder(dir.path())
    ///     .compress(true)
    ///     .build()
    ///     .unwrap();
    /// ```
    #[cfg(feature = "compress")]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// Lines queued for the writer (the callers' per-thread buffers together) before
    /// [`Overflow`] applies (default 65 536).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Bytes queued for the writer before [`Overflow`] applies (default 64 MiB), beside the bound
    /// in lines. A line is held as its captured event (values unescaped, rendered by the
    /// writer) and counts as that record's bytes plus its span fields'; a line alone larger than
    /// this still goes through when nothing else waits.
    pub fn queue_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// How long [`Overflow::Block`] waits for room at most (default 1 s) before the line is
    /// dropped and counted, and the writer taken to be stalled (see [`Overflow::Block`]).
    pub fn block_timeout(mut self, d: Duration) -> Self {
        self.block_timeout = d;
        self
    }

    /// What to do when the queue for the writer is full (default [`Overflow::Block`]).
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.overflow = o;
        self
    }

    /// How long the guard waits on drop for queued lines (default 5 s).
    pub fn flush_deadline(mut self, d: Duration) -> Self {
        self.flush_deadline = d;
        self
    }

    /// The clock for timestamps and rollover (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Which field names are redacted (default [`Redaction::default`]).
    pub fn redaction(mut self, r: Redaction) -> Self {
        self.render.redaction = r;
        self
    }

    /// Size caps on values and events (default [`Limits::default`]: 64 KiB, 1 MiB).
    pub fn limits(mut self, l: Limits) -> Self {
        self.render.limits = l;
        self
    }

    /// One line when a span closes (default off), like tracing-subscriber's `FmtSpan::CLOSE`:
    /// the span's level, its target as the logger, the message `close <span name>`, and in
    /// `metadata` its times in milliseconds (microsecond resolution) — `elapsed_ms` since it
    /// was created, `busy_ms` entered on some thread, `idle_ms` the rest, so
    /// `busy_ms + idle_ms = elapsed_ms` — then the span's fields and its parents', as an
    /// event inside it would have them (redacted and capped alike). A request span keeps a
    /// line with its timing even when nothing inside it logs. Spans the layer's filter
    /// disables give none. The times are read from the layer's clock.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// let (files, guard) = actionlog::FileLayer::builder(dir.path())
    ///     .span_close_lines(true)
    ///     .build()
    ///     .unwrap();
    /// let subscriber = tracing_subscriber::registry().with(files);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let span = tracing::info_span!("request", method = "GET");
    ///     span.in_scope(|| {});
    /// });
    /// drop(guard);
    /// let day = &actionlog::day_files(dir.path()).unwrap()[0];
    /// let line = day.lines().next().unwrap().unwrap();
    /// assert!(line.contains(r#""message":"close request""#));
    /// assert!(line.contains(r#""elapsed_ms":"#) && line.contains(r#""method":"GET""#));
    /// ```
    pub fn span_close_lines(mut self, on: bool) -> Self {
        self.close_lines = on;
        self
    }

    /// Writes every line to standard output too (default off), in the day files' format —
    /// one JSON object per line, nothing else — for a container whose platform collects
    /// stdout. The same writer thread writes it: the caller does no I/O, and the queue's
    /// bounds and [`Overflow`] apply as they do to the files. A stdout that blocks (a reader
    /// that stopped reading) stalls the writer like a hung disk: callers wait at most
    /// [`block_timeout`](Self::block_timeout) once, then lines are dropped and counted until
    /// it takes lines again, and dropping the guard waits at most the flush deadline. A closed
    /// stdout (EPIPE) is a write error, counted and reported once, never a signal that ends
    /// the process. Beside the day files stdout gets a copy (best effort: the files keep every
    /// line); with them off ([`day_files(false)`](Self::day_files)) it is the only
    /// destination, held and retried as a day file would be. Nothing else should write to
    /// stdout then (a console on stdout included).
    pub fn stdout_json(mut self, on: bool) -> Self {
        self.stdout_json = on;
        self
    }

    /// Whether the lines go to the day files (default on). Off, no directory or file is made
    /// and [`build`](Self::build) needs [`stdout_json`](Self::stdout_json) on: the container
    /// set-up, where the platform keeps stdout and a `./logs` dies with the container.
    ///
    /// ```
    /// let (_lines, _guard) = actionlog::FileLayer::builder("unused")
    ///     .day_files(false)
    ///     .stdout_json(true)
    ///     .build()
    ///     .unwrap();
    /// assert!(!std::path::Path::new("unused").exists());
    /// ```
    pub fn day_files(mut self, on: bool) -> Self {
        self.day_files = on;
        self
    }

    /// Ships every line to `sink` too (default: not shipped) — an
    /// [`OtlpSink`](crate::sink::OtlpSink), which sends each as an OpenTelemetry log record to
    /// a collector — through a pipeline of its own, the durable path action records take:
    /// a bounded queue, batches, retries with backoff, a disk spool while the receiver is slow
    /// or down (replayed by the next start too) and dead letters, with its own counters
    /// ([`Guard::store_stats`], [`crate::Carries::Lines`]). Beside the day files or instead of
    /// them ([`day_files(false)`](Self::day_files)): with the day files and stdout off, the
    /// writer renders each line for shipping only.
    ///
    /// What is shipped is the day file's line, byte for byte: the writer thread renders it
    /// once (the caller does no more than without shipping) and hands it over. The pipeline's
    /// spool and dead letters go to `<log_dir>/stores/<name>-<hash>-lines/` (`<name>-<hash>` as
    /// a store added with [`crate::Builder::also_sink`] would have it, so apart from any store
    /// of records, the same collector's included). Its queue full, the writer waits at most
    /// [`block_timeout`](Self::block_timeout) once, then drops lines there (counted in that
    /// store) until it takes them again; meanwhile the file layer's own queue and
    /// [`Overflow`] bound what callers wait. Given twice, the last sink wins.
    ///
    /// [`build`](Self::build) fails with [`Error::Config`] for a sink that does not take lines
    /// ([`Sink::takes_lines`]: the database sinks).
    ///
    /// ```no_run
    /// # #[cfg(feature = "otlp")] {
    /// // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 …
    /// let collector = actionlog::sink::OtlpSink::from_env()?;
    /// let (_lines, _guard) = actionlog::FileLayer::builder("logs")
    ///     .day_files(false) // the collector only
    ///     .ship_lines(collector)
    ///     .build()?;
    /// # }
    /// # Ok::<(), actionlog::Error>(())
    /// ```
    pub fn ship_lines(mut self, sink: impl Sink) -> Self {
        self.ship = Some(ShipLines {
            sink: Box::new(sink),
            settings: None,
        });
        self
    }

    /// [`Self::ship_lines`], with the pipeline of lines' settings changed from its defaults by
    /// `settings`: [`PipelineConfig`]'s, but for the wait of a full queue, which defaults to
    /// this layer's [`block_timeout`](Self::block_timeout) — e.g. `|p| p.overflow(Overflow::DropNewest)`
    /// so the writer never waits for it, `|p| p.spool_max_bytes(256 << 20)`, or a spool
    /// directory of its own.
    pub fn ship_lines_with(
        mut self,
        sink: impl Sink,
        settings: impl FnOnce(PipelineConfig) -> PipelineConfig + Send + 'static,
    ) -> Self {
        self.ship = Some(ShipLines {
            sink: Box::new(sink),
            settings: Some(Box::new(settings)),
        });
        self
    }

    /// The sink the lines are shipped to, if they are.
    pub(crate) fn ships_to(&self) -> Option<&dyn Sink> {
        self.ship.as_ref().map(|s| s.sink.as_ref())
    }

    /// Whether the lines go to standard output.
    pub(crate) fn writes_stdout(&self) -> bool {
        self.stdout_json
    }

    /// Whether the lines go anywhere (the day files, stdout, a store of lines).
    pub(crate) fn writes_somewhere(&self) -> bool {
        self.day_files || self.stdout_json || self.ship.is_some()
    }

    /// Shares a clock already behind an `Arc`.
    pub(crate) fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Creates the directory (mode 0750 on Unix), opens today's file (mode 0640 on Unix),
    /// points `latest.log` at it and starts the writer thread (with the day files off, only the
    /// thread), and the pipeline of lines when they are shipped. (Windows: see the README's
    /// "Platforms".)
    ///
    /// # Errors
    /// [`Error::LogDir`] or [`Error::LogFile`] naming the path and the OS cause;
    /// [`Error::Stdout`] when the lines go to a standard output the process does not have;
    /// [`Error::Config`] for a zero capacity, with the day files, stdout and shipping all off,
    /// for a sink given to [`Self::ship_lines`] that does not take lines, or out-of-range
    /// settings of its pipeline; [`Error::Thread`] if a thread cannot start.
    pub fn build(mut self) -> Result<(FileLayer, Guard), Error> {
        if self.capacity == 0 {
            return Err(Error::Config("queue_capacity must be at least 1"));
        }
        if !self.writes_somewhere() {
            return Err(Error::Config(
                "the day files and standard output are both off: the lines have nowhere to go",
            ));
        }
        // The store of lines is checked before any file or thread is made.
        let ship = match self.ship.take() {
            Some(ShipLines { sink, settings }) => {
                let base = PipelineConfig {
                    log_dir: self.dir.clone(),
                    ..PipelineConfig::default().block_timeout(self.block_timeout)
                };
                let config = match settings {
                    Some(f) => f(base),
                    None => base,
                }
                .for_lines(sink.name(), &sink.target());
                pipeline::check_lines(sink.as_ref(), &config)?;
                Some((sink, config))
            }
            None => None,
        };
        let stdout = || stdout::Stdout::open().map_err(Error::Stdout);
        let day = time::day_of(self.clock.now(), self.tz);
        let (out, copy) = if self.day_files {
            let copy = self.stdout_json.then(stdout).transpose()?;
            let files = rolling::DayFiles::open(self.dir, self.bounds, day)?;
            (writer::Output::Files(files), copy)
        } else if self.stdout_json {
            (
                writer::Output::Stdout {
                    out: stdout()?,
                    day,
                },
                None,
            )
        } else {
            (writer::Output::ShippedOnly { day }, None)
        };
        // Flush and shutdown requests only: lines go through the hub's per-thread slots.
        let (tx, rx) = crossbeam_channel::unbounded();
        let hub = Arc::new(handoff::Hub::new(
            self.max_bytes,
            self.capacity as u64,
            self.overflow == Overflow::Block,
        ));
        let counters = Arc::new(Counters::default());
        let mut w = writer::Writer::new(
            hub.clone(),
            rx,
            out,
            counters.clone(),
            self.clock.clone(),
            self.tz,
            self.render.clone(),
        );
        if let Some(copy) = copy {
            w.copy_with(writer::StdoutCopy::new(copy));
        }
        let lines = match ship {
            Some((sink, config)) => {
                let (sender, handle) = pipeline::start_lines(sink, config, self.clock.clone())?;
                w.ship_with(sender);
                Some(handle)
            }
            None => None,
        };
        #[cfg(feature = "compress")]
        if let Some(files) = w.day_files().filter(|_| self.compress) {
            let compressor =
                compress::Compressor::spawn(files.dir().to_path_buf(), files.dir_lock())?;
            w.compress_with(compressor);
        }
        let thread = std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || w.run())
            .map_err(Error::Thread)?;
        hub.set_writer(thread.thread().clone());
        let layer = FileLayer {
            handoff: Handoff {
                hub: hub.clone(),
                overflow: self.overflow,
                block_timeout: self.block_timeout,
                counters: counters.clone(),
            },
            clock: self.clock,
            tz: self.tz,
            spans: SpanTracking::new(self.render, self.close_lines),
        };
        let handle = FileHandle {
            tx,
            hub,
            thread: Some(thread),
            counters,
            lines,
        };
        let guard = Guard::new(handle, self.flush_deadline);
        Ok((layer, guard))
    }
}
