//! The writer's loop: rounds over every slot ([`super::super::handoff`]) while lines keep coming,
//! sleep after a quiet spell, and the order in which a round's lines go out (the day being
//! written first, so a new day starts only after the old day's lines taken with it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::TryRecvError;

use super::super::handoff::{Chunk, FRAME, Hub, NO_FLAT, NUDGE_AT};
use super::super::record;
use super::{Msg, RETRY_EVERY, WRITE_CHUNK, Writer};

/// How long the writer waits between rounds while lines keep coming: lines reach the file
/// within about this long, and callers never pay for a wake-up.
const POLL: Duration = Duration::from_micros(500);
/// Quiet rounds after which the writer sleeps until a caller (or the guard) wakes it.
const QUIET_ROUNDS: u32 = 20;
/// A recycled buffer larger than this is freed rather than kept (one burst must not pin it).
const KEEP_CAPACITY: usize = 4 << 20;

impl Writer {
    pub(super) fn serve(&mut self) {
        self.tell_compressor();
        let mut quiet = 0;
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Flush(ack)) => {
                    self.round();
                    self.write_out(true);
                    let _ = ack.send(());
                    continue;
                }
                Ok(Msg::Shutdown(ack)) => {
                    self.hub.shut();
                    self.round();
                    self.finish();
                    let _ = ack.send(());
                    return;
                }
                Err(TryRecvError::Disconnected) if Arc::strong_count(&self.hub) == 1 => {
                    // The guard and the layer are gone: write what is left.
                    self.hub.shut();
                    self.round();
                    break;
                }
                Err(_) => {}
            }
            let took = self.round();
            if took > 0 {
                quiet = 0;
            } else {
                quiet += 1;
            }
            self.tell_compressor();
            if took >= NUDGE_AT / 2 {
                // Lines are coming fast: go round again at once, before the slots grow.
                continue;
            }
            if quiet < QUIET_ROUNDS {
                std::thread::park_timeout(POLL);
                continue;
            }
            // A quiet spell: sleep until woken. Announce it first, then look at every slot
            // once more (under its lock), so a line appended meanwhile is never left waiting.
            self.hub.sleeping.store(true, Ordering::SeqCst);
            if self.slots.iter().any(|s| Hub::has_lines(s)) || !self.rx.is_empty() {
                self.hub.sleeping.store(false, Ordering::SeqCst);
                continue;
            }
            // Woken by a caller, the guard, the layer's drop; or after a while, to retry a
            // broken file.
            std::thread::park_timeout(RETRY_EVERY);
            self.hub.sleeping.store(false, Ordering::SeqCst);
        }
        // Every sender is gone (the layer and guard were dropped): write what is left.
        self.finish();
    }

    /// Takes every slot's lines and writes them; returns the bytes taken. The lines of the day
    /// being written go first (from every slot), then those of later days: the writer moves
    /// to a new day only after writing every line of the old one handed in before it.
    fn round(&mut self) -> usize {
        if let Some(slots) = self.hub.slots_since(&mut self.seen) {
            self.slots = slots;
        }
        let mut gone = Vec::new();
        for slot in &self.slots {
            let mut spare = self.spares.pop().unwrap_or_default();
            let orphaned = slot.orphaned.load(Ordering::Acquire);
            self.hub.take(slot, &mut spare);
            if spare.lines > 0 {
                self.taken.push(spare);
            } else {
                self.spares.push(spare);
                if orphaned {
                    gone.push(slot.clone());
                }
            }
        }
        if !gone.is_empty() {
            self.hub.forget(&gone);
        }
        if self.taken.is_empty() {
            self.announce_drops();
            self.write_out(false);
            return 0;
        }
        let mut taken = std::mem::take(&mut self.taken);
        let took = taken.iter().map(|c| c.bytes.len()).sum();
        let today = self.out.day();
        // This day's (and earlier days') runs of every chunk first, then the rest in order.
        let split = |c: &Chunk| {
            c.days
                .iter()
                .position(|&(_, d)| d > today)
                .unwrap_or(c.days.len())
        };
        for c in &taken {
            for run in 0..split(c) {
                self.push_run(c, run);
            }
        }
        for c in &taken {
            for run in split(c)..c.days.len() {
                self.push_run(c, run);
            }
        }
        for mut c in taken.drain(..) {
            c.clear();
            if c.bytes.capacity() <= KEEP_CAPACITY {
                self.spares.push(c);
            }
        }
        self.taken = taken;
        self.announce_drops();
        self.write_out(false);
        took
    }

    /// Renders run `i` of `c` (records of one day) into lines: straight into the write buffer
    /// while no part cap applies and the file is healthy, else line by line through
    /// [`Writer::push`].
    fn push_run(&mut self, c: &Chunk, i: usize) {
        let (from, day) = c.days[i];
        let to = c.days.get(i + 1).map_or(c.bytes.len(), |&(o, _)| o);
        if day > self.out.day() {
            self.enter_day(day);
        }
        let mut run = &c.bytes[from..to];
        while let Some((meta, flat, body)) = next_record(&mut run) {
            let (Some(&meta), Some(rec)) = (c.metas.get(meta), record::decode(body)) else {
                // Not written by `Chunk::push`: a bug of ours; the rest of the run is skipped.
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                break;
            };
            let flat = (flat != NO_FLAT)
                .then(|| c.flats.get(flat as usize))
                .flatten();
            if self.part_cap.is_none() && self.broken_since.is_none() {
                self.renderer.line(&mut self.buf, meta, flat, &rec);
                self.buf_lines += 1;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.clear();
                self.renderer.line(&mut line, meta, flat, &rec);
                self.push(day, &line, 1);
                self.line = line;
            }
            if self.buf.len() >= WRITE_CHUNK {
                self.write_out(false);
            }
        }
    }
}

/// Splits the next framed record off `run`: (meta index, flat index, record bytes).
fn next_record<'a>(run: &mut &'a [u8]) -> Option<(usize, u32, &'a [u8])> {
    if run.len() < FRAME {
        return None;
    }
    let word = |i: usize| u32::from_ne_bytes(run[i..i + 4].try_into().expect("4 bytes"));
    let (meta, flat, len) = (word(0) as usize, word(4), word(8) as usize);
    let body = run.get(FRAME..FRAME + len)?;
    *run = &run[FRAME + len..];
    Some((meta, flat, body))
}
