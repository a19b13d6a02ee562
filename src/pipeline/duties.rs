//! What the worker's loop owes besides delivering: the commands it was given ([`Asked`]), and
//! the duties it keeps doing while a delivery waits on the sink or a backoff ([`Duties`]):
//! taking commands, and moving a filling channel to the spool.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::delivery::{Tick, Unspooled, Waiting};
use super::spool::{Spilled, Spool};
use super::{ActionCounters, Cmd, PipelineConfig};
use crate::rows::Envelope;
use std::sync::atomic::Ordering;

/// What the worker has been asked to do besides delivering.
pub(super) enum Asked {
    Nothing,
    /// Deliver everything received so far, then acknowledge each.
    Flush(Vec<Sender<()>>),
    /// Deliver what can be delivered before the instant, spool or dead-letter the rest,
    /// acknowledge each (flushes asked meanwhile included), stop.
    Shutdown(Instant, Vec<Sender<()>>),
}

impl Asked {
    pub(super) fn add(&mut self, cmd: Cmd) {
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

    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Asked::Shutdown(d, _) => Some(*d),
            _ => None,
        }
    }
}

/// The loop's side of a delivery that waits: spill and take commands.
pub(super) struct Duties<'a> {
    pub(super) rx: &'a Receiver<Envelope>,
    pub(super) ctl: &'a Receiver<Cmd>,
    pub(super) config: &'a PipelineConfig,
    pub(super) counters: &'a ActionCounters,
    pub(super) spool: &'a mut Option<Spool>,
    pub(super) asked: &'a mut Asked,
    /// Set by delivery during a configuration failure: once the spool is at its bound (or
    /// there is none), a half-full channel is handed back to be dead-lettered, not left to fill.
    pub(super) overflow_to_dead_letters: bool,
}

impl Duties<'_> {
    fn done(&mut self, woke: bool) -> Tick {
        let mut woke = woke;
        while let Ok(cmd) = self.ctl.try_recv() {
            self.asked.add(cmd);
            woke = true;
        }
        let mut overflow = Vec::new();
        if let Some(spool) = self.spool.as_mut() {
            let too_long = spill(self.rx, spool, self.config, self.counters);
            overflow.extend(too_long.into_iter().map(|r| (r, Unspooled::TooLong)));
        }
        let half = (self.config.capacity / 2).max(1);
        if self.overflow_to_dead_letters
            && self.rx.len() >= half
            && self.spool.as_mut().is_none_or(|s| !s.has_room())
        {
            let n = self.rx.len();
            overflow.extend(
                self.rx
                    .try_iter()
                    .take(n)
                    .map(|e| (e.into_row(&self.config.redaction), Unspooled::Full)),
            );
        }
        Tick {
            deadline: self.asked.deadline(),
            woke,
            overflow,
        }
    }
}

impl Waiting for Duties<'_> {
    fn tick(&mut self) -> Tick {
        self.done(false)
    }

    fn overflow_to_dead_letters(&mut self, on: bool) {
        self.overflow_to_dead_letters = on;
    }

    fn pause(&mut self, d: Duration) -> Tick {
        let woke = match self.ctl.recv_timeout(d) {
            Ok(cmd) => {
                self.asked.add(cmd);
                true
            }
            Err(_) => false,
        };
        self.done(woke)
    }
}

/// Moves what waits in the channel to a new spool segment once the channel is half full. The
/// segment takes at least what is queued when it starts, and goes on while the channel stays
/// half full (so a producer faster than the encoding waits slot by slot, never for the whole
/// segment), up to one channel's worth (memory stays bounded). A segment that cannot be written
/// loses its records, counted as dropped and reported. Returns the records too long for a
/// spool line, for the dead-letter file.
pub(super) fn spill(
    rx: &Receiver<Envelope>,
    spool: &mut Spool,
    config: &PipelineConfig,
    counters: &ActionCounters,
) -> Vec<crate::rows::Row> {
    let half = (config.capacity / 2).max(1);
    if rx.len() < half || !spool.has_room() {
        // At the bound the records stay in the channel: the overflow policy applies to newer
        // ones, and the oldest, on disk, are kept.
        return Vec::new();
    }
    let queued = rx.len();
    let mut taken = 0;
    let rows = std::iter::from_fn(|| {
        if taken >= config.capacity || (taken >= queued && rx.len() < half) {
            return None;
        }
        let e = rx.try_recv().ok()?;
        taken += 1;
        Some(e.into_row(&config.redaction))
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
