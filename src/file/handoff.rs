//! The hand-off from emitting threads to the writer: one buffer ([`Slot`]) per thread and file
//! layer, which the thread appends captured events ([`super::record`]) to and the writer swaps
//! out whole, so no allocation crosses threads, nothing is copied into a message of its own,
//! and a caller pays one uncontended lock instead of a channel send. (A record stands for one
//! line: "lines" below are records until the writer renders them.)
//!
//! Invariants:
//! - A thread appends only to its own slot and the writer takes a slot's bytes whole, so the
//!   lines of one thread reach the file in the order they were emitted and are never torn.
//!   (A line emitted while the thread's locals are being torn down goes through a shared
//!   fallback slot instead, which the writer takes last in each round.)
//! - A slot belongs to the writer's registry, not to its thread: a thread that exits leaves
//!   its lines behind for the writer, which forgets the slot once it is empty.
//! - The bytes and lines in all slots together stay within the configured bounds: a slot
//!   reserves room from [`Budget`] in grants (one shared atomic update per grant, not per line)
//!   and the writer hands back a slot's whole reservation when it takes the slot's bytes.
//! - Wake-ups are lazy: the writer polls while lines keep coming and only after a quiet spell
//!   goes to sleep, announcing it in [`Hub::sleeping`]; a caller wakes it (one futex call) only
//!   then, so a busy caller never makes a system call.
//!
//! [`Handoff`], the layer's end of it: a bound in lines and one in bytes (lines of 64 KiB
//! each would otherwise let a queue of 65 536 lines hold 4 GiB), and
//! [`Overflow::Block`]'s maximum wait.
//!
//! Under `Block` a caller waits for room at most [`DEFAULT_BLOCK_TIMEOUT`] (or the configured
//! wait); when that passes the line is dropped and counted, and the writer is taken to be
//! stalled (a hung network mount): until it takes lines again, callers do not wait at all —
//! each line is dropped at once and counted — so a stalled disk costs the app one wait, not
//! one per line. The first line the hand-off accepts ends the stall.
//!
//! [`Budget`]: the bounds of what the slots hold together, in bytes and in lines; a
//! slot takes room in grants (one shared atomic update per grant, not per line) and the writer
//! hands a slot's whole reservation back when it takes the slot's lines.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tracing::Metadata;

use super::Overflow;
use super::handle::Counters;
pub(crate) use super::record::EventRecord;
use crate::clock::Day;
use crate::fields::spans::Flat;
use crate::per_thread;

/// Default maximum wait of [`Overflow::Block`] for room in the queue for the file writer: 1 s.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Default bound of the bytes queued for the file writer: 64 MiB.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 << 20;

pub(crate) struct Handoff {
    pub(crate) hub: Arc<Hub>,
    pub(crate) overflow: Overflow,
    pub(crate) block_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
}

impl Handoff {
    /// Hands over the `record` of an event of callsite `meta` with its spans' fields `flat`
    /// (see [`crate::fields::spans`]), or drops and counts it.
    pub(crate) fn send_event(
        &self,
        day: Day,
        meta: &'static Metadata<'static>,
        record: &[u8],
        flat: Option<&Arc<Flat>>,
    ) {
        let rec = EventRecord { meta, flat, record };
        if let Err(r) = self.try_send(day, &rec) {
            self.send_refused(day, &rec, r);
        }
    }

    /// Hands `rec` to the writer if there is room now; on a refusal the caller goes on with
    /// [`Handoff::send_refused`] (after letting go of anything it holds, such as the span's
    /// extensions its span fields were read under).
    fn try_send(&self, day: Day, rec: &EventRecord<'_>) -> Result<(), Refused> {
        let r = self.hub.try_append(day, rec);
        if r.is_ok() {
            self.end_stall();
        }
        r
    }

    /// After `refused`: drops and counts the line, or (under [`Overflow::Block`]) waits for
    /// room and tries again (see the module docs).
    fn send_refused(&self, day: Day, rec: &EventRecord<'_>, mut refused: Refused) {
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

impl Drop for Handoff {
    /// Lets the writer notice at once that the layer is gone.
    fn drop(&mut self) {
        self.hub.wake();
    }
}

/// What a slot holds between two visits of the writer.
#[derive(Default)]
pub(crate) struct Chunk {
    /// EventRecord events ([`super::record`]), each framed as `meta: u32 | flat: u32 | len: u32`
    /// and the record's `len` bytes; `meta` and `flat` index the two vectors below.
    pub(crate) bytes: Vec<u8>,
    /// The callsites of the records (one entry per run of the same callsite).
    pub(crate) metas: Vec<&'static Metadata<'static>>,
    /// The span fields of the records (one entry per run of the same flattening); [`NO_FLAT`]
    /// for an event outside any span.
    pub(crate) flats: Vec<Arc<Flat>>,
    /// Records (lines) in `bytes`.
    pub(crate) lines: u64,
    /// Where each run of lines of one day starts: `(offset, day)`, the first at offset 0.
    pub(crate) days: Vec<(usize, Day)>,
    /// Room reserved from the [`Budget`].
    credit: Credit,
    /// Whether the writer was already woken for this chunk having grown past [`NUDGE_AT`].
    nudged: bool,
}

/// A chunk this large wakes the writer instead of waiting for its next poll, so buffers stay
/// small enough to be recycled (no fresh pages to fault in) while the writer keeps up.
pub(crate) const NUDGE_AT: usize = 256 << 10;

/// Under `Overflow::Block`, a thread whose chunk holds this much waits for the writer to take
/// it rather than growing it further: when the writer falls behind (its core taken by the
/// emitting threads), callers wait for it early instead of faulting in fresh buffers up to the
/// whole byte bound. Under `DropNewest` a chunk may grow to the byte bound (nobody waits).
/// Twice the nudge: callers that wait early leave a writer that shares its cores with them
/// more of the CPU, and hold less memory.
pub(crate) const SLOT_CAP: usize = 2 * NUDGE_AT;

/// Why a line was not appended.
pub(crate) enum Refused {
    /// The writer stopped taking lines.
    Shut,
    /// The bounds are reached; the line's length.
    NoRoom(u64),
    /// This thread's chunk is at [`SLOT_CAP`]: wait for the writer to take it.
    SlotFull(Arc<Slot>),
}

/// The `flat` index of a record outside any span.
pub(crate) const NO_FLAT: u32 = u32::MAX;

/// Bytes framing each record in [`Chunk::bytes`].
pub(crate) const FRAME: usize = 12;

/// What a record weighs against the byte bound: its bytes, and those of the span fields its
/// line will repeat (so the bound still holds for the lines the slots stand for).
fn weight(rec: &EventRecord<'_>) -> u64 {
    (FRAME + rec.record.len() + rec.flat.map_or(0, |f| f.len())) as u64
}

impl Chunk {
    /// Appends `rec`, for `day`, if the budget has room for it; otherwise leaves the chunk as
    /// it was and returns the record's weight.
    fn push(&mut self, budget: &Budget, day: Day, rec: &EventRecord<'_>) -> Result<(), u64> {
        let len = weight(rec);
        if !budget.reserve(&mut self.credit, len) {
            return Err(len);
        }
        // Runs of one callsite, or of one span's fields, share an entry: no reference count
        // is touched per event while they last.
        if self
            .metas
            .last()
            .is_none_or(|m| !std::ptr::eq(*m, rec.meta))
        {
            self.metas.push(rec.meta);
        }
        let meta = (self.metas.len() - 1) as u32;
        let flat = match rec.flat {
            None => NO_FLAT,
            Some(f) => {
                if self.flats.last().is_none_or(|l| !Arc::ptr_eq(l, f)) {
                    self.flats.push(f.clone());
                }
                (self.flats.len() - 1) as u32
            }
        };
        let from = self.bytes.len();
        let mut frame = [0u8; FRAME];
        frame[0..4].copy_from_slice(&meta.to_ne_bytes());
        frame[4..8].copy_from_slice(&flat.to_ne_bytes());
        frame[8..12].copy_from_slice(&(rec.record.len() as u32).to_ne_bytes());
        self.bytes.reserve(FRAME + rec.record.len());
        self.bytes.extend_from_slice(&frame);
        self.bytes.extend_from_slice(rec.record);
        if self.days.last().is_none_or(|&(_, d)| d != day) {
            self.days.push((from, day));
        }
        self.lines += 1;
        Ok(())
    }

    /// Empties the chunk for reuse, keeping its buffers (the span fields' references go).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.metas.clear();
        self.flats.clear();
        self.days.clear();
        self.lines = 0;
    }
}

/// One thread's buffer for one file layer.
#[derive(Default)]
pub(crate) struct Slot {
    chunk: Mutex<Chunk>,
    /// Set when the owning thread's locals are dropped: once empty, the writer forgets it.
    pub(crate) orphaned: AtomicBool,
    /// Set when the hub is gone, so threads drop their handle to it.
    closed: AtomicBool,
}

impl Slot {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Chunk> {
        self.chunk.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Shared by the layer (and each thread's slot handle) and the writer.
pub(crate) struct Hub {
    id: u64,
    /// Every slot the writer visits; bumped `generation` tells it the list changed.
    registry: Mutex<Vec<Arc<Slot>>>,
    generation: AtomicU64,
    /// For lines emitted while a thread's locals are torn down.
    fallback: Arc<Slot>,
    pub(crate) budget: Budget,
    /// The writer's thread, to wake it.
    writer: OnceLock<std::thread::Thread>,
    /// Whether the writer went to sleep and needs a wake-up for new lines.
    pub(crate) sleeping: AtomicBool,
    /// Set by the writer before its last round: from then on lines are refused (and counted
    /// as dropped by the caller) instead of left where no one takes them.
    shut: AtomicBool,
    /// Callers waiting for room under `Overflow::Block`.
    waiters: AtomicUsize,
    /// [`SLOT_CAP`] under `Overflow::Block`.
    slot_cap: Option<usize>,
    room: (Mutex<()>, Condvar),
}

static NEXT_HUB: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's slots, one per live file layer it has written through.
    static MINE: RefCell<Vec<Mine>> = const { RefCell::new(Vec::new()) };
}

/// A thread's handle on its slot; dropping it (thread exit) orphans the slot.
struct Mine {
    hub: u64,
    slot: Arc<Slot>,
}

impl Drop for Mine {
    fn drop(&mut self) {
        self.slot.orphaned.store(true, Ordering::Release);
    }
}

impl Hub {
    pub(crate) fn new(max_bytes: u64, max_lines: u64, block: bool) -> Self {
        let fallback = Arc::new(Slot::default());
        Hub {
            id: NEXT_HUB.fetch_add(1, Ordering::Relaxed),
            registry: Mutex::new(vec![fallback.clone()]),
            generation: AtomicU64::new(1),
            fallback,
            budget: Budget::new(max_bytes, max_lines),
            writer: OnceLock::new(),
            sleeping: AtomicBool::new(false),
            shut: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            slot_cap: block.then_some(SLOT_CAP),
            room: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Records the writer's thread, so callers and the guard can wake it.
    pub(crate) fn set_writer(&self, t: std::thread::Thread) {
        let _ = self.writer.set(t);
    }

    /// Wakes the writer (used by the guard's requests and a caller waiting for room).
    pub(crate) fn wake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }

    /// Appends `rec` (of day `day`) to this thread's slot if the budget has room; otherwise
    /// appends nothing and says why.
    pub(crate) fn try_append(&self, day: Day, rec: &EventRecord<'_>) -> Result<(), Refused> {
        let ok = per_thread::with(&MINE, |mine| {
            let slot = match mine.iter().position(|m| m.hub == self.id) {
                Some(i) => &mine[i].slot,
                None => {
                    mine.retain(|m| !m.slot.closed.load(Ordering::Relaxed));
                    let slot = self.register();
                    mine.push(Mine { hub: self.id, slot });
                    &mine.last().expect("just pushed").slot
                }
            };
            self.append_to(slot, day, rec)
        });
        let (sent, nudge) = match ok {
            Some(r) => r,
            None => self.append_to(&self.fallback, day, rec),
        };
        if nudge {
            self.wake();
        } else if sent.is_ok() && self.sleeping.load(Ordering::SeqCst) {
            // The writer went to sleep after a quiet spell (see the module docs for why this
            // cannot miss it: it looks at every slot, under the slot's lock, after setting it).
            if self.sleeping.swap(false, Ordering::SeqCst) {
                self.wake();
            }
        }
        sent
    }

    /// Appends under the slot's lock; returns (appended, whether to wake the writer now).
    fn append_to(
        &self,
        slot: &Arc<Slot>,
        day: Day,
        rec: &EventRecord<'_>,
    ) -> (Result<(), Refused>, bool) {
        let mut c = slot.lock();
        // Looked at under the slot's lock: either the writer's last round takes this line, or
        // the line sees the flag (the writer sets it before taking each slot's lock).
        if self.shut.load(Ordering::SeqCst) {
            return (Err(Refused::Shut), false);
        }
        if self.slot_cap.is_some_and(|cap| c.bytes.len() >= cap) {
            return (Err(Refused::SlotFull(slot.clone())), true);
        }
        if let Err(len) = c.push(&self.budget, day, rec) {
            return (Err(Refused::NoRoom(len)), false);
        }
        let nudge = !c.nudged && c.bytes.len() >= NUDGE_AT;
        c.nudged |= nudge;
        (Ok(()), nudge)
    }

    fn register(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // The fallback slot stays last, so teardown lines follow their thread's earlier ones.
        let at = r.len() - 1;
        r.insert(at, slot.clone());
        self.generation.fetch_add(1, Ordering::Release);
        slot
    }

    /// Refuses lines from now on (the writer's last round follows).
    pub(crate) fn shut(&self) {
        self.shut.store(true, Ordering::SeqCst);
    }

    /// Whether the writer has stopped taking lines.
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Relaxed)
    }

    /// Waits until a line of `len` bytes may fit (and `full`, the caller's own slot if it was
    /// at [`SLOT_CAP`], has been taken by the writer), or `deadline`; false on timeout.
    pub(crate) fn wait_for_room(&self, len: u64, full: Option<&Slot>, deadline: Instant) -> bool {
        let (lock, cv) = &self.room;
        let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.waiters.fetch_add(1, Ordering::SeqCst);
        self.wake();
        let fits = loop {
            let taken = || full.is_none_or(|s| s.lock().bytes.len() < SLOT_CAP);
            if self.is_shut() || (self.budget.fits(len) && taken()) {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            g = cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        fits
    }

    /// The registry if it changed since `seen` (the writer's copy is kept between rounds).
    pub(crate) fn slots_since(&self, seen: &mut u64) -> Option<Vec<Arc<Slot>>> {
        let g = self.generation.load(Ordering::Acquire);
        if g == *seen {
            return None;
        }
        *seen = g;
        Some(
            self.registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// Drops orphaned, empty slots from the registry.
    pub(crate) fn forget(&self, gone: &[Arc<Slot>]) {
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        r.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Takes `slot`'s lines, leaving it `spare` (emptied) to fill, and hands its reservation
    /// back; wakes callers waiting for room.
    pub(crate) fn take(&self, slot: &Slot, spare: &mut Chunk) {
        let (bytes, lines) = {
            let mut c = slot.lock();
            std::mem::swap(&mut c.bytes, &mut spare.bytes);
            std::mem::swap(&mut c.metas, &mut spare.metas);
            std::mem::swap(&mut c.flats, &mut spare.flats);
            std::mem::swap(&mut c.days, &mut spare.days);
            spare.lines = std::mem::take(&mut c.lines);
            c.nudged = false;
            std::mem::take(&mut c.credit).reserved()
        };
        if bytes == 0 && lines == 0 {
            return;
        }
        self.budget.release(bytes, lines);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.room.0.lock().unwrap_or_else(|p| p.into_inner());
            self.room.1.notify_all();
        }
    }

    /// Whether the slot holds lines (looked at under its lock: see [`Hub::sleeping`]).
    pub(crate) fn has_lines(slot: &Slot) -> bool {
        slot.lock().lines > 0
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        for s in self
            .registry
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            s.closed.store(true, Ordering::Relaxed);
        }
    }
}

/// The room one slot holds: what it may still use, and all it reserved since the writer last
/// took it.
#[derive(Default)]
pub(crate) struct Credit {
    bytes: u64,
    lines: u64,
    reserved_bytes: u64,
    reserved_lines: u64,
}

impl Credit {
    /// Everything reserved (bytes, lines), to hand back.
    pub(crate) fn reserved(&self) -> (u64, u64) {
        (self.reserved_bytes, self.reserved_lines)
    }
}

/// The shared bounds.
pub(crate) struct Budget {
    bytes: AtomicU64,
    lines: AtomicU64,
    max_bytes: u64,
    max_lines: u64,
}

impl Budget {
    pub(crate) fn new(max_bytes: u64, max_lines: u64) -> Self {
        Budget {
            bytes: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            max_bytes,
            max_lines: max_lines.max(1),
        }
    }

    /// Reserves `n` from `counter` if it stays within `max` (or, for bytes, if nothing at all is
    /// reserved, so that a line alone larger than the bound still goes through).
    fn take(counter: &AtomicU64, n: u64, max: u64, alone_ok: bool) -> bool {
        let mut cur = counter.load(Ordering::Relaxed);
        loop {
            if !(cur + n <= max || (alone_ok && cur == 0)) {
                return false;
            }
            match counter.compare_exchange_weak(cur, cur + n, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Whether a line of `len` bytes would fit now.
    pub(crate) fn fits(&self, len: u64) -> bool {
        let b = self.bytes.load(Ordering::SeqCst);
        (b == 0 || b + len <= self.max_bytes) && self.lines.load(Ordering::SeqCst) < self.max_lines
    }

    /// Makes room in `c` for one line of `len` bytes: a grant of a sixteenth of each bound
    /// (at most 256 KiB / 1 024 lines) when it fits, else exactly what the line needs.
    pub(crate) fn reserve(&self, c: &mut Credit, len: u64) -> bool {
        if c.bytes < len {
            let grant = (self.max_bytes / 16).clamp(len, (256 << 10).max(len));
            let got = if Self::take(&self.bytes, grant, self.max_bytes, false) {
                grant
            } else if Self::take(&self.bytes, len, self.max_bytes, true) {
                len
            } else {
                return false;
            };
            c.bytes += got;
            c.reserved_bytes += got;
        }
        if c.lines == 0 {
            let grant = (self.max_lines / 16).clamp(1, 1024);
            let got = if Self::take(&self.lines, grant, self.max_lines, false) {
                grant
            } else if Self::take(&self.lines, 1, self.max_lines, false) {
                1
            } else {
                return false;
            };
            c.lines += got;
            c.reserved_lines += got;
        }
        c.bytes -= len;
        c.lines -= 1;
        true
    }

    /// Hands back a slot's reservation.
    pub(crate) fn release(&self, bytes: u64, lines: u64) {
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
        self.lines.fetch_sub(lines, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stay_within_the_bounds_and_come_back_whole() {
        let b = Budget::new(1000, 4);
        let (mut x, mut y) = (Credit::default(), Credit::default());
        // Grants of a sixteenth (at least one line, at least the line's length).
        assert!(b.reserve(&mut x, 100));
        assert!(b.reserve(&mut y, 100));
        assert!(b.reserve(&mut x, 100) && b.reserve(&mut y, 100));
        // Four lines reserved: a fifth does not fit until a slot's reservation comes back.
        assert!(!b.reserve(&mut x, 10));
        let (bytes, lines) = std::mem::take(&mut y).reserved();
        b.release(bytes, lines);
        assert!(b.reserve(&mut x, 10));
        let (bytes, lines) = std::mem::take(&mut x).reserved();
        b.release(bytes, lines);
        assert!(b.fits(1000));
        // A line larger than the byte bound alone goes through when nothing is reserved.
        assert!(b.reserve(&mut x, 5000));
        assert!(!b.fits(1));
    }
}
