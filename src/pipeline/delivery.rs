//! Delivering one batch: writes it through the [`Sink`] on the worker's runtime, retries
//! transient and configuration failures with capped, jittered backoff ([`Backoff`]), isolates
//! rejected rows by splitting the batch, and dead-letters what the database refuses (or what a
//! retry budget gave up on). It also tracks the sink's health, reporting each outage once.
//!
//! A panic inside the sink (while `write` builds its future or while it is polled) is a failed
//! write like any other: the batch is kept, retried with backoff, spooled or dead-lettered as a
//! transient failure would be, and counted in `actions_retried` — never lost with the worker's
//! restart.
//!
//! It never blocks the worker's other duties: while a write or a backoff pause is in progress
//! it hands control back every [`SPILL_CHECK`] through [`Waiting`], so the loop can move a
//! filling channel to the spool and take commands, and a shutdown deadline bounds the write.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::ActionCounters;
use super::catch::{CatchPanic, panicked};
use super::dead_letter::DeadLetter;
use super::retry::Backoff;
use crate::clock::Clock;
use crate::rows::{ActionRecord, JobExecution, Row};
use crate::sink::{FailureKind, Sink, SinkError};

/// Why a write was abandoned when the shutdown deadline came first.
const LATE: &str = "the shutdown deadline came during the write";

/// Records rejected in a row (no write succeeding in between) before it is reported as a
/// problem of the store — a table whose types or constraints do not match — rather than of a
/// few bad records.
pub(crate) const REJECTED_ALARM: u64 = 100;

/// How often control returns to the loop while the sink is busy or failing.
pub(crate) const SPILL_CHECK: Duration = Duration::from_millis(10);

/// A row and how many received records it stands for after merging.
pub(crate) type Weighted = (Row, u64);

/// What the loop reports back when delivery hands it control.
pub(crate) struct Tick {
    /// The shutdown deadline, once one was asked for.
    pub(crate) deadline: Option<Instant>,
    /// Whether a command arrived (a backoff pause ends early for it).
    pub(crate) woke: bool,
    /// Records taken from the channel to be dead-lettered, and why.
    pub(crate) overflow: Vec<(Row, Unspooled)>,
}

/// Why a record taken from the channel goes to the dead-letter file instead of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unspooled {
    /// The spool was at its bound during a configuration failure (see
    /// [`Waiting::overflow_to_dead_letters`]).
    Full,
    /// Its line would be longer than [`crate::limits::MAX_LINE_BYTES`].
    TooLong,
}

/// The loop's duties while a delivery waits.
pub(crate) trait Waiting {
    /// Does what is due now (spill a filling channel, take commands) without blocking.
    fn tick(&mut self) -> Tick;
    /// Waits at most `d` for a command, then does what is due.
    fn pause(&mut self, d: Duration) -> Tick;
    /// During a configuration failure (`on`), a channel that fills while the spool is at its
    /// bound is handed back in [`Tick::overflow`] for the dead-letter file, instead of waiting
    /// for the overflow policy to drop records.
    fn overflow_to_dead_letters(&mut self, on: bool);
}

pub(crate) struct Delivery {
    sink: Box<dyn Sink>,
    rt: tokio::runtime::Runtime,
    dead_letter: DeadLetter,
    counters: Arc<ActionCounters>,
    clock: Arc<dyn Clock>,
    retry_base: Duration,
    retry_cap: Duration,
    config_retry: (Duration, Duration),
    retry_budget: Option<Duration>,
    /// Since when the sink has been failing; `None` while healthy.
    outage: Option<Instant>,
    /// The sink's last failure, quoted in dead letters written when delivery gives up.
    last_error: Option<String>,
    /// Whether this outage's configuration failure was reported (once per outage).
    config_reported: bool,
    /// Records rejected since the last write that succeeded (see [`REJECTED_ALARM`]).
    rejected_in_a_row: u64,
    /// Records lost since the dead-letter file began failing (its first failure is reported
    /// with the cause, the rest summed up in one line when it works again or at the end, so
    /// a disk-full shutdown is not one stderr line per record).
    dead_letter_lost: u64,
}

impl Delivery {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sink: Box<dyn Sink>,
        rt: tokio::runtime::Runtime,
        dead_letter: DeadLetter,
        counters: Arc<ActionCounters>,
        clock: Arc<dyn Clock>,
        retry: (Duration, Duration),
        config_retry: (Duration, Duration),
        retry_budget: Option<Duration>,
    ) -> Self {
        Delivery {
            sink,
            rt,
            dead_letter,
            counters,
            clock,
            retry_base: retry.0,
            retry_cap: retry.1,
            config_retry,
            retry_budget,
            outage: None,
            last_error: None,
            config_reported: false,
            rejected_in_a_row: 0,
            dead_letter_lost: 0,
        }
    }

    /// The store spool segments are marked with: `<kind> <target>`, or empty for a sink that
    /// names no target.
    pub(crate) fn store(&self) -> String {
        let target = self.sink.target();
        if target.is_empty() {
            target
        } else {
            format!("{} {target}", self.sink.name())
        }
    }

    /// Whether the sink's last write failed.
    pub(crate) fn is_failing(&self) -> bool {
        self.outage.is_some()
    }

    /// Writes `batch`, retrying transient failures and splitting rejected batches. Returns what
    /// could not be delivered before the shutdown deadline or within the retry budget.
    pub(crate) fn deliver(
        &mut self,
        batch: Vec<Weighted>,
        wait: &mut dyn Waiting,
    ) -> Vec<Weighted> {
        let mut backoff = Backoff::new(self.retry_base, self.retry_cap);
        let mut config_backoff = Backoff::new(self.config_retry.0, self.config_retry.1);
        let give_up = self.retry_budget.map(|b| Instant::now() + b);
        // One batch may hold both kinds of row: actions are written first, then job runs; a
        // retry writes both again, which the idempotent writes make harmless.
        let mut actions: Vec<ActionRecord> = Vec::new();
        let mut jobs: Vec<JobExecution> = Vec::new();
        for (r, _) in &batch {
            match r {
                Row::Action(a) => actions.push(a.clone()),
                Row::Job(j) => jobs.push((**j).clone()),
            }
        }
        loop {
            let (result, deadline) = self.write(&actions, &jobs, wait);
            match result {
                Ok(()) => {
                    wait.overflow_to_dead_letters(false);
                    let n: u64 = batch.iter().map(|(_, w)| w).sum();
                    self.counters.delivered.fetch_add(n, Ordering::Relaxed);
                    self.rejected_in_a_row = 0;
                    self.healthy();
                    return Vec::new();
                }
                Err(e) if e.kind == FailureKind::Rejected => {
                    wait.overflow_to_dead_letters(false);
                    self.healthy();
                    if batch.len() == 1 {
                        let (rec, w) = batch.into_iter().next().expect("one record");
                        self.dead_letter_one(&rec, w, &e.message);
                        self.rejected_in_a_row += w;
                        if self.rejected_in_a_row >= REJECTED_ALARM
                            && self.rejected_in_a_row - w < REJECTED_ALARM
                        {
                            crate::report::emit(format_args!(
                                "WARNING: {} records in a row rejected by {} and dead-lettered (last: {}): the store's table does not match actionlog's rows (column types, constraints, triggers); fix the table, then replay the dead-letter files",
                                self.rejected_in_a_row,
                                self.sink.name(),
                                e.message
                            ));
                        }
                        return Vec::new();
                    }
                    let mut left = batch;
                    let right = left.split_off(left.len() / 2);
                    let mut rest = self.deliver(left, wait);
                    rest.extend(self.deliver(right, wait));
                    return rest;
                }
                Err(e) => {
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                    self.failing(&e);
                    let config = e.kind == FailureKind::Config;
                    wait.overflow_to_dead_letters(config);
                    // A server's Retry-After is honoured, within the backoff cap.
                    let (next, cap) = if config {
                        (config_backoff.next_wait(), self.config_retry.1)
                    } else {
                        (backoff.next_wait(), self.retry_cap)
                    };
                    let pause = next.max(e.retry_after.unwrap_or_default().min(cap));
                    let until = match (deadline, give_up) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if until.is_some_and(|t| Instant::now() + pause >= t) {
                        return batch;
                    }
                    // Pause, but wake for commands (a shutdown sets the deadline) and keep
                    // the loop's duties going meanwhile.
                    let end = Instant::now() + pause;
                    loop {
                        let left = end.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        // The next attempt reads the deadline afresh.
                        let tick = wait.pause(left.min(SPILL_CHECK));
                        self.overflow(tick.overflow);
                        if tick.woke {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// One attempt: the sink's write, bounded by the shutdown deadline, handing control to the
    /// loop every [`SPILL_CHECK`]. Returns the result and the deadline in force at its end.
    fn write(
        &mut self,
        actions: &[ActionRecord],
        jobs: &[JobExecution],
        wait: &mut dyn Waiting,
    ) -> (Result<(), SinkError>, Option<Instant>) {
        let sink = &mut self.sink;
        // Overflow taken while the write runs waits here (the sink is borrowed by the write).
        let mut overflow = Vec::new();
        let mut tick = |overflow: &mut Vec<(Row, Unspooled)>| {
            let t = wait.tick();
            overflow.extend(t.overflow);
            t.deadline
        };
        let mut deadline = tick(&mut overflow);
        let result = self.rt.block_on(async {
            // Every poll runs under `catch_unwind`, the first one included — which is where a
            // sink's `write` itself runs, since it is called inside this future.
            let write = CatchPanic(Box::pin(async {
                if !actions.is_empty() {
                    sink.write(actions).await?;
                }
                if !jobs.is_empty() {
                    sink.write_jobs(jobs).await?;
                }
                Ok(())
            }));
            tokio::pin!(write);
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break Err(SinkError::new(FailureKind::Transient, LATE));
                }
                tokio::select! {
                    r = &mut write => break r.unwrap_or_else(|p| Err(panicked(p.as_ref()))),
                    _ = tokio::time::sleep(SPILL_CHECK) => deadline = tick(&mut overflow),
                }
            }
        });
        self.overflow(overflow);
        (result, deadline)
    }

    /// Dead-letters what could not be delivered, saying why: the shutdown deadline (when
    /// `shutting_down`) or the retry budget, and the sink's last error.
    pub(crate) fn give_up(&mut self, left: Vec<Weighted>, shutting_down: bool) {
        let why = format!(
            "not delivered before the {}; last error: {}",
            if shutting_down {
                "shutdown deadline"
            } else {
                "retry budget ran out"
            },
            self.last_error.as_deref().unwrap_or("none")
        );
        for (rec, w) in left {
            self.dead_letter_one(&rec, w, &why);
        }
    }

    /// Dead-letters records the loop took from a filling channel and could not spool: during a
    /// configuration failure with the spool at its bound, or too long for a spool line.
    fn overflow(&mut self, rows: Vec<(Row, Unspooled)>) {
        let last = self.last_error.clone();
        let last = last.as_deref().unwrap_or("none");
        for (rec, why) in rows {
            let why = match why {
                Unspooled::Full => format!(
                    "the spool was full during a configuration failure of the store; last error: {last}"
                ),
                Unspooled::TooLong => format!(
                    "not delivered yet, and longer than the {} bytes a spool line may take; last error: {last}",
                    crate::limits::MAX_LINE_BYTES
                ),
            };
            self.dead_letter_one(&rec, 1, &why);
        }
    }

    fn dead_letter_one(&mut self, rec: &Row, weight: u64, why: &str) {
        match self
            .dead_letter
            .write(rec, self.sink.name(), why, self.clock.now())
        {
            Ok(_) => {
                self.counters
                    .dead_lettered
                    .fetch_add(weight, Ordering::Relaxed);
                self.report_dead_letter_losses();
            }
            Err(e) => {
                self.counters.dropped.fetch_add(weight, Ordering::Relaxed);
                // At its bound the dead-letter file has said so once already.
                if super::dead_letter::is_at_bound(&e) {
                    return;
                }
                if self.dead_letter_lost == 0 {
                    crate::report::emit(format_args!(
                        "record {} lost: {why}; and the dead-letter file failed: {e}; further losses are counted (actions_dropped) and summed up",
                        rec.id()
                    ));
                }
                self.dead_letter_lost += weight;
            }
        }
    }

    /// The one summary line of records lost while the dead-letter file failed.
    fn report_dead_letter_losses(&mut self) {
        if self.dead_letter_lost > 0 {
            crate::report::emit(format_args!(
                "{} action records were lost while the dead-letter file could not be written",
                std::mem::take(&mut self.dead_letter_lost)
            ));
        }
    }

    fn failing(&mut self, e: &SinkError) {
        // Keep the sink's own reason for the dead letters, not our deadline's.
        if e.message != LATE {
            self.last_error = Some(e.message.clone());
        }
        if e.kind == FailureKind::Config && !self.config_reported {
            // Once per outage, even if it began as a transient one: this needs a person.
            self.config_reported = true;
            self.outage.get_or_insert_with(Instant::now);
            crate::report::emit(format_args!(
                "ERROR: {} refuses actionlog's configuration: {}; fix the URL, key, password or table — records are kept in the spool (then the dead-letter file) and retried with backoff up to every {:?}",
                self.sink.name(),
                e.message,
                self.config_retry.1
            ));
        } else if self.outage.is_none() {
            self.outage = Some(Instant::now());
            crate::report::emit(format_args!(
                "WARNING: cannot deliver action records to {}: {}; retrying with backoff, records are kept",
                self.sink.name(),
                e.message
            ));
        }
    }

    fn healthy(&mut self) {
        self.config_reported = false;
        if let Some(since) = self.outage.take() {
            crate::report::emit(format_args!(
                "delivering action records to {} again after {:.1}s",
                self.sink.name(),
                since.elapsed().as_secs_f64()
            ));
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.report_dead_letter_losses();
    }
}
