//! The [`Guard`] that [`crate::init`] returns: it keeps the background workers alive, exposes the
//! counters, and on drop flushes everything within the flush deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::file::writer::Msg;
use crate::pipeline::{ActionWorker, Cmd};

/// Live counters shared by the file layer and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

/// A snapshot of the counters.
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
    /// Action records produced by the action layer (an action span makes two: initiated, final),
    /// and job runs produced by the job layer (one each); the `actions_*` counters below count
    /// both.
    pub actions_recorded: u64,
    /// Action records written to the database (merged records count once each).
    pub actions_delivered: u64,
    /// Batch writes that failed transiently and were retried.
    pub actions_retried: u64,
    /// Action records kept in the dead-letter file: rejected by the database, or not deliverable
    /// before the shutdown deadline.
    pub actions_dead_lettered: u64,
    /// Action records lost: the channel stayed full past the overflow bound, a damaged spool
    /// line could not be read back, the spool could not be written, or the record was made after
    /// the guard had shut down (a span closing late, a task still running).
    pub actions_dropped: u64,
    /// Action records kept in the spool at shutdown because the sink could not take them in time.
    pub actions_spooled: u64,
    /// Action records read back from an earlier run's spool at start.
    pub actions_replayed: u64,
}

/// What [`Guard::shutdown`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// The final counters.
    pub stats: Stats,
    /// Whether every worker confirmed it had written out or delivered (or dead-lettered)
    /// everything before the deadline.
    pub complete: bool,
}

/// The file writer thread and the way to reach it.
pub(crate) struct FileWorker {
    pub(crate) tx: Sender<Msg>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) counters: Arc<Counters>,
}

impl FileWorker {
    /// Sends `make(ack)` within `deadline`; returns the ack's receiver.
    fn send(
        &self,
        make: impl FnOnce(Sender<()>) -> Msg,
        deadline: Instant,
    ) -> Option<Receiver<()>> {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        let wait = deadline.saturating_duration_since(Instant::now());
        self.tx
            .send_timeout(make(ack_tx), wait)
            .ok()
            .map(|_| ack_rx)
    }
}

/// A handle that flushes the day files from anywhere (the panic hook), without owning the guard.
#[derive(Clone)]
pub(crate) struct FileFlusher(Vec<Sender<Msg>>);

impl FileFlusher {
    /// Asks every file writer to write out what it has, waiting at most `within`.
    pub(crate) fn flush(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let acks: Vec<_> = self
            .0
            .iter()
            .map(|tx| {
                let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
                tx.send_timeout(Msg::Flush(ack_tx), within)
                    .ok()
                    .map(|_| ack_rx)
            })
            .collect();
        for ack in acks {
            wait_ack(ack, deadline);
        }
    }
}

fn wait_ack(ack: Option<Receiver<()>>, deadline: Instant) -> bool {
    ack.is_some_and(|rx| {
        rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    })
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
    pub(crate) files: Vec<FileWorker>,
    pub(crate) actions: Vec<ActionWorker>,
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
    /// Combines two guards (e.g. a [`crate::FileLayer`]'s and an [`crate::ActionLayer`]'s) into
    /// one that keeps, flushes and stops the workers of both; counters are summed.
    pub fn merge(mut self, mut other: Guard) -> Guard {
        let mut files = std::mem::take(&mut self.files);
        files.append(&mut other.files);
        let mut actions = std::mem::take(&mut self.actions);
        actions.append(&mut other.actions);
        Guard {
            files,
            actions,
            flush_deadline: self.flush_deadline.max(other.flush_deadline),
        }
    }

    pub(crate) fn file_flusher(&self) -> FileFlusher {
        FileFlusher(self.files.iter().map(|w| w.tx.clone()).collect())
    }

    /// The counters now (summed over every worker this guard holds).
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for w in &self.files {
            s.lines_written += w.counters.lines_written.load(Ordering::Relaxed);
            s.lines_dropped += w.counters.lines_dropped.load(Ordering::Relaxed);
            s.write_errors += w.counters.write_errors.load(Ordering::Relaxed);
        }
        for a in &self.actions {
            let c = &a.counters;
            s.actions_recorded += c.recorded.load(Ordering::Relaxed);
            s.actions_delivered += c.delivered.load(Ordering::Relaxed);
            s.actions_retried += c.retried.load(Ordering::Relaxed);
            s.actions_dead_lettered += c.dead_lettered.load(Ordering::Relaxed);
            s.actions_dropped += c.dropped.load(Ordering::Relaxed);
            s.actions_spooled += c.spooled.load(Ordering::Relaxed);
            s.actions_replayed += c.replayed.load(Ordering::Relaxed);
        }
        s
    }

    /// Writes out and delivers everything emitted before this call; returns `false` if that did
    /// not finish within the flush deadline (e.g. the database is down: records stay queued).
    pub fn flush(&self) -> bool {
        let deadline = Instant::now() + self.flush_deadline;
        // Ask every worker first, then wait: they flush in parallel within one deadline.
        let acks: Vec<Option<Receiver<()>>> = self
            .files
            .iter()
            .map(|w| w.send(Msg::Flush, deadline))
            .chain(self.actions.iter().map(|a| a.send(Cmd::Flush)))
            .collect();
        // Wait for each one (no short-circuit): a slow one must not leave others unasked.
        let mut ok = true;
        for ack in acks {
            ok &= wait_ack(ack, deadline);
        }
        ok
    }

    /// Flushes and stops the workers, waiting at most `deadline`, and returns the final counters.
    /// Action records that cannot be delivered by then go to the dead-letter file; events
    /// emitted afterwards are counted as dropped.
    pub fn shutdown(mut self, deadline: Duration) -> Shutdown {
        self.stop(deadline)
    }

    fn stop(&mut self, within: Duration) -> Shutdown {
        let deadline = Instant::now() + within;
        // Ask every worker at once so that a slow database cannot eat the files' time. Action
        // workers get a quarter less, to leave them time to spool (fsync) or dead-letter the rest.
        let action_deadline = deadline - within / 4;
        let file_acks: Vec<_> = self
            .files
            .iter()
            .map(|w| w.send(Msg::Shutdown, deadline))
            .collect();
        let action_acks: Vec<_> = self
            .actions
            .iter()
            .map(|a| a.send(|ack| Cmd::Shutdown(action_deadline, ack)))
            .collect();
        let mut complete = true;
        for (w, ack) in self.files.iter_mut().zip(file_acks) {
            if wait_ack(ack, deadline) {
                if let Some(t) = w.thread.take() {
                    let _ = t.join();
                }
            } else {
                complete = false;
            }
        }
        for (a, ack) in self.actions.iter_mut().zip(action_acks) {
            if wait_ack(ack, deadline) {
                if let Some(t) = a.thread.take() {
                    let _ = t.join();
                }
            } else {
                complete = false;
            }
        }
        let stats = self.stats();
        self.files.clear();
        self.actions.clear();
        if !complete {
            crate::report::emit(format_args!(
                "not fully flushed within {within:?}: {stats:?}"
            ));
        } else if stats.lines_dropped > 0
            || stats.write_errors > 0
            || stats.actions_dropped > 0
            || stats.actions_dead_lettered > 0
            || stats.actions_spooled > stats.actions_replayed
        {
            crate::report::emit(format_args!("at shutdown: {stats:?}"));
        }
        Shutdown { stats, complete }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let d = self.flush_deadline;
        self.stop(d);
    }
}
