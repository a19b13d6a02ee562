//! The file writer thread: takes the callers' captured events from their slots
//! ([`super::handoff`]), renders each into its line ([`super::render`]) and appends the lines to
//! the day files, or to standard output when they are off ([`Output`]); beside the day
//! files, standard output may get a copy of each line ([`copy`]). When the lines are shipped
//! (`Builder::ship_lines`), each rendered line also goes, as it is, to the pipeline of lines
//! ([`crate::pipeline::LineSender`]); with the day files and stdout off, that is the only
//! place it goes. Its loop goes round every
//! slot while lines keep coming and sleeps after a quiet spell; a round writes the day being
//! written first, so a new day starts only after the old day's lines taken with it.
//!
//! Invariants:
//! - One thread owns the files, so lines are never torn or interleaved: each line is appended
//!   whole, and a write that fails part-way resumes from the first unwritten byte.
//! - Each round takes every slot's lines and writes them (up to 1 MiB per write) before it
//!   ends, so lines reach the file (the OS page cache) within a poll interval (500 us) while
//!   lines keep coming, and at once when a caller wakes the sleeping writer.
//! - Midnight: a round writes the lines of the day being written (from every slot) before any
//!   later day's, so the writer moves to a new day only after every older line taken with it.
//!   A line stamped before midnight that reaches the writer after it moved on (its thread was
//!   held between the stamp and the hand-off) goes into the new day's file with its own
//!   timestamp: lines are never appended to a day file the writer has left.
//! - A write error is counted, reported once per outage, and retried every [`RETRY_EVERY`] by
//!   reopening (and recreating) the directory and file. Before each write the open file is
//!   checked against its path, so a deleted or moved file (or removed directory) is recreated
//!   instead of swallowing lines. Up to [`PENDING_CAP`] bytes wait in
//!   memory meanwhile; lines beyond that are dropped and counted.
//!   Standard output as the only destination follows the same rules (nothing to reopen).
//! - Dropped lines (no room under `DropNewest`, or the pending cap) are announced by one
//!   WARNING line with the count once the writer catches up.
//! - The copy to standard output is made from the write buffer as its lines leave for the
//!   files, each byte once, before the files' own write: an outage of the files does not hold
//!   it back, and one of stdout costs the copy only.
//! - A shipped line is the day file's line, byte for byte (without its newline), handed over
//!   as it is rendered, before the files' write: an outage of the files does not hold it back,
//!   and one of the receiver is the pipeline of lines' to absorb (its spool). A full queue of
//!   lines holds the writer at most once per stall (see [`crate::pipeline::LineSender`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::handle::Counters;
use super::handoff::{Chunk, FRAME, Hub, NO_FLAT, NUDGE_AT, Slot};
use super::names::PartId;
use super::record;
use super::render::LineRenderer;
use super::rolling::DayFiles;
use super::stdout::Stdout;
use crate::clock::{Clock, Day, Timezone};
use crate::fields::CaptureSettings;
use crate::pipeline::LineSender;
use crate::rows::LogLine;

/// How often a broken file is retried.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The most bytes held in memory while the file cannot be written.
pub(crate) const PENDING_CAP: usize = 16 << 20;
/// Write to the file once this much is buffered even if slots still have lines: large writes,
/// few system calls, a bounded buffer.
const WRITE_CHUNK: usize = 1 << 20;
/// How long the writer waits between rounds while lines keep coming: lines reach the file
/// within about this long, and callers never pay for a wake-up.
const POLL: Duration = Duration::from_micros(500);
/// Quiet rounds after which the writer sleeps until a caller (or the guard) wakes it.
const QUIET_ROUNDS: u32 = 20;
/// A recycled buffer larger than this is freed rather than kept (one burst must not pin it).
const KEEP_CAPACITY: usize = 4 << 20;

mod copy;

pub(crate) use copy::StdoutCopy;

/// What the guard sends to the writer (lines travel through [`super::handoff`]).
pub(crate) enum Msg {
    /// Write out everything received so far, then acknowledge.
    Flush(Sender<()>),
    /// Drain, write out, acknowledge, and stop.
    Shutdown(Sender<()>),
}

pub(crate) struct Writer {
    hub: Arc<Hub>,
    rx: Receiver<Msg>,
    /// The writer's copy of the slot registry, and its generation.
    slots: Vec<Arc<Slot>>,
    seen: u64,
    /// Chunks taken from slots this round, and emptied ones to hand back.
    taken: Vec<Chunk>,
    spares: Vec<Chunk>,
    /// The day files, or standard output alone.
    out: Output,
    /// `out`'s part cap (fixed), read for every line.
    part_cap: Option<u64>,
    /// Standard output beside the day files, and how much of `buf` it was given.
    copy: Option<StdoutCopy>,
    copied: usize,
    /// The pipeline of lines, when they are shipped.
    ship: Option<LineSender>,
    /// Bytes received and not yet written; always whole lines, except a tail left by a partial write.
    buf: Vec<u8>,
    /// Complete lines in `buf`.
    buf_lines: u64,
    /// Turns the callers' records into lines.
    renderer: LineRenderer,
    /// One rendered line, when it goes through [`Writer::push`] (a part cap, an outage).
    line: Vec<u8>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    tz: Timezone,
    /// When the file last failed, while it stays broken.
    broken_since: Option<Instant>,
    last_attempt: Instant,
    /// Drops already announced in the file.
    announced_drops: u64,
    /// The background compressor, told which part is open each time that changes.
    #[cfg(feature = "compress")]
    compressor: Option<super::compress::Compressor>,
    /// The open part the compressor was last told about.
    told: Option<PartId>,
}

impl Writer {
    pub(crate) fn new(
        hub: Arc<Hub>,
        rx: Receiver<Msg>,
        out: Output,
        counters: Arc<Counters>,
        clock: Arc<dyn Clock>,
        tz: Timezone,
        render: CaptureSettings,
    ) -> Self {
        let now = Instant::now();
        Writer {
            hub,
            rx,
            slots: Vec::new(),
            seen: 0,
            taken: Vec::new(),
            spares: Vec::new(),
            part_cap: out.part_cap(),
            out,
            copy: None,
            copied: 0,
            ship: None,
            buf: Vec::with_capacity(WRITE_CHUNK + (64 << 10)),
            buf_lines: 0,
            renderer: LineRenderer::new(render, tz),
            line: Vec::new(),
            counters,
            clock,
            tz,
            broken_since: None,
            last_attempt: now,
            announced_drops: 0,
            #[cfg(feature = "compress")]
            compressor: None,
            told: None,
        }
    }

    /// The day files, when the lines go to them.
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    pub(crate) fn day_files(&self) -> Option<&DayFiles> {
        self.out.day_files()
    }

    /// Copies every line to standard output too, beside the day files.
    pub(crate) fn copy_with(&mut self, c: StdoutCopy) {
        self.copy = Some(c);
    }

    /// Ships every line to the pipeline of lines too.
    pub(crate) fn ship_with(&mut self, s: LineSender) {
        self.ship = Some(s);
    }

    /// Hands closed files to `c` from now on.
    #[cfg(feature = "compress")]
    pub(crate) fn compress_with(&mut self, c: super::compress::Compressor) {
        self.compressor = Some(c);
    }

    /// Tells the compressor when the open part changed: every part before it is closed for good.
    fn tell_compressor(&mut self) {
        let Some(files) = self.out.day_files() else {
            return;
        };
        let open = files.current_id();
        if self.told == Some(open) {
            return;
        }
        self.told = Some(open);
        #[cfg(feature = "compress")]
        if let Some(c) = &self.compressor {
            c.closed_before(open);
        }
    }

    /// Serves until shutdown; a panic inside (a bug of ours) is reported, counted as a write
    /// error, and the loop starts again: logging never silently stops.
    pub(crate) fn run(mut self) {
        if self.copy.is_some() || matches!(self.out, Output::Stdout { .. }) {
            super::stdout::keep_broken_pipe_an_error();
        }
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.serve())) {
                Ok(()) => return,
                Err(p) => {
                    self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    crate::report::emit(format_args!(
                        "the file writer panicked ({}); restarting it",
                        crate::report::panic_text(p.as_ref())
                    ));
                }
            }
        }
    }

    /// The last write before stopping; whatever still cannot be written is counted as dropped.
    fn finish(&mut self) {
        self.announce_drops();
        self.write_out(true);
        if !self.buf.is_empty() {
            let lost = self.buf_lines;
            self.counters
                .lines_dropped
                .fetch_add(lost, Ordering::Relaxed);
            crate::report::emit(format_args!(
                "{lost} log lines could not be written to {} before shutdown",
                self.out
            ));
        }
    }

    /// Buffers `line` (`lines` whole lines of `day`; several only without a part cap and while
    /// the file is healthy), moving to the day's file or the next part first if due.
    fn push(&mut self, day: Day, line: &[u8], lines: u64) {
        if day > self.out.day() {
            self.enter_day(day);
        } else if let Some(cap) = self.part_cap {
            let held = self.out.len() + self.buf.len() as u64;
            if held > 0 && held + line.len() as u64 > cap {
                // The part is full: everything before this line goes into it, this line starts
                // the next part. Only with nothing held back (a tail left by a failed write must
                // finish in its own part, or a line would be split); during an outage the part
                // grows past the cap by what was held, and rolls at the first write that works.
                self.write_out(false);
                if self.buf.is_empty() {
                    if let Err(e) = self.out.next_part() {
                        self.fail(e);
                    }
                }
            }
        }
        // (Such a line is not copied to standard output either: the copy is made from `buf`.)
        if self.broken_since.is_some() && self.buf.len() + line.len() > PENDING_CAP {
            self.counters
                .lines_dropped
                .fetch_add(lines, Ordering::Relaxed);
            return;
        }
        self.buf.extend_from_slice(line);
        self.buf_lines += lines;
    }

    /// Moves to the file of `day` (later than the open file's): the first line of a new day
    /// closes the old file with everything that belongs in it.
    fn enter_day(&mut self, day: Day) {
        self.write_out(true);
        if let Err(e) = self.out.enter_day(day) {
            self.fail(e);
        }
    }

    /// Writes the buffer to the current file. While broken, tries at most every [`RETRY_EVERY`]
    /// unless `force`d.
    fn write_out(&mut self, force: bool) {
        let now = Instant::now();
        // Standard output's copy first: an outage of the files must not hold it back.
        if let Some(copy) = &mut self.copy {
            if self.copied < self.buf.len() {
                copy.copy(&self.buf[self.copied..], now, &self.counters);
                self.copied = self.buf.len();
            }
        }
        if self.buf.is_empty() {
            // Nothing to write; a flush still checks the file is where it should be.
            if force {
                self.check_stale();
            }
            return;
        }
        if self.broken_since.is_some() && !force && now - self.last_attempt < RETRY_EVERY {
            return;
        }
        // Before every write: a file deleted or moved (or its directory removed) would swallow
        // the lines into an unlinked inode. One `stat` per write, amortised over up to a round's lines.
        self.check_stale();
        self.last_attempt = now;
        let result = match self.out.file() {
            Ok(file) => write_some(file, &self.buf),
            Err(e) => Err((0, e)),
        };
        match result {
            Ok(()) => {
                self.out.wrote(self.buf.len());
                self.counters
                    .lines_written
                    .fetch_add(self.buf_lines, Ordering::Relaxed);
                self.buf.clear();
                self.buf_lines = 0;
                self.copied = 0;
                if let Some(since) = self.broken_since.take() {
                    crate::report::emit(format_args!(
                        "writing to {} again after {:.1}s",
                        self.out,
                        since.elapsed().as_secs_f64()
                    ));
                }
            }
            Err((written, e)) => {
                self.out.wrote(written);
                let done = self.buf[..written].iter().filter(|&&b| b == b'\n').count() as u64;
                self.counters
                    .lines_written
                    .fetch_add(done, Ordering::Relaxed);
                self.buf_lines -= done.min(self.buf_lines);
                self.buf.drain(..written);
                self.copied = self.copied.saturating_sub(written);
                self.fail(e);
            }
        }
    }

    /// Reopens (recreating the directory) if the open file is no longer what its path names;
    /// counted and reported like a write error.
    fn check_stale(&mut self) {
        if self.out.is_stale() {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            crate::report::emit(format_args!(
                "{} vanished (deleted or moved); recreating it",
                self.out
            ));
            self.out.close();
            if let Err(e) = self.out.file() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        self.out.close();
        if self.broken_since.is_none() {
            self.broken_since = Some(Instant::now());
            crate::report::emit(format_args!(
                "cannot write to {}: {e}; retrying every {}s, holding up to {} MiB meanwhile",
                self.out,
                RETRY_EVERY.as_secs(),
                PENDING_CAP >> 20
            ));
        }
    }

    /// Appends a WARNING line counting lines dropped since the last announcement.
    fn announce_drops(&mut self) {
        let dropped = self.counters.lines_dropped.load(Ordering::Relaxed);
        if dropped <= self.announced_drops {
            return;
        }
        let n = dropped - self.announced_drops;
        self.announced_drops = dropped;
        let mut line = Vec::with_capacity(192);
        let mut meta = Vec::new();
        meta.extend_from_slice(b"\"dropped\":");
        crate::format::json::write_int(&mut meta, n);
        crate::format::file::write_line(
            &mut line,
            self.clock.unix_now(),
            self.tz,
            "WARNING",
            &format!(
                "actionlog dropped {n} log lines: the writer could not keep up or could not write"
            ),
            "actionlog",
            &meta,
        );
        if let Some(ship) = &mut self.ship {
            ship_line(ship, &line);
        }
        if self.out.keeps_lines() {
            self.buf.extend_from_slice(&line);
            self.buf_lines += 1;
        }
    }
}

impl Writer {
    fn serve(&mut self) {
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
    /// [`Writer::push`]; each line shipped too, when the lines are.
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
            if self.part_cap.is_none() && self.broken_since.is_none() && self.out.keeps_lines() {
                let from = self.buf.len();
                self.renderer.line(&mut self.buf, meta, flat, &rec);
                self.buf_lines += 1;
                if let Some(ship) = &mut self.ship {
                    ship_line(ship, &self.buf[from..]);
                }
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.clear();
                self.renderer.line(&mut line, meta, flat, &rec);
                if let Some(ship) = &mut self.ship {
                    ship_line(ship, &line);
                }
                if self.out.keeps_lines() {
                    self.push(day, &line, 1);
                }
                self.line = line;
            }
            if self.buf.len() >= WRITE_CHUNK {
                self.write_out(false);
            }
        }
    }
}

/// Ships one rendered line (its newline left out) as it is.
fn ship_line(ship: &mut LineSender, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    // Rendered by us: valid UTF-8 (a lossy copy guards the shipping against a bug of ours).
    ship.send(LogLine::new(String::from_utf8_lossy(line).into_owned()));
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

/// Where the writer's lines go: the day files, or standard output alone when the day files
/// are off ([`super::stdout`]), or nowhere but the pipeline of lines. The writer drives them
/// the same way — the day it is on, the open file, a failure and its retries — and what has no
/// meaning on stdout (parts, a file deleted under it, reopening) does nothing there.
pub(crate) enum Output {
    Files(DayFiles),
    /// Standard output, and the day the writer is on (a round orders its lines by day
    /// whatever the destination).
    Stdout {
        out: Stdout,
        day: Day,
    },
    /// No day files and no stdout: the lines are only shipped ([`Writer::ship_with`]), and
    /// never buffered for a write.
    ShippedOnly {
        day: Day,
    },
}

impl Output {
    /// The day files, when they are the destination.
    pub(crate) fn day_files(&self) -> Option<&DayFiles> {
        match self {
            Output::Files(f) => Some(f),
            Output::Stdout { .. } | Output::ShippedOnly { .. } => None,
        }
    }

    /// Whether lines are written here (else they are only shipped).
    pub(crate) fn keeps_lines(&self) -> bool {
        !matches!(self, Output::ShippedOnly { .. })
    }

    /// The day being written.
    pub(crate) fn day(&self) -> Day {
        match self {
            Output::Files(f) => f.day(),
            Output::Stdout { day, .. } | Output::ShippedOnly { day } => *day,
        }
    }

    /// Moves on to `day` (later than [`Output::day`]): its day file, for the files.
    pub(crate) fn enter_day(&mut self, to: Day) -> io::Result<()> {
        match self {
            Output::Files(f) => f.rotate(to),
            Output::Stdout { day, .. } | Output::ShippedOnly { day } => {
                *day = to;
                Ok(())
            }
        }
    }

    /// The size at which the open part is closed (never, on stdout).
    pub(crate) fn part_cap(&self) -> Option<u64> {
        match self {
            Output::Files(f) => f.part_cap(),
            Output::Stdout { .. } | Output::ShippedOnly { .. } => None,
        }
    }

    /// Bytes in the open part (read only under a part cap).
    pub(crate) fn len(&self) -> u64 {
        match self {
            Output::Files(f) => f.len(),
            Output::Stdout { .. } | Output::ShippedOnly { .. } => 0,
        }
    }

    /// Notes `n` bytes written.
    pub(crate) fn wrote(&mut self, n: usize) {
        if let Output::Files(f) = self {
            f.wrote(n);
        }
    }

    /// Continues in the day's next part (only under a part cap, so never on stdout).
    pub(crate) fn next_part(&mut self) -> io::Result<()> {
        match self {
            Output::Files(f) => f.next_part(),
            Output::Stdout { .. } | Output::ShippedOnly { .. } => Ok(()),
        }
    }

    /// What to write to, reopening a day file closed after an error (never asked when the
    /// lines are only shipped: nothing is buffered then).
    pub(crate) fn file(&mut self) -> io::Result<&mut File> {
        match self {
            Output::Files(f) => f.file(),
            Output::Stdout { out, .. } => Ok(out.file()),
            Output::ShippedOnly { .. } => Err(io::Error::other("the lines are only shipped")),
        }
    }

    /// Forgets the open day file after an error, so the next write reopens it; stdout stays.
    pub(crate) fn close(&mut self) {
        if let Output::Files(f) = self {
            f.close();
        }
    }

    /// Whether the open day file is no longer what its path names.
    pub(crate) fn is_stale(&self) -> bool {
        match self {
            Output::Files(f) => f.is_stale(),
            Output::Stdout { .. } | Output::ShippedOnly { .. } => false,
        }
    }
}

/// The destination as reports name it: the open day file's path, or `standard output`.
impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Files(files) => write!(f, "{}", files.current_path().display()),
            Output::Stdout { .. } => f.write_str("standard output"),
            Output::ShippedOnly { .. } => f.write_str("the store of lines"),
        }
    }
}

/// Writes all of `buf`, or reports how much got written before the error.
fn write_some(file: &mut std::fs::File, buf: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while written < buf.len() {
        match file.write(&buf[written..]) {
            Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}
