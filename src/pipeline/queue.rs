//! The queue between the layers and the delivery worker, both ends: the layers' [`Submitter`]
//! (never does I/O, waits at most the overflow bound; one [`Lane`] per store, each record
//! offered to all), the file writer's [`LineSender`] (the rendered lines, to the pipeline of
//! lines; it waits once per stall, not once per line), and the worker's [`Queue`] — the
//! records queued, the commands it was given ([`Asked`]), and the spool that takes what waits
//! in the queue while the sink is slow or failing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::spool::{Spilled, Spool};
use super::{ActionCounters, Cmd};
use crate::handle::Overflow;
use crate::redact::Redaction;
use crate::rows::{CapturedAction, Envelope, JobExecution, LogLine, Row};

/// The layers' end of the channels: one [`Lane`] per store, each record offered to every one.
#[derive(Clone)]
pub(crate) struct Submitter {
    pub(super) lanes: Arc<[Lane]>,
}

/// One store's channel, with its overflow policy and its counters.
pub(crate) struct Lane {
    pub(super) tx: Sender<Envelope>,
    pub(super) overflow: Overflow,
    pub(super) block_timeout: Duration,
    pub(super) counters: Arc<ActionCounters>,
}

impl Submitter {
    /// Hands a record to the worker; never does I/O, waits at most the overflow bound.
    pub(crate) fn submit(&self, rec: CapturedAction) {
        self.send(Envelope::Action(rec));
    }

    /// Hands a finished job run to the worker, like [`Self::submit`].
    pub(crate) fn submit_job(&self, run: JobExecution) {
        self.send(Envelope::Job(Box::new(run)));
    }

    // Inlined down to the channel: an action's envelope is large, and each call it is moved
    // through by value may copy it.
    #[inline]
    fn send(&self, rec: Envelope) {
        match &*self.lanes {
            // One store, the common case: the record is moved, never copied.
            [lane] => lane.offer(rec),
            lanes => offer_all(lanes, rec),
        }
    }
}

impl Lane {
    /// Puts `rec` on this store's channel, or counts it dropped, by the store's overflow policy.
    #[inline]
    fn offer(&self, rec: Envelope) {
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        let sent = match self.overflow {
            // A try first: `send_timeout` reads the clock for its deadline on every call.
            Overflow::Block => match self.tx.try_send(rec) {
                Ok(()) => true,
                Err(TrySendError::Full(rec)) => {
                    self.tx.send_timeout(rec, self.block_timeout).is_ok()
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
            Overflow::DropNewest => self.tx.try_send(rec).is_ok(),
        };
        if !sent {
            self.drop_one();
        }
    }

    /// Counts `rec` and puts it on this store's channel without waiting; gives it back when the
    /// channel is full and the store's policy is to wait ([`Overflow::Block`]), counts it
    /// dropped otherwise.
    fn try_offer(&self, rec: Envelope) -> Option<Envelope> {
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(rec) {
            Ok(()) => None,
            Err(TrySendError::Full(rec)) if self.overflow == Overflow::Block => Some(rec),
            Err(_) => {
                self.drop_one();
                None
            }
        }
    }

    fn drop_one(&self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Offers `rec` to several stores: first to every channel without waiting, so a store with
/// room has the record at once whatever the others do; then, under [`Overflow::Block`], waits
/// for the full ones from one starting instant, so the caller is held at most the longest
/// `block_timeout` of them, not their sum. A full channel's overflow applies to its store
/// only, and is counted there.
fn offer_all(lanes: &[Lane], rec: Envelope) {
    let Some((last, rest)) = lanes.split_last() else {
        return;
    };
    // Allocates only when a channel is full, when the caller is about to wait anyway.
    let mut full: Vec<(&Lane, Envelope)> = Vec::new();
    for lane in rest {
        if let Some(rec) = lane.try_offer(rec.clone()) {
            full.push((lane, rec));
        }
    }
    if let Some(rec) = last.try_offer(rec) {
        full.push((last, rec));
    }
    if full.is_empty() {
        return;
    }
    let since = Instant::now();
    for (lane, rec) in full {
        if lane
            .tx
            .send_deadline(rec, since + lane.block_timeout)
            .is_err()
        {
            lane.drop_one();
        }
    }
}

/// The file writer's end of the pipeline of lines: one [`Lane`], fed from one thread.
///
/// Under [`Overflow::Block`] a full queue holds the writer at most the lane's `block_timeout`;
/// when that passes, the line is dropped and counted, and the pipeline is taken to be stalled
/// (its spool at its bound, or unwritable, while the receiver is down): until the queue has
/// room again, lines are dropped at once and counted, so a stall costs the writer — and the
/// callers behind it, bounded by the file layer's own `block_timeout` — one wait, not one per
/// line. The stall is reported when it starts and when it ends. Under
/// [`Overflow::DropNewest`] the writer never waits.
pub(crate) struct LineSender {
    lane: Lane,
    /// The store, as reports name it.
    store: String,
    /// Since when the queue stayed full past the bound, and the lines dropped since.
    stalled: Option<(Instant, u64)>,
}

impl LineSender {
    pub(super) fn new(lane: Lane, store: String) -> Self {
        LineSender {
            lane,
            store,
            stalled: None,
        }
    }

    /// Hands `line` to the pipeline of lines, or drops and counts it.
    pub(crate) fn send(&mut self, line: LogLine) {
        let lane = &self.lane;
        lane.counters.recorded.fetch_add(1, Ordering::Relaxed);
        let rec = match lane.tx.try_send(Envelope::Line(line)) {
            Ok(()) => {
                if let Some((since, dropped)) = self.stalled.take() {
                    crate::report::emit(format_args!(
                        "shipping log lines to {} again after {:.1}s; {dropped} dropped meanwhile (counted)",
                        self.store,
                        since.elapsed().as_secs_f64()
                    ));
                }
                return;
            }
            Err(TrySendError::Full(rec)) => rec,
            Err(TrySendError::Disconnected(_)) => return self.drop_one(),
        };
        if lane.overflow == Overflow::DropNewest || self.stalled.is_some() {
            return self.drop_one();
        }
        if lane.tx.send_timeout(rec, lane.block_timeout).is_ok() {
            return;
        }
        crate::report::emit(format_args!(
            "the queue of log lines to {} stayed full for {:?}: further lines are dropped there at once (counted) until it takes them again",
            self.store, lane.block_timeout
        ));
        self.stalled = Some((Instant::now(), 0));
        self.drop_one();
    }

    fn drop_one(&mut self) {
        self.lane.drop_one();
        if let Some((_, n)) = &mut self.stalled {
            *n += 1;
        }
    }
}

/// What the worker has been asked to do besides delivering.
pub(crate) enum Asked {
    Nothing,
    /// Deliver everything received so far, then acknowledge each.
    Flush(Vec<Sender<()>>),
    /// Deliver what can be delivered before the instant, spool or dead-letter the rest,
    /// acknowledge each (flushes asked meanwhile included), stop.
    Shutdown(Instant, Vec<Sender<()>>),
}

impl Asked {
    pub(crate) fn add(&mut self, cmd: Cmd) {
        *self = match (std::mem::replace(self, Asked::Nothing), cmd) {
            (Asked::Nothing, Cmd::Flush(ack)) => Asked::Flush(vec![ack]),
            (Asked::Flush(mut acks), Cmd::Flush(ack)) => {
                acks.push(ack);
                Asked::Flush(acks)
            }
            (Asked::Shutdown(d, mut acks), Cmd::Flush(ack)) => {
                acks.push(ack);
                Asked::Shutdown(d, acks)
            }
            (Asked::Nothing, Cmd::Shutdown(d, ack)) => Asked::Shutdown(d, vec![ack]),
            (Asked::Flush(mut acks) | Asked::Shutdown(_, mut acks), Cmd::Shutdown(d, ack)) => {
                acks.push(ack);
                Asked::Shutdown(d, acks)
            }
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Asked::Shutdown(d, _) => Some(*d),
            _ => None,
        }
    }
}

/// Why a record taken from the queue goes to the dead-letter file instead of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unspooled {
    /// The spool was at its bound during a configuration failure of the store.
    Full,
    /// Its line would be longer than [`crate::limits::MAX_LINE_BYTES`].
    TooLong,
}

/// The records and commands waiting for the worker, and the spool that takes records off the
/// queue's hands.
pub(crate) struct Queue {
    pub(crate) rx: Receiver<Envelope>,
    pub(crate) ctl: Receiver<Cmd>,
    pub(crate) asked: Asked,
    pub(crate) spool: Option<Spool>,
    capacity: usize,
    redaction: Redaction,
}

impl Queue {
    pub(crate) fn new(
        rx: Receiver<Envelope>,
        ctl: Receiver<Cmd>,
        spool: Option<Spool>,
        capacity: usize,
        redaction: Redaction,
    ) -> Self {
        Queue {
            rx,
            ctl,
            asked: Asked::Nothing,
            spool,
            capacity,
            redaction,
        }
    }

    /// A record as a row: captures become rows only on the worker, when their batch closes,
    /// keeping the per-record work off the cores the app is using.
    pub(crate) fn row(&self, e: Envelope) -> Row {
        e.into_row(&self.redaction)
    }

    /// Takes the commands that arrived, without waiting; whether there were any.
    pub(crate) fn take_commands(&mut self) -> bool {
        let mut woke = false;
        while let Ok(cmd) = self.ctl.try_recv() {
            self.asked.add(cmd);
            woke = true;
        }
        woke
    }

    /// Waits at most `d` for a command, then takes what arrived; whether any did.
    pub(crate) fn wait_for_command(&mut self, d: Duration) -> bool {
        match self.ctl.recv_timeout(d) {
            Ok(cmd) => {
                self.asked.add(cmd);
                self.take_commands();
                true
            }
            Err(_) => false,
        }
    }

    /// Moves a filling queue to the spool (see [`spill`]). Returns the records the spool could
    /// not take, for the dead-letter file: lines too long for it, and — when the store refuses
    /// the configuration (`config_failure`), so waiting will not help — a half-full queue once
    /// the spool is at its bound (or there is none), rather than leaving the overflow policy to
    /// drop newer records.
    pub(crate) fn spill(
        &mut self,
        counters: &ActionCounters,
        config_failure: bool,
    ) -> Vec<(Row, Unspooled)> {
        let mut out = Vec::new();
        if let Some(spool) = self.spool.as_mut() {
            let too_long = spill(&self.rx, spool, self.capacity, &self.redaction, counters);
            out.extend(too_long.into_iter().map(|r| (r, Unspooled::TooLong)));
        }
        let half = (self.capacity / 2).max(1);
        if config_failure
            && self.rx.len() >= half
            && self.spool.as_mut().is_none_or(|s| !s.has_room())
        {
            let n = self.rx.len();
            out.extend(
                self.rx
                    .try_iter()
                    .take(n)
                    .map(|e| (e.into_row(&self.redaction), Unspooled::Full)),
            );
        }
        out
    }
}

/// Moves what waits in the channel to a new spool segment once the channel is half full. The
/// segment takes at least what is queued when it starts, and goes on while the channel stays
/// half full (so a producer faster than the encoding waits slot by slot, never for the whole
/// segment), up to one channel's worth (memory stays bounded). A segment that cannot be written
/// loses its records, counted as dropped and reported. Returns the records too long for a
/// spool line, for the dead-letter file.
fn spill(
    rx: &Receiver<Envelope>,
    spool: &mut Spool,
    capacity: usize,
    redaction: &Redaction,
    counters: &ActionCounters,
) -> Vec<Row> {
    let half = (capacity / 2).max(1);
    if rx.len() < half || !spool.has_room() {
        // At the bound the records stay in the channel: the overflow policy applies to newer
        // ones, and the oldest, on disk, are kept.
        return Vec::new();
    }
    let queued = rx.len();
    let mut taken = 0;
    let rows = std::iter::from_fn(|| {
        if taken >= capacity || (taken >= queued && rx.len() < half) {
            return None;
        }
        let e = rx.try_recv().ok()?;
        taken += 1;
        Some(e.into_row(redaction))
    });
    let Ok(Spilled {
        records,
        too_long,
        failed,
    }) = spool.write(rows)
    else {
        // Checked above; nothing was taken.
        return Vec::new();
    };
    counters.spooled.fetch_add(records, Ordering::Relaxed);
    if let Some((n, e)) = failed {
        crate::report::emit(format_args!(
            "cannot spill {n} action records to {}: {e}",
            spool.dir().display()
        ));
        counters.dropped.fetch_add(n, Ordering::Relaxed);
    }
    too_long
}
