//! Delivery of action records (and of job runs, which travel the same way and count in the
//! same counters), one stage per file: the queue between the layers and the worker, both its
//! ends (`queue`: the layers' [`Submitter`], the worker's side with its commands and spilling),
//! the settings (`config`), the worker's loop (`batcher`: batches made into requests, merging
//! the records of one action; replay; shutdown), the driver of one request (`delivery`:
//! attempts and their outcomes, retries, splitting, dead letters), the retry policy (`retry`),
//! the disk spool (`spool`, its files in `segment`) and the dead-letter file (`dead_letter`).
//! The worker's [`PipelineHandle`] is what the guard holds.
//!
//! The log lines (`Builder::ship_lines`): [`start_lines`] runs one more pipeline, of its own —
//! channel, worker, spool, dead letters and counters — fed by the file writer through a
//! [`LineSender`] with the rendered lines ([`crate::rows::LogLine`]), so line volume never
//! delays the records, and a store of records never sees a line.
//!
//! Several stores: [`start`] runs one pipeline per store — its own channel, worker thread,
//! runtime, retries, spool and dead-letter file, and counters — and the layers' [`Submitter`]
//! offers each record to every channel (see `queue`), so a store that is down or slow holds
//! only its own records: the others go on delivering, and each pipeline delivers each record
//! once. The invariants below hold for each pipeline.
//!
//! Invariants:
//! - The layer's side never does I/O and never awaits. Under [`crate::Overflow::Block`] (default) a
//!   full channel holds the caller at most [`PipelineConfig::block_timeout`] (default 100 ms),
//!   then the record is dropped and counted; under [`crate::Overflow::DropNewest`] it is dropped at
//!   once and counted.
//! - One worker thread with its own single-threaded tokio runtime does all delivery; it never runs
//!   on the app's executor, and everything it does runs under a no-op subscriber, so the sink's
//!   own `tracing`/`log` output (tokio-postgres, reqwest) never feeds back into the pipeline.
//! - Writes are idempotent upserts keyed by the record id, so a batch retried after an ambiguous
//!   failure (connection lost after commit) lands once.
//! - Counters: every record the layer produced is `recorded`; it then ends as `delivered`,
//!   `dead_lettered` (rejected by the database, or undeliverable by the shutdown deadline: kept in
//!   `<log_dir>/dead-letter/`), `dropped` (channel full), or is still queued.
//!   `recorded + replayed = delivered + dead_lettered + dropped + spooled + queued`, where
//!   `spooled` records were kept on disk at shutdown and `replayed` ones came from the spool of
//!   an earlier run (see [`spool`]). A batch a receiver took only in part without saying which
//!   records it refused (an OTLP partial success, [`crate::sink::FailureKind::PartiallyRejected`])
//!   counts as `dead_lettered`, all of it: it is kept whole in the dead-letter file and not
//!   resent. `partially_rejected` adds up the refusals the receivers reported; it is outside
//!   the sum (those records are among the dead-lettered ones).

mod batcher;
mod config;
mod dead_letter;
mod delivery;
mod queue;
mod retry;
pub(crate) mod segment;
mod spool;

pub use config::{DEFAULT_ACTION_BLOCK_TIMEOUT, DEFAULT_SPOOL_MAX_BYTES, PipelineConfig};
pub use dead_letter::DEFAULT_DEAD_LETTER_MAX_BYTES;
pub(crate) use queue::{LineSender, Submitter};

use std::collections::HashSet;
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::clock::Clock;
use crate::error::Error;
use crate::handle::{Ack, Handle};
use crate::sink::Sink;
use crate::stats::{Carries, Stats, StoreStats};

/// Live counters of the action pipeline.
#[derive(Debug, Default)]
pub(crate) struct ActionCounters {
    pub(crate) recorded: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) partially_rejected: AtomicU64,
}

/// Control messages to the worker, on their own channel so they never wait behind records.
pub(crate) enum Cmd {
    /// Deliver everything received so far, then acknowledge.
    Flush(Sender<()>),
    /// Deliver what can be delivered before the instant, dead-letter the rest, acknowledge, stop.
    Shutdown(Instant, Sender<()>),
}

/// The worker's [`Handle`]: commands travel on their own channel, so they never wait behind
/// records.
pub(crate) struct PipelineHandle {
    ctl: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<ActionCounters>,
    /// The store, as [`StoreStats`] names it.
    sink: &'static str,
    carries: Carries,
    target: String,
    spool_dir: Option<PathBuf>,
    dead_letter_dir: PathBuf,
}

/// Asks the worker behind `ctl` to stop by `deadline`: it gets a quarter less than that, to
/// leave it time to spool (fsync) or dead-letter what the sink could not take.
fn request_shutdown(ctl: &Sender<Cmd>, deadline: Instant) -> Ack {
    let left = deadline.saturating_duration_since(Instant::now());
    let own = deadline - left / 4;
    Ack::request(|ack| Cmd::Shutdown(own, ack), |c| ctl.send(c).is_ok())
}

impl PipelineHandle {
    /// What asks the worker to deliver everything it received so far, from another owner (the
    /// file writer's handle, once the writer has handed over its lines).
    pub(crate) fn flush_request(&self) -> crate::handle::Flusher {
        let ctl = self.ctl.clone();
        Box::new(move |_deadline: Instant| Ack::request(Cmd::Flush, |c| ctl.send(c).is_ok()))
    }

    /// What stops the worker by a deadline and then waits for its thread (taken: asked once),
    /// from another owner; see [`Self::flush_request`].
    pub(crate) fn take_shutdown(&mut self) -> impl FnOnce(Instant) -> Ack + Send + 'static {
        let ctl = self.ctl.clone();
        let thread = self.thread.take();
        move |deadline| request_shutdown(&ctl, deadline).then_join(thread)
    }
}

impl Handle for PipelineHandle {
    fn flush(&self, _deadline: Instant) -> Ack {
        Ack::request(Cmd::Flush, |c| self.ctl.send(c).is_ok())
    }

    fn shutdown(&mut self, deadline: Instant) -> Ack {
        request_shutdown(&self.ctl, deadline).then_join(self.thread.take())
    }

    fn stopper(&self) -> Option<crate::handle::Flusher> {
        // A shutdown (spooling what the sink cannot take in time), not a flush: the process
        // ends right after.
        let ctl = self.ctl.clone();
        Some(Box::new(move |deadline: Instant| {
            request_shutdown(&ctl, deadline)
        }))
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            actions_recorded: c.recorded.load(Ordering::Relaxed),
            actions_delivered: c.delivered.load(Ordering::Relaxed),
            actions_retried: c.retried.load(Ordering::Relaxed),
            actions_dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            actions_dropped: c.dropped.load(Ordering::Relaxed),
            actions_spooled: c.spooled.load(Ordering::Relaxed),
            actions_replayed: c.replayed.load(Ordering::Relaxed),
            actions_partially_rejected: c.partially_rejected.load(Ordering::Relaxed),
            ..Stats::default()
        }
    }

    fn store_stats(&self) -> Option<StoreStats> {
        Some(StoreStats {
            sink: self.sink,
            carries: self.carries,
            target: self.target.clone(),
            spool_dir: self.spool_dir.clone(),
            dead_letter_dir: self.dead_letter_dir.clone(),
            stats: self.stats(),
        })
    }
}

/// One store to deliver to, with its pipeline's settings.
pub(crate) struct Store {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) config: PipelineConfig,
}

/// Starts one pipeline per store, the first store's settings as given, and returns the
/// layers' end offering each record to all of them, with each pipeline's handle in the order
/// of `stores`. Nothing starts unless every store is valid.
///
/// # Errors
/// [`Error::Config`] for no store, out-of-range settings, or two stores sharing a spool or
/// dead-letter directory; [`Error::DuplicateStore`] for one store given twice (the same
/// [`Sink::name`] and [`Sink::target`]): two pipelines would write every record to it twice;
/// [`Error::Thread`] if a worker cannot start.
pub(crate) fn start(
    #[cfg_attr(not(feature = "audit"), allow(unused_mut))] mut stores: Vec<Store>,
    clock: Arc<dyn Clock>,
) -> Result<(Submitter, Vec<PipelineHandle>), Error> {
    if stores.is_empty() {
        return Err(Error::Config("the action layer needs a sink"));
    }
    let mut seen = HashSet::new();
    let mut dirs = HashSet::new();
    for store in &stores {
        store.config.validate()?;
        let key = (store.sink.name(), store.sink.target());
        if !seen.insert(key) {
            return Err(Error::DuplicateStore {
                store: crate::sink::describe(store.sink.as_ref(), None),
            });
        }
        // One store may keep its spool and dead letters in one directory; two stores may not.
        let own: HashSet<PathBuf> = store
            .config
            .spool_path()
            .into_iter()
            .chain([store.config.dead_letter_path()])
            .collect();
        for dir in own {
            if !dirs.insert(dir) {
                return Err(Error::Config(
                    "two stores would share a spool or dead-letter directory: give each its own",
                ));
            }
        }
    }
    // The audit trail: the first store must keep digests; an added one that cannot (a
    // collector) carries the records without them.
    #[cfg(feature = "audit")]
    for (i, store) in stores.iter_mut().enumerate() {
        let Some(audit) = &store.config.audit else {
            continue;
        };
        let dir = store.config.digest_path();
        let chain = audit.chain(dir.clone()).map_err(|e| Error::LogDir {
            path: dir,
            source: e,
        })?;
        if !store.sink.keep_digests(chain) && i == 0 {
            return Err(Error::Config(
                "the audit trail needs a store that keeps digests (SQLite, PostgreSQL or Supabase); \
                 the first store's sink does not",
            ));
        }
    }
    let several = stores.len() > 1;
    let mut lanes = Vec::with_capacity(stores.len());
    let mut handles = Vec::with_capacity(stores.len());
    for Store { sink, config } in stores {
        let name = match several {
            // A NUL in a custom sink's name would make `spawn` panic.
            true => format!("actionlog-{}", sink.name().replace('\0', "")),
            false => "actionlog-actions".to_owned(),
        };
        let (lane, handle) = start_one(sink, config, clock.clone(), Carries::Records, name)?;
        lanes.push(lane);
        handles.push(handle);
    }
    let submitter = Submitter {
        lanes: lanes.into(),
    };
    Ok((submitter, handles))
}

/// Starts the pipeline of the log lines to `sink`, and returns the file writer's end of it.
///
/// # Errors
/// [`Error::Config`] for a sink that does not take lines ([`Sink::takes_lines`]) or
/// out-of-range settings; [`Error::Thread`] if the worker cannot start.
pub(crate) fn start_lines(
    sink: Box<dyn Sink>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
) -> Result<(LineSender, PipelineHandle), Error> {
    check_lines(sink.as_ref(), &config)?;
    let store = crate::sink::describe(sink.as_ref(), None);
    let name = "actionlog-lines".to_owned();
    let (lane, handle) = start_one(sink, config, clock, Carries::Lines, name)?;
    Ok((LineSender::new(lane, store), handle))
}

/// What [`start_lines`] checks before anything starts: the sink takes lines, the settings are
/// in range.
///
/// # Errors
/// [`Error::Config`] otherwise.
pub(crate) fn check_lines(sink: &dyn Sink, config: &PipelineConfig) -> Result<(), Error> {
    if !sink.takes_lines() {
        return Err(Error::Config(
            "the sink given to ship_lines does not take log lines (its Sink::takes_lines is false; \
             OtlpSink takes them, the database sinks do not)",
        ));
    }
    config.validate()
}

/// Starts the worker thread, named `thread_name`, delivering what `carries` to `sink`.
fn start_one(
    sink: Box<dyn Sink>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
    carries: Carries,
    thread_name: String,
) -> Result<(queue::Lane, PipelineHandle), Error> {
    let (tx, rx) = crossbeam_channel::bounded(config.capacity);
    let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
    let counters = Arc::new(ActionCounters::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Thread)?;
    let lane = queue::Lane {
        tx,
        overflow: config.overflow,
        block_timeout: config.block_timeout,
        counters: counters.clone(),
    };
    let (name, target) = (sink.name(), sink.target());
    let (spool_dir, dead_letter_dir) = (config.spool_path(), config.dead_letter_path());
    let delivery = delivery::Delivery::new(
        sink,
        rt,
        dead_letter::DeadLetter::new(Some(dead_letter_dir.clone()), config.dead_letter_max_bytes),
        counters.clone(),
        clock,
        (config.retry_base, config.retry_cap),
        (config.config_retry_base, config.config_retry_cap),
        config.retry_budget,
    )
    .carrying(carries);
    let worker = batcher::Batcher::new(rx, ctl_rx, config, counters.clone(), delivery);
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || worker.run())
        .map_err(Error::Thread)?;
    Ok((
        lane,
        PipelineHandle {
            ctl: ctl_tx,
            thread: Some(thread),
            counters,
            sink: name,
            carries,
            target,
            spool_dir,
            dead_letter_dir,
        },
    ))
}
