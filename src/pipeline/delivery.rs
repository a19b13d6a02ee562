//! The driver of one request ([`Request`]) to the [`Sink`]: each attempt is the sink's write,
//! judged into an [`Outcome`]; the driver then retries transient and configuration failures
//! with capped, jittered backoff ([`Backoff`]), isolates rejected rows by splitting the
//! request, and dead-letters what the database refuses (or what a retry budget gave up on). It
//! also tracks the sink's health, reporting each outage once. A batch the receiver took only
//! in part, without saying which records it refused, is dead-lettered whole and not resent.
//!
//! A panic inside the sink (while `write` builds its future or while it is polled) is a failed
//! write like any other: the request is kept, retried with backoff, spooled or dead-lettered as
//! a transient failure would be, and counted in `actions_retried` — never lost with the
//! worker's restart.
//!
//! It never leaves the worker's queue unattended: while a write or a backoff pause is in
//! progress it takes commands and spills a filling queue to the spool every [`SPILL_CHECK`],
//! and dead-letters what the spool cannot take; a shutdown deadline bounds the write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::ActionCounters;
use super::batcher::{Request, Weighted};
use super::dead_letter::DeadLetter;
use super::queue::{Queue, Unspooled};
use super::retry::Backoff;
use crate::clock::Clock;
use crate::rows::Row;
use crate::sink::{FailureKind, Sink, SinkError};
use crate::stats::Carries;

/// Why a write was abandoned when the shutdown deadline came first.
const LATE: &str = "the shutdown deadline came during the write";

/// Records rejected in a row (no write succeeding in between) before it is reported as a
/// problem of the store — a table whose types or constraints do not match — rather than of a
/// few bad records.
pub(crate) const REJECTED_ALARM: u64 = 100;

/// The longest a sink's tick or close may take ([`Sink::tick`], [`Sink::close`]).
const TICK_DEADLINE: Duration = Duration::from_secs(5);

/// How often the queue is attended to while the sink is busy or failing.
pub(crate) const SPILL_CHECK: Duration = Duration::from_millis(10);

/// What one attempt means for its request.
enum Outcome {
    /// The sink took every row.
    Delivered,
    /// The write failed in a way worth another attempt, after this pause.
    Retry(Duration),
    /// The store refused the data, for this reason: split the request, or dead-letter its one
    /// row.
    Rejected(String),
    /// The receiver took part of the rows and refused others without saying which, for this
    /// reason: dead-letter the part it answered for, without resending it. In a request of
    /// several kinds (actions, job runs, lines: written in that order), `written` says how
    /// many of its parts were written before the one the receiver answered for; those after
    /// it were not sent yet.
    PartiallyRejected { why: String, written: usize },
    /// The shutdown deadline or the retry budget comes before another attempt could: the rows
    /// go back to the worker.
    GaveUp,
}

/// The retry state of one request.
struct Tries {
    backoff: Backoff,
    config_backoff: Backoff,
    /// When the retry budget runs out, if there is one.
    give_up: Option<Instant>,
}

pub(crate) struct Delivery {
    sink: Box<dyn Sink>,
    /// What the pipeline carries, for the store's spool marker and for reports.
    carries: Carries,
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
    /// Whether the last attempt failed on the store's configuration: waiting will not help, so
    /// a queue the spool cannot take goes to the dead-letter file (see [`Queue::spill`]).
    config_failure: bool,
    /// Records rejected since the last write that succeeded (see [`REJECTED_ALARM`]).
    rejected_in_a_row: u64,
    /// Records lost since the dead-letter file began failing (its first failure is reported
    /// with the cause, the rest summed up in one line when it works again or at the end, so
    /// a disk-full shutdown is not one stderr line per record).
    dead_letter_lost: u64,
    /// When the sink last had its tick.
    last_tick: Instant,
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
            carries: Carries::Records,
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
            config_failure: false,
            rejected_in_a_row: 0,
            dead_letter_lost: 0,
            last_tick: Instant::now(),
        }
    }

    /// The pipeline carries `carries` (default: records).
    pub(crate) fn carrying(mut self, carries: Carries) -> Self {
        self.carries = carries;
        self
    }

    /// What the pipeline delivers, as reports say it.
    fn what(&self) -> &'static str {
        match self.carries {
            Carries::Records => "action records",
            Carries::Lines => "log lines",
        }
    }

    /// The store spool segments are marked with: `<kind> <target>` (`<kind> lines <target>`
    /// for a pipeline of lines, so a store of records never replays them), or empty for a
    /// sink that names no target.
    pub(crate) fn store(&self) -> String {
        let target = self.sink.target();
        match (target.is_empty(), self.carries) {
            (true, _) => target,
            (false, Carries::Records) => format!("{} {target}", self.sink.name()),
            (false, Carries::Lines) => format!("{} lines {target}", self.sink.name()),
        }
    }

    /// How long until the sink's next tick ([`Sink::tick_every`]), if it asks for ticks.
    pub(crate) fn tick_in(&self) -> Option<Duration> {
        let every = self.sink.tick_every()?;
        let since = self.last_tick.elapsed();
        Some(every.saturating_sub(since))
    }

    /// The sink's tick ([`Sink::tick`]), when due; bounded by [`TICK_DEADLINE`]. A failure is
    /// reported as an outage of the store would be, once.
    pub(crate) fn tick(&mut self) {
        if self.tick_in().is_none_or(|d| !d.is_zero()) {
            return;
        }
        self.last_tick = Instant::now();
        if let Err(e) = self.run_bounded(TICK_DEADLINE, |s| s.tick()) {
            self.failing(&e);
        }
    }

    /// The sink's [`Sink::close`], bounded by [`TICK_DEADLINE`] or what is left of the
    /// shutdown deadline (`deadline`), whichever comes first; a failure is reported.
    pub(crate) fn close(&mut self, deadline: Option<Instant>) {
        let left = deadline.map_or(TICK_DEADLINE, |d| {
            d.saturating_duration_since(Instant::now())
                .min(TICK_DEADLINE)
        });
        if let Err(e) = self.run_bounded(left, |s| s.close()) {
            self.failing(&e);
        }
    }

    /// Runs one of the sink's own futures to its end or for at most `limit`, a panic in it
    /// being a failure like any other.
    fn run_bounded(
        &mut self,
        limit: Duration,
        f: impl for<'s> FnOnce(&'s mut Box<dyn Sink>) -> crate::sink::SinkFuture<'s>,
    ) -> Result<(), SinkError> {
        let sink = &mut self.sink;
        self.rt.block_on(async {
            let work = CatchPanic(Box::pin(async { f(sink).await }));
            match tokio::time::timeout(limit, work).await {
                Ok(r) => r.unwrap_or_else(|p| Err(panicked(p.as_ref()))),
                Err(_) => Err(SinkError::new(
                    FailureKind::Transient,
                    "the sink's own work took too long",
                )),
            }
        })
    }

    /// Whether the sink's last write failed.
    pub(crate) fn is_failing(&self) -> bool {
        self.outage.is_some()
    }

    /// Delivers `req`, attending to `queue` meanwhile: retries failures, splits rejected
    /// requests down to the rows the store refuses and dead-letters those. Returns what could
    /// not be delivered before the shutdown deadline or within the retry budget.
    pub(crate) fn deliver(&mut self, req: Request, queue: &mut Queue) -> Vec<Weighted> {
        let mut left = Vec::new();
        // Halves of a rejected request, the first half on top.
        let mut todo = vec![req];
        while let Some(req) = todo.pop() {
            let mut tries = Tries {
                backoff: Backoff::new(self.retry_base, self.retry_cap),
                config_backoff: Backoff::new(self.config_retry.0, self.config_retry.1),
                give_up: self.retry_budget.map(|b| Instant::now() + b),
            };
            loop {
                match self.attempt(&req, queue, &mut tries) {
                    Outcome::Delivered => break,
                    Outcome::Retry(pause) => self.pause(pause, queue),
                    Outcome::Rejected(why) if req.len() == 1 => {
                        self.reject(req, &why);
                        break;
                    }
                    Outcome::Rejected(_) => {
                        let (first, second) = req.split();
                        todo.push(second);
                        todo.push(first);
                        break;
                    }
                    Outcome::PartiallyRejected { why, written } => {
                        if let Some(unsent) = self.partially_rejected(req, &why, written) {
                            todo.push(unsent);
                        }
                        break;
                    }
                    Outcome::GaveUp => {
                        left.extend(req.into_rows());
                        break;
                    }
                }
            }
        }
        left
    }

    /// One attempt: the sink's write, then what its result means for the request.
    fn attempt(&mut self, req: &Request, queue: &mut Queue, tries: &mut Tries) -> Outcome {
        let (result, deadline, written) = self.write(req, queue);
        let e = match result {
            Ok(()) => {
                self.config_failure = false;
                self.counters
                    .delivered
                    .fetch_add(req.weight(), Ordering::Relaxed);
                self.rejected_in_a_row = 0;
                self.healthy();
                return Outcome::Delivered;
            }
            Err(e) => e,
        };
        if e.kind == FailureKind::Rejected {
            self.config_failure = false;
            self.healthy();
            return Outcome::Rejected(e.message);
        }
        if let FailureKind::PartiallyRejected { rejected } = e.kind {
            self.config_failure = false;
            self.counters
                .partially_rejected
                .fetch_add(rejected, Ordering::Relaxed);
            self.healthy();
            return Outcome::PartiallyRejected {
                why: e.message,
                written,
            };
        }
        self.counters.retried.fetch_add(1, Ordering::Relaxed);
        self.failing(&e);
        self.config_failure = e.kind == FailureKind::Config;
        // A server's Retry-After is honoured, within the backoff cap.
        let (next, cap) = if self.config_failure {
            (tries.config_backoff.next_wait(), self.config_retry.1)
        } else {
            (tries.backoff.next_wait(), self.retry_cap)
        };
        let pause = next.max(e.retry_after.unwrap_or_default().min(cap));
        let until = match (deadline, tries.give_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if until.is_some_and(|t| Instant::now() + pause >= t) {
            Outcome::GaveUp
        } else {
            Outcome::Retry(pause)
        }
    }

    /// The sink's write of `req`, bounded by the shutdown deadline, attending to `queue` every
    /// [`SPILL_CHECK`]. Returns the result, the deadline in force at its end, and how many of
    /// the request's parts (actions, job runs, lines, in that order) were written.
    fn write(
        &mut self,
        req: &Request,
        queue: &mut Queue,
    ) -> (Result<(), SinkError>, Option<Instant>, usize) {
        let (counters, config_failure) = (&self.counters, self.config_failure);
        // What the spool cannot take while the write runs waits here: the dead-letter file is
        // written once the sink is no longer borrowed by the write.
        let mut unspooled = Vec::new();
        let mut attend = |unspooled: &mut Vec<(Row, Unspooled)>| {
            queue.take_commands();
            unspooled.extend(queue.spill(counters, config_failure));
            queue.asked.deadline()
        };
        let mut deadline = attend(&mut unspooled);
        let sink = &mut self.sink;
        let mut written = 0;
        let result = self.rt.block_on(async {
            // Every poll runs under `catch_unwind`, the first one included — which is where a
            // sink's `write` itself runs, since it is called inside this future.
            let write = CatchPanic(Box::pin(async {
                if !req.actions.is_empty() {
                    sink.write(&req.actions).await?;
                    written += 1;
                }
                if !req.jobs.is_empty() {
                    sink.write_jobs(&req.jobs).await?;
                    written += 1;
                }
                if !req.lines.is_empty() {
                    sink.write_lines(&req.lines).await?;
                    written += 1;
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
                    _ = tokio::time::sleep(SPILL_CHECK) => deadline = attend(&mut unspooled),
                }
            }
        });
        self.dead_letter_unspooled(unspooled);
        (result, deadline, written)
    }

    /// Waits `pause` before the next attempt, attending to `queue` meanwhile; a command ends
    /// the pause early (a shutdown brings a deadline the next attempt reads).
    fn pause(&mut self, pause: Duration, queue: &mut Queue) {
        let end = Instant::now() + pause;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let woke = queue.wait_for_command(left.min(SPILL_CHECK));
            let unspooled = queue.spill(&self.counters, self.config_failure);
            self.dead_letter_unspooled(unspooled);
            if woke {
                return;
            }
        }
    }

    /// Dead-letters the one row of a request the store refused, raising the alarm when a whole
    /// run of rows is refused.
    fn reject(&mut self, req: Request, why: &str) {
        for (rec, w) in req.into_rows() {
            self.dead_letter_one(&rec, w, why);
            self.rejected_in_a_row += w;
            if self.rejected_in_a_row >= REJECTED_ALARM
                && self.rejected_in_a_row - w < REJECTED_ALARM
            {
                crate::report::emit(format_args!(
                    "WARNING: {} records in a row rejected by {} and dead-lettered (last: {}): the store's table does not match actionlog's rows (column types, constraints, triggers); fix the table, then replay the dead-letter files",
                    self.rejected_in_a_row,
                    self.sink.name(),
                    why
                ));
            }
        }
    }

    /// Dead-letters the part of `req` a receiver took only in part (see
    /// [`FailureKind::PartiallyRejected`]), saying so once. In a request of several kinds, the
    /// `written` parts before it are delivered, and the parts not sent yet after it are handed
    /// back to be sent.
    fn partially_rejected(&mut self, req: Request, why: &str, written: usize) -> Option<Request> {
        let mut parts = req.parts();
        if parts.is_empty() {
            return None;
        }
        let at = written.min(parts.len() - 1);
        let unsent = parts.split_off(at + 1).into_iter().reduce(Request::join);
        let refused = parts.pop()?;
        for delivered in parts {
            self.counters
                .delivered
                .fetch_add(delivered.weight(), Ordering::Relaxed);
        }
        crate::report::emit(format_args!(
            "WARNING: {} took a batch of {} records only in part: {why}; the batch is dead-lettered whole and not resent, which would duplicate the records it accepted",
            self.sink.name(),
            refused.len()
        ));
        for (rec, w) in refused.into_rows() {
            self.dead_letter_one(&rec, w, why);
        }
        unsent
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

    /// Dead-letters records taken from a filling queue that the spool could not take: during a
    /// configuration failure with the spool at its bound, or too long for a spool line.
    fn dead_letter_unspooled(&mut self, rows: Vec<(Row, Unspooled)>) {
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
                        "{} lost: {why}; and the dead-letter file failed: {e}; further losses are counted (actions_dropped) and summed up",
                        rec.label()
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
                "{} {} were lost while the dead-letter file could not be written",
                std::mem::take(&mut self.dead_letter_lost),
                self.what()
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
                "WARNING: cannot deliver {} to {}: {}; retrying with backoff, records are kept",
                self.what(),
                self.sink.name(),
                e.message
            ));
        }
    }

    fn healthy(&mut self) {
        self.config_reported = false;
        if let Some(since) = self.outage.take() {
            crate::report::emit(format_args!(
                "delivering {} to {} again after {:.1}s",
                self.what(),
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

/// A panic inside the sink, as a transient failure: a sink that panics once (a bug on one
/// code path, an unexpected reply) usually writes on the next attempt, and one that always
/// panics is an outage like a refused connection — the batch waits, spills, and is counted.
fn panicked(payload: &(dyn std::any::Any + Send)) -> SinkError {
    SinkError::new(
        FailureKind::Transient,
        format!("the sink panicked: {}", crate::report::panic_text(payload)),
    )
}

/// A future whose polls run under `catch_unwind`, ending with the panic's payload if one
/// panics (`futures::FutureExt::catch_unwind`, without the dependency).
struct CatchPanic<F>(F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // The sink is not used again after a panic except through a fresh `write` call, which
        // a sink must survive after any failed one: unwind safety is the sink's own contract.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut *inner).poll(cx)
        })) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}
