//! The file layer's end of its hand-off to the writer ([`super::slots`]): a bound in lines (the channel's capacity) and one in
//! bytes (lines of 64 KiB each would otherwise let a 65 536-line channel hold 4 GiB), and
//! [`Overflow::Block`]'s maximum wait.
//!
//! Under `Block` a caller waits for room at most [`DEFAULT_BLOCK_TIMEOUT`] (or the configured
//! wait); when that passes the line is dropped and counted, and the writer is taken to be
//! stalled (a hung network mount): until it takes lines again, callers do not wait at all —
//! each line is dropped at once and counted — so a stalled disk costs the app one wait, not
//! one per line. The first line the channel accepts ends the stall.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::Metadata;

use super::Overflow;
use super::handle::Counters;
use super::slots::{Captured, Hub, Refused};
use crate::clock::Day;
use crate::fields::flat::Flat;

/// Default maximum wait of [`Overflow::Block`] for room in the file channel: 1 s.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Default bound of the bytes of lines queued for the file writer: 64 MiB.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 << 20;

pub(crate) struct Intake {
    pub(crate) hub: Arc<Hub>,
    pub(crate) overflow: Overflow,
    pub(crate) block_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
}

impl Intake {
    /// Hands over the `record` of an event of callsite `meta` with its spans' fields `flat`
    /// (see [`crate::fields::current`]), or drops and counts it.
    pub(crate) fn send_event(
        &self,
        day: Day,
        meta: &'static Metadata<'static>,
        record: &[u8],
        flat: Option<&Arc<Flat>>,
    ) {
        let rec = Captured { meta, flat, record };
        if let Err(r) = self.try_send(day, &rec) {
            self.send_refused(day, &rec, r);
        }
    }

    /// Hands `rec` to the writer if there is room now; on a refusal the caller goes on with
    /// [`Intake::send_refused`] (after letting go of anything it holds, such as the span's
    /// extensions its span fields were read under).
    fn try_send(&self, day: Day, rec: &Captured<'_>) -> Result<(), Refused> {
        let r = self.hub.try_append(day, rec);
        if r.is_ok() {
            self.end_stall();
        }
        r
    }

    /// After `refused`: drops and counts the line, or (under [`Overflow::Block`]) waits for
    /// room and tries again (see the module docs).
    fn send_refused(&self, day: Day, rec: &Captured<'_>, mut refused: Refused) {
        let stalled = self.counters.stalled.load(Ordering::Relaxed);
        if self.overflow == Overflow::DropNewest || stalled {
            self.drop_line();
            return;
        }
        let deadline = Instant::now() + self.block_timeout;
        loop {
            let (len, full) = match &refused {
                Refused::Shut => return self.drop_line(),
                Refused::NoRoom(len) => (*len, None),
                // The next line is about as long as the last: its length is not known yet.
                Refused::SlotFull(slot) => (0, Some(&**slot)),
            };
            if !self.hub.wait_for_room(len, full, deadline) {
                break;
            }
            refused = match self.hub.try_append(day, rec) {
                Ok(()) => return self.end_stall(),
                Err(r) => r,
            };
        }
        self.stall();
        self.drop_line();
    }

    fn end_stall(&self) {
        if self.counters.stalled.load(Ordering::Relaxed) {
            self.counters.stalled.store(false, Ordering::Relaxed);
        }
    }

    fn stall(&self) {
        if !self.counters.stalled.swap(true, Ordering::Relaxed) {
            crate::report::emit(format_args!(
                "the file writer took no line for {:?}: lines are dropped (counted) until it does",
                self.block_timeout
            ));
        }
    }

    fn drop_line(&self) {
        self.counters.lines_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Intake {
    /// Lets the writer notice at once that the layer is gone.
    fn drop(&mut self) {
        self.hub.wake();
    }
}
