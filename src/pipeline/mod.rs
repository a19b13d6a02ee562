//! Delivery of action records (and of job runs, which travel the same way and count in the
//! same counters): the bounded channel from the layer ([`Intake`]), the batching
//! worker ([`batcher`]), the retry policy ([`retry`]) and the dead-letter file ([`dead_letter`]).
//!
//! Invariants:
//! - The layer's side never does I/O and never awaits. Under [`ActionOverflow::Block`] (default,
//!   100 ms) a full channel holds the caller at most that long, then the record is dropped and
//!   counted; under [`ActionOverflow::DropNewest`] it is dropped at once and counted.
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
//!   an earlier run (see [`spool`]).

pub(crate) mod batcher;
pub(crate) mod dead_letter;
pub(crate) mod retry;
pub(crate) mod spool;

pub use dead_letter::DEFAULT_DEAD_LETTER_MAX_BYTES;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use serde_json::Value;
use uuid::Uuid;

use crate::Error;
use crate::action::{ActionRecord, Captured};
use crate::clock::Clock;
use crate::job::JobExecution;
use crate::redact::Redaction;
use crate::sink::Sink;

/// What the layer does when the action channel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOverflow {
    /// Wait at most this long for room, then drop the record (counted).
    Block(Duration),
    /// Drop the record at once (counted); the caller never waits.
    DropNewest,
}

impl Default for ActionOverflow {
    fn default() -> Self {
        ActionOverflow::Block(Duration::from_millis(100))
    }
}

/// Default bound of the disk spool: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// Delivery settings for action records.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) overflow: ActionOverflow,
    pub(crate) retry_base: Duration,
    pub(crate) retry_cap: Duration,
    pub(crate) retry_budget: Option<Duration>,
    pub(crate) dead_letter_dir: Option<PathBuf>,
    pub(crate) dead_letter_max_bytes: u64,
    pub(crate) spool_dir: Option<PathBuf>,
    pub(crate) spool_max_bytes: u64,
    /// Set by the action layer's builder, so rows and layer agree.
    pub(crate) redaction: Redaction,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            capacity: 10_000,
            batch_size: 500,
            linger: Duration::from_millis(250),
            overflow: ActionOverflow::default(),
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(30),
            retry_budget: None,
            redaction: Redaction::default(),
            dead_letter_dir: Some(PathBuf::from("logs/dead-letter")),
            dead_letter_max_bytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
            spool_dir: None,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

impl PipelineConfig {
    /// Records the channel holds (default 10 000).
    #[must_use]
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Largest batch written in one statement (default 500).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Longest a record waits for its batch to fill (default 250 ms).
    #[must_use]
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// What a full channel does (default [`ActionOverflow::Block`] for 100 ms).
    #[must_use]
    pub fn overflow(mut self, o: ActionOverflow) -> Self {
        self.overflow = o;
        self
    }

    /// Retry backoff: first wait about `base`, doubling up to `cap`, with jitter
    /// (defaults 100 ms and 30 s).
    #[must_use]
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry_base = base;
        self.retry_cap = cap;
        self
    }

    /// How long one batch may keep failing transiently before it is given up and written to the
    /// dead-letter file with the last error (default: no budget, retry until shutdown). A budget
    /// keeps a long outage from holding the channel full; the dead-letter file keeps the records.
    #[must_use]
    pub fn retry_budget(mut self, d: Duration) -> Self {
        self.retry_budget = Some(d);
        self
    }

    /// Keeps records that could not be delivered by the shutdown deadline in this directory
    /// (see the spool module), for the next start to deliver first; without one they go to the
    /// dead-letter file. `init()` uses `<log_dir>/spool`.
    #[must_use]
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// The most the spool may hold on disk (default [`DEFAULT_SPOOL_MAX_BYTES`], 1 GiB). At
    /// the bound spilling stops (reported once): new records wait in the channel and the
    /// overflow policy applies to them, every drop counted; see the spool module docs.
    #[must_use]
    pub fn spool_max_bytes(mut self, n: u64) -> Self {
        self.spool_max_bytes = n;
        self
    }

    /// Where rejected records go, as `YYYY-MM-DD.jsonl` files (default `logs/dead-letter`).
    #[must_use]
    pub fn dead_letter_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dead_letter_dir = Some(dir.into());
        self
    }

    /// The most the dead-letter files may hold (default [`DEFAULT_DEAD_LETTER_MAX_BYTES`],
    /// 1 GiB). Past it, records the database rejects are dropped and counted in
    /// `Stats::actions_dropped`, the bound reported once; actionlog never deletes dead letters.
    #[must_use]
    pub fn dead_letter_max_bytes(mut self, n: u64) -> Self {
        self.dead_letter_max_bytes = n;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.capacity == 0 {
            return Err(Error::Config("action channel capacity must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1"));
        }
        if self.retry_base.is_zero() || self.retry_cap < self.retry_base {
            return Err(Error::Config("retry backoff needs 0 < base <= cap"));
        }
        Ok(())
    }
}

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
    /// Whether the spool is at its bound (reported once per episode).
    pub(crate) spool_full: std::sync::atomic::AtomicBool,
    /// Bytes in the spool directory: read from disk at each replay, then kept up to date by
    /// the worker as it writes and deletes segments.
    pub(crate) spool_bytes: AtomicU64,
}

/// Control messages to the worker, on their own channel so they never wait behind records.
pub(crate) enum Cmd {
    /// Deliver everything received so far, then acknowledge.
    Flush(Sender<()>),
    /// Deliver what can be delivered before the instant, dead-letter the rest, acknowledge, stop.
    Shutdown(Instant, Sender<()>),
}

/// What travels through the channel: an action as captured (turned into a row on the worker),
/// or a finished job run.
// Action captures stay inline in the channel's preallocated slots (no allocation per record on
// the app's thread); job runs are rare and boxed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Envelope {
    Action(Captured),
    Job(Box<JobExecution>),
}

/// A row to deliver: to `action_logs` or to `job_executions`.
// Action rows are the common case and stay inline (no allocation per record); job runs are
// rare and large, so they are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Row {
    Action(ActionRecord),
    Job(Box<JobExecution>),
}

/// The key marking a job row in the spool and dead-letter files (action rows, the older format,
/// have none).
const TABLE_KEY: &str = "_table";

impl Row {
    pub(crate) fn id(&self) -> Uuid {
        match self {
            Row::Action(a) => a.id,
            Row::Job(j) => j.id,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Row::Action(a) => a.to_json(),
            Row::Job(j) => {
                let mut v = j.to_json();
                if let Value::Object(m) = &mut v {
                    m.insert(TABLE_KEY.into(), "job_executions".into());
                }
                v
            }
        }
    }

    pub(crate) fn from_json(v: &Value) -> Option<Row> {
        match v.get(TABLE_KEY).and_then(Value::as_str) {
            Some("job_executions") => JobExecution::from_json(v).map(|j| Row::Job(Box::new(j))),
            Some(_) => None,
            None => ActionRecord::from_json(v).map(Row::Action),
        }
    }
}

/// The layers' end of the channel.
#[derive(Clone)]
pub(crate) struct Intake {
    tx: Sender<Envelope>,
    overflow: ActionOverflow,
    counters: Arc<ActionCounters>,
}

impl Intake {
    /// Hands a record to the worker; never does I/O, waits at most the overflow bound.
    pub(crate) fn submit(&self, rec: Captured) {
        self.send(Envelope::Action(rec));
    }

    /// Hands a finished job run to the worker, like [`Self::submit`].
    pub(crate) fn submit_job(&self, run: JobExecution) {
        self.send(Envelope::Job(Box::new(run)));
    }

    fn send(&self, rec: Envelope) {
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        let sent = match self.overflow {
            ActionOverflow::Block(wait) => self.tx.send_timeout(rec, wait).is_ok(),
            ActionOverflow::DropNewest => self.tx.try_send(rec).is_ok(),
        };
        if !sent {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The worker thread and the way to reach it; owned by the [`crate::Guard`].
pub(crate) struct ActionWorker {
    pub(crate) ctl: Sender<Cmd>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) counters: Arc<ActionCounters>,
}

impl ActionWorker {
    /// Sends a command carrying an ack channel; returns the ack's receiver.
    pub(crate) fn send(&self, make: impl FnOnce(Sender<()>) -> Cmd) -> Option<Receiver<()>> {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        self.ctl.send(make(ack_tx)).ok().map(|_| ack_rx)
    }
}

/// Starts the worker thread delivering to `sink`.
pub(crate) fn start(
    sink: Box<dyn Sink>,
    config: PipelineConfig,
    clock: Arc<dyn Clock>,
) -> Result<(Intake, ActionWorker), Error> {
    config.validate()?;
    let (tx, rx) = crossbeam_channel::bounded(config.capacity);
    let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
    let counters = Arc::new(ActionCounters::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Thread)?;
    let intake = Intake {
        tx,
        overflow: config.overflow,
        counters: counters.clone(),
    };
    let worker = batcher::Batcher::new(rx, ctl_rx, sink, config, counters.clone(), clock, rt);
    let thread = std::thread::Builder::new()
        .name("actionlog-actions".into())
        .spawn(move || worker.run())
        .map_err(Error::Thread)?;
    Ok((
        intake,
        ActionWorker {
            ctl: ctl_tx,
            thread: Some(thread),
            counters,
        },
    ))
}
