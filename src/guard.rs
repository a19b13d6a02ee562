//! The [`Guard`] that [`crate::init`] returns: it holds the outputs' handles, exposes their
//! counters, and on drop flushes everything within the flush deadline.

use std::time::{Duration, Instant};

use crate::handle::{Flusher, Handle};
use crate::stats::{Carries, Stats, StoreStats};

/// What [`Guard::shutdown`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// The final counters (the action counters summed over the stores).
    pub stats: Stats,
    /// Each store's final counters, as [`Guard::store_stats`] gives them.
    pub stores: Vec<StoreStats>,
    /// Whether every worker confirmed it had written out or delivered (or dead-lettered)
    /// everything before the deadline.
    pub complete: bool,
}

/// Keeps actionlog's background work alive; dropping it flushes and stops it.
///
/// Hold it for the life of `main`: `let _guard = actionlog::init()?;` (not `let _ = …`, which
/// drops it at once). On drop, everything queued is written out, waiting at most the flush
/// deadline (default 5 s, [`crate::Builder::flush_deadline`]); what is still queued then is
/// reported on stderr and counted.
///
/// A guard from [`crate::init`] may also live in a `static` (one `init` per test binary) or be
/// leaked: when the process exits without dropping it (`main` returns, `std::process::exit`),
/// an exit function `init` registered stops it the same way, within the same deadline.
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
    handles: Vec<Box<dyn Handle>>,
    flush_deadline: Duration,
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
    /// A guard holding one output's handle.
    pub(crate) fn new(handle: impl Handle + 'static, flush_deadline: Duration) -> Guard {
        Guard {
            handles: vec![Box::new(handle)],
            flush_deadline,
        }
    }

    /// A guard holding no output yet (none with a worker was built).
    pub(crate) fn empty() -> Guard {
        Guard {
            handles: Vec::new(),
            flush_deadline: Duration::ZERO,
        }
    }

    /// Combines two guards (e.g. a [`crate::FileLayer`]'s and an [`crate::ActionLayer`]'s) into
    /// one that keeps, flushes and stops the workers of both; counters are summed.
    pub fn merge(mut self, mut other: Guard) -> Guard {
        let mut handles = std::mem::take(&mut self.handles);
        handles.append(&mut other.handles);
        Guard {
            handles,
            flush_deadline: self.flush_deadline.max(other.flush_deadline),
        }
    }

    /// The flushers of the outputs worth flushing from the panic hook.
    pub(crate) fn flushers(&self) -> Vec<Flusher> {
        self.handles.iter().filter_map(|h| h.flusher()).collect()
    }

    /// What stops each output from the signal thread ([`crate::signals`]).
    pub(crate) fn stoppers(&self) -> Vec<Flusher> {
        self.handles.iter().filter_map(|h| h.stopper()).collect()
    }

    /// The flush deadline.
    pub(crate) fn flush_deadline(&self) -> Duration {
        self.flush_deadline
    }

    /// The counters now (summed over every worker this guard holds).
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for h in &self.handles {
            s.add(&h.stats());
        }
        s
    }

    /// Each store's counters now: one entry per store action records and job runs go to, in
    /// the order the stores were given (the first store — [`crate::Builder::sink`] or the
    /// default choice — first, then those of [`crate::Builder::also_sink`]); then, when the
    /// lines are shipped ([`crate::Builder::ship_lines`]), the store of lines, marked
    /// [`crate::Carries::Lines`]. The action counters of [`Self::stats`] are
    /// the sums of the stores of records; the store of lines is counted here only. Each entry
    /// keeps `recorded + replayed = delivered + dead_lettered + dropped + spooled` + what its
    /// queue still holds.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use actionlog::sink::SqliteSink;
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_layer, guard) = actionlog::builder()
    ///     .log_dir(dir.path())
    ///     .console(false)
    ///     .sink(SqliteSink::open(dir.path().join("actions.db")).unwrap())
    ///     .also_sink(SqliteSink::open(dir.path().join("archive.db")).unwrap())
    ///     .build::<tracing_subscriber::Registry>()
    ///     .unwrap();
    /// let stores = guard.store_stats();
    /// assert_eq!(stores.len(), 2);
    /// assert!(stores[0].target.ends_with("actions.db table action_logs"));
    /// assert_eq!(stores[0].spool_dir, Some(dir.path().join("spool")));
    /// assert!(stores[1].target.ends_with("archive.db table action_logs"));
    /// assert!(stores[1].dead_letter_dir.starts_with(dir.path().join("stores")));
    /// # }
    /// ```
    pub fn store_stats(&self) -> Vec<StoreStats> {
        let mut stores: Vec<StoreStats> = self
            .handles
            .iter()
            .filter_map(|h| h.store_stats())
            .collect();
        // The stores of records first, as given (a stable sort), whatever order the outputs
        // were merged in.
        stores.sort_by_key(|s| s.carries == Carries::Lines);
        stores
    }

    /// Writes out and delivers everything emitted before this call; returns `false` if that did
    /// not finish within the flush deadline (e.g. the database is down: records stay queued).
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let dir = tempfile::tempdir().unwrap();
    /// let (layer, guard) = actionlog::builder().log_dir(dir.path()).console(false).build().unwrap();
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info!(action_type = "export", "exported");
    /// });
    /// assert!(guard.flush()); // the line is in the day file, the action in the store
    /// assert_eq!(guard.stats().actions_delivered, 1);
    /// ```
    pub fn flush(&self) -> bool {
        let deadline = Instant::now() + self.flush_deadline;
        // Ask every output first, then wait: they flush in parallel within one deadline.
        let acks: Vec<_> = self.handles.iter().map(|h| h.flush(deadline)).collect();
        // Wait for each one (no short-circuit): a slow one must not leave others unasked.
        acks.into_iter()
            .fold(true, |ok, ack| ack.wait(deadline) & ok)
    }

    /// Flushes and stops the workers, waiting at most `deadline`, and returns the final counters.
    /// Action records that cannot be delivered by then go to the spool or the dead-letter file;
    /// events emitted afterwards are counted as dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_layer, guard) = actionlog::FileLayer::builder(dir.path()).build().unwrap();
    /// let done = guard.shutdown(Duration::from_secs(2));
    /// assert!(done.complete);
    /// ```
    pub fn shutdown(mut self, deadline: Duration) -> Shutdown {
        self.stop(deadline)
    }

    fn stop(&mut self, within: Duration) -> Shutdown {
        let deadline = Instant::now() + within;
        // Ask every output at once so that a slow database cannot eat the files' time.
        let acks: Vec<_> = self
            .handles
            .iter_mut()
            .map(|h| h.shutdown(deadline))
            .collect();
        let complete = acks
            .into_iter()
            .fold(true, |ok, ack| ack.wait(deadline) & ok);
        let stats = self.stats();
        let stores = self.store_stats();
        self.handles.clear();
        // With several stores, which one held records back; the store of lines always, as it
        // is not in `stats`.
        let lost_or_kept = |s: &Stats| {
            s.actions_dropped > 0
                || s.actions_dead_lettered > 0
                || s.actions_spooled > s.actions_replayed
        };
        let several = stores
            .iter()
            .filter(|s| s.carries == Carries::Records)
            .count()
            > 1;
        let per_store: String = stores
            .iter()
            .filter(|s| several || s.carries == Carries::Lines)
            .map(|s| match s.carries {
                Carries::Lines => format!("; log lines to {} {}: {:?}", s.sink, s.target, s.stats),
                _ => format!("; {} {}: {:?}", s.sink, s.target, s.stats),
            })
            .collect();
        if !complete {
            crate::report::emit(format_args!(
                "not fully flushed within {within:?}: {stats:?}{per_store}"
            ));
        } else if stats.lines_dropped > 0
            || stats.write_errors > 0
            || lost_or_kept(&stats)
            || stores.iter().any(|s| lost_or_kept(&s.stats))
        {
            crate::report::emit(format_args!("at shutdown: {stats:?}{per_store}"));
        }
        Shutdown {
            stats,
            stores,
            complete,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let d = self.flush_deadline;
        self.stop(d);
    }
}
