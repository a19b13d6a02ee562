//! The file layer's end of its channel: a bound in lines (the channel's capacity) and one in
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

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

use super::Overflow;
use super::handle::Counters;
use super::writer::Msg;

/// Default maximum wait of [`Overflow::Block`] for room in the file channel: 1 s.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Default bound of the bytes of lines queued in the file channel: 64 MiB.
pub const DEFAULT_CHANNEL_MAX_BYTES: u64 = 64 << 20;

/// How often a caller over the byte bound looks again for room.
const BYTES_POLL: Duration = Duration::from_millis(1);

pub(crate) struct Intake {
    pub(crate) tx: Sender<Msg>,
    pub(crate) overflow: Overflow,
    pub(crate) block_timeout: Duration,
    pub(crate) max_bytes: u64,
    pub(crate) counters: Arc<Counters>,
}

impl Intake {
    /// Hands one line to the writer, or drops and counts it (see the module docs).
    pub(crate) fn send_line(&self, msg: Msg, len: usize) {
        let len = len as u64;
        if !self.room_for(len) {
            self.drop_line();
            return;
        }
        self.counters.queued_bytes.fetch_add(len, Ordering::Relaxed);
        let sent = match self.overflow {
            Overflow::DropNewest => self.tx.try_send(msg).is_ok(),
            Overflow::Block if self.counters.stalled.load(Ordering::Relaxed) => {
                match self.tx.try_send(msg) {
                    Ok(()) => {
                        self.counters.stalled.store(false, Ordering::Relaxed);
                        true
                    }
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                }
            }
            Overflow::Block => match self.tx.send_timeout(msg, self.block_timeout) {
                Ok(()) => true,
                Err(SendTimeoutError::Timeout(_)) => {
                    self.stall();
                    false
                }
                Err(SendTimeoutError::Disconnected(_)) => false,
            },
        };
        if !sent {
            self.counters.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.drop_line();
        }
    }

    /// Whether `len` more bytes fit under the byte bound, waiting for room under `Block` (at
    /// most its timeout, and not at all while stalled). A line alone over the bound is let
    /// through when nothing else is queued, so no line is refused for its size alone.
    fn room_for(&self, len: u64) -> bool {
        let fits = || {
            let queued = self.counters.queued_bytes.load(Ordering::Relaxed);
            queued == 0 || queued + len <= self.max_bytes
        };
        if fits() {
            return true;
        }
        if self.overflow == Overflow::DropNewest || self.counters.stalled.load(Ordering::Relaxed) {
            return false;
        }
        // Rare (tens of MiB queued): polling keeps the common path free of any lock.
        let end = Instant::now() + self.block_timeout;
        while Instant::now() < end {
            std::thread::sleep(BYTES_POLL);
            if fits() {
                return true;
            }
        }
        self.stall();
        false
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
