//! [`RollingWriter`]: the day files as a [`MakeWriter`], for a formatter of someone else's —
//! `tracing_subscriber::fmt::layer()` — that wants the same directory as [`super::FileLayer`]
//! writes: one file per day, numbered parts at a size cap, a bound on the directory's total,
//! `latest.log`, retention by age and, with the `compress` feature, closed parts gzipped.
//!
//! It is the file half of the file layer without its thread: each `write` goes to the file at
//! once, on the caller's thread, under a lock. A formatter hands one event per `write` (as
//! `fmt::layer()` and `tracing_appender::non_blocking` do), so parts end between lines; for
//! I/O off the caller's thread, wrap it in `tracing_appender::non_blocking`.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use super::rolling::{Bounds, DayFiles};
use crate::clock::{self, Clock, SystemClock, Timezone};
use crate::error::Error;
use crate::format::time::day_of;

/// How often a write checks that the open file is still the one its path names (deleted or
/// moved files are recreated): often enough that little is lost into an unlinked file, rarely
/// enough that the check costs nothing beside the write itself.
const STALE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The day files of a directory, as an [`io::Write`] and a [`MakeWriter`].
///
/// Layout, bounds and guarantees are those of [`FileLayer`](crate::FileLayer)'s files:
/// `YYYY-MM-DD.log`, then `YYYY-MM-DD.1.log`, … once [`max_file_bytes`] is reached, the oldest
/// closed parts deleted to stay under [`max_total_bytes`], days older than [`keep_days`]
/// deleted, `latest.log` a symlink to the part being written; files are created 0640 (Unix) and
/// opened without following links. [`actionlog::day_files`](crate::day_files) and the
/// `actionlog` command read them back.
///
/// Each call to `write` is one unit: the day and the part are chosen before it, and it is
/// never split between two files. A write that fails returns its error; the next write
/// reopens the file (recreating the directory), and the failure is reported once on stderr
/// until a write succeeds again.
///
/// [`max_file_bytes`]: RollingWriterBuilder::max_file_bytes
/// [`max_total_bytes`]: RollingWriterBuilder::max_total_bytes
/// [`keep_days`]: RollingWriterBuilder::keep_days
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let writer = actionlog::RollingWriter::builder(dir.path())
///     .max_file_bytes(10 << 20)
///     .max_total_bytes(1 << 30)
///     .build()?;
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().json().with_writer(writer));
/// tracing::subscriber::with_default(subscriber, || tracing::info!(user = "ada", "signed in"));
///
/// let days = actionlog::day_files(dir.path())?;
/// let line = days[0].lines().next().unwrap()?;
/// assert!(line.contains(r#""user":"ada""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RollingWriter {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    tz: Timezone,
}

struct State {
    files: DayFiles,
    /// When the open file was last checked against its path.
    checked_at: Instant,
    /// Whether the last write failed: a failure is reported when it starts, not per line.
    failing: bool,
    /// Gzips closed parts on a thread of its own; dropped (and joined) with the writer.
    #[cfg(feature = "compress")]
    compressor: Option<super::compress::Compressor>,
}

impl std::fmt::Debug for RollingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("RollingWriter")
            .field("file", &state.files.current_path())
            .field("timezone", &self.tz)
            .finish_non_exhaustive()
    }
}

impl RollingWriter {
    /// Starts a writer of day files in `dir` (created if missing), with no size bound, no
    /// retention, local-time days and the system clock.
    pub fn builder(dir: impl Into<PathBuf>) -> RollingWriterBuilder {
        RollingWriterBuilder {
            dir: dir.into(),
            bounds: Bounds::default(),
            tz: Timezone::default(),
            clock: Arc::new(SystemClock),
            #[cfg(feature = "compress")]
            compress: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a bug of ours) leaves `State` consistent: every
        // field is updated by one assignment after the I/O it records.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_unit(&self, buf: &[u8]) -> io::Result<()> {
        let day = day_of(self.clock.now(), self.tz);
        let mut state = self.lock();
        let result = state.write_unit(day, buf);
        match &result {
            Ok(()) => state.failing = false,
            Err(e) => {
                state.files.close();
                if !state.failing {
                    state.failing = true;
                    crate::report::emit(format_args!(
                        "cannot write to {}: {e}; reopening it at the next write",
                        state.files.current_path().display()
                    ));
                }
            }
        }
        result
    }
}

impl State {
    fn write_unit(&mut self, day: clock::Day, buf: &[u8]) -> io::Result<()> {
        if day > self.files.day() {
            self.files.rotate(day)?;
            self.tell_compressor();
        } else if let Some(cap) = self.files.part_cap() {
            let len = self.files.len();
            if len > 0 && len + buf.len() as u64 > cap {
                self.files.next_part()?;
                self.tell_compressor();
            }
        }
        if self.checked_at.elapsed() >= STALE_CHECK_EVERY {
            self.checked_at = Instant::now();
            if self.files.is_stale() {
                self.files.close();
            }
        }
        io::Write::write_all(self.files.file()?, buf)?;
        self.files.wrote(buf.len());
        Ok(())
    }

    /// Every part before the open one is closed for good: the compressor may take them.
    fn tell_compressor(&self) {
        #[cfg(feature = "compress")]
        if let Some(c) = &self.compressor {
            c.closed_before(self.files.current_id());
        }
    }
}

impl io::Write for &RollingWriter {
    /// Writes all of `buf` to the current part, as one unit.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_unit(buf)?;
        Ok(buf.len())
    }

    /// Each write reaches the file before it returns: nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for RollingWriter {
    /// Writes all of `buf` to the current part, as one unit.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    /// Each write reaches the file before it returns: nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RollingWriter {
    type Writer = &'a RollingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Settings of a [`RollingWriter`]; the same names and meanings as on
/// [`FileLayerBuilder`](crate::FileLayerBuilder).
#[must_use]
pub struct RollingWriterBuilder {
    dir: PathBuf,
    bounds: Bounds,
    tz: Timezone,
    clock: Arc<dyn Clock>,
    #[cfg(feature = "compress")]
    compress: bool,
}

impl std::fmt::Debug for RollingWriterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollingWriterBuilder")
            .field("dir", &self.dir)
            .field("keep_days", &self.bounds.keep_days)
            .field("max_file_bytes", &self.bounds.max_file_bytes)
            .field("max_total_bytes", &self.bounds.max_total_bytes)
            .field("timezone", &self.tz)
            .finish_non_exhaustive()
    }
}

impl RollingWriterBuilder {
    /// Which calendar decides when a day (and its file) begins (default: local time).
    pub fn timezone(mut self, tz: Timezone) -> Self {
        self.tz = tz;
        self
    }

    /// Keep only the files of the newest `n` days (default: all).
    pub fn keep_days(mut self, n: usize) -> Self {
        self.bounds.keep_days = Some(n);
        self
    }

    /// Close a part at `n` bytes and continue in the day's next one (default: no cap). A single
    /// write larger than `n` still goes whole into a part of its own.
    pub fn max_file_bytes(mut self, n: u64) -> Self {
        self.bounds.max_file_bytes = Some(n);
        self
    }

    /// Bound the directory's day files (all days, parts and compressed files) at `n` bytes by
    /// deleting the oldest closed parts whenever a part is opened (default: no bound).
    pub fn max_total_bytes(mut self, n: u64) -> Self {
        self.bounds.max_total_bytes = Some(n);
        self
    }

    /// Gzip each part once it is closed, on a thread of its own (default off).
    #[cfg(feature = "compress")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compress")))]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// The clock that decides the day (default: the system clock); a
    /// [`ManualClock`](crate::ManualClock) tests rollover without waiting for midnight.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Creates the directory and opens today's newest part.
    ///
    /// # Errors
    /// [`Error::LogDir`] when the directory cannot be created, [`Error::LogFile`] when the day
    /// file cannot be opened (a symlink in its place, no permission), [`Error::Thread`] when
    /// the compressor's thread cannot start.
    pub fn build(self) -> Result<RollingWriter, Error> {
        let day = day_of(self.clock.now(), self.tz);
        let files = DayFiles::open(self.dir, self.bounds, day)?;
        #[cfg(feature = "compress")]
        let compressor = if self.compress {
            Some(super::compress::Compressor::spawn(
                files.dir().to_path_buf(),
                files.dir_lock(),
            )?)
        } else {
            None
        };
        let state = State {
            files,
            checked_at: Instant::now(),
            failing: false,
            #[cfg(feature = "compress")]
            compressor,
        };
        state.tell_compressor();
        Ok(RollingWriter {
            state: Mutex::new(state),
            clock: self.clock,
            tz: self.tz,
        })
    }
}
