//! The [`Guard`] that [`crate::init`] returns: it keeps the background writer alive, exposes the
//! counters, and on drop flushes everything within the flush deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::file::writer::Msg;

/// Live counters shared by a layer and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

/// A snapshot of the file output's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines that reached the day files, including actionlog's own WARNING lines about drops.
    pub lines_written: u64,
    /// Lines lost: channel full under [`crate::Overflow::DropNewest`], the writer gone after
    /// shutdown, or more than the in-memory cap waiting while the file could not be written.
    pub lines_dropped: u64,
    /// Failed attempts to write or reopen a day file.
    pub write_errors: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            lines_written: self.lines_written.load(Ordering::Relaxed),
            lines_dropped: self.lines_dropped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

/// The file writer thread and the way to reach it.
pub(crate) struct FileWorker {
    pub(crate) tx: Sender<Msg>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) counters: Arc<Counters>,
}

impl FileWorker {
    /// Sends `make(ack)` and waits for the ack until `deadline`.
    fn request(&self, make: impl FnOnce(Sender<()>) -> Msg, deadline: Instant) -> bool {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        let wait = deadline.saturating_duration_since(Instant::now());
        if self.tx.send_timeout(make(ack_tx), wait).is_err() {
            return false;
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// Keeps actionlog's background work alive; dropping it flushes and stops it.
///
/// Hold it for the life of `main`: `let _guard = actionlog::init()?;` (not `let _ = …`, which
/// drops it at once). On drop, everything queued is written out, waiting at most the flush
/// deadline (default 5 s, [`crate::Builder::flush_deadline`]); what is still queued then is
/// reported on stderr and counted.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let (layer, guard) = actionlog::FileLayer::builder(dir.path()).build().unwrap();
/// let subscriber = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "hello"));
/// assert!(guard.flush());
/// assert_eq!(guard.stats().lines_written, 1);
/// ```
#[must_use = "dropping the guard stops the writer; bind it with `let _guard = …`"]
pub struct Guard {
    pub(crate) file: Option<FileWorker>,
    pub(crate) flush_deadline: Duration,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("stats", &self.stats())
            .field("flush_deadline", &self.flush_deadline)
            .finish()
    }
}

impl Guard {
    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.file
            .as_ref()
            .map(|w| w.counters.snapshot())
            .unwrap_or_default()
    }

    /// Writes out everything emitted before this call; returns `false` if that did not finish
    /// within the flush deadline.
    pub fn flush(&self) -> bool {
        let deadline = Instant::now() + self.flush_deadline;
        self.file
            .as_ref()
            .is_none_or(|w| w.request(Msg::Flush, deadline))
    }

    /// Flushes and stops the writer, waiting at most `deadline`, and returns the final counters.
    /// Lines emitted afterwards are counted as dropped.
    pub fn shutdown(mut self, deadline: Duration) -> Stats {
        self.stop(deadline)
    }

    fn stop(&mut self, deadline: Duration) -> Stats {
        let Some(mut w) = self.file.take() else {
            return Stats::default();
        };
        let done = w.request(Msg::Shutdown, Instant::now() + deadline);
        if done {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        let stats = w.counters.snapshot();
        if !done {
            crate::report::emit(format_args!(
                "log files not fully flushed within {deadline:?}; {} lines written, {} dropped",
                stats.lines_written, stats.lines_dropped
            ));
        } else if stats.lines_dropped > 0 || stats.write_errors > 0 {
            crate::report::emit(format_args!(
                "{} log lines dropped and {} write errors during this run ({} lines written)",
                stats.lines_dropped, stats.write_errors, stats.lines_written
            ));
        }
        stats
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let d = self.flush_deadline;
        self.stop(d);
    }
}
