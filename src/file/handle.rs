//! The file writer's [`Handle`]: its channel (flush and shutdown travel behind the lines, so
//! they cover everything sent before them), its thread and its counters; and, when the lines
//! are shipped, the pipeline of lines behind the writer. That pipeline is asked only once the
//! writer is done with a request — a flush delivers the lines the writer handed over while
//! flushing, a shutdown stops the pipeline after the writer's last line — so it is this
//! handle's, not a handle of its own beside it in the guard.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::handoff::Hub;
use super::writer::Msg;
use crate::handle::{Ack, Flusher, Handle};
use crate::pipeline::PipelineHandle;
use crate::stats::{Stats, StoreStats};

/// Live counters shared by the file layer and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    /// Whether a `Block` wait timed out and the writer has not taken a line since.
    pub(crate) stalled: std::sync::atomic::AtomicBool,
}

pub(crate) struct FileHandle {
    pub(crate) tx: Sender<Msg>,
    /// To wake the writer after a request.
    pub(crate) hub: Arc<Hub>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) counters: Arc<Counters>,
    /// The pipeline the writer ships the lines to, when it does.
    pub(crate) lines: Option<PipelineHandle>,
}

/// `ack`, then `next` (an output's request of the pipeline of lines), when there is one.
fn then_lines(ack: Ack, next: Option<Arc<Flusher>>) -> Ack {
    match next {
        Some(next) => ack.and_then(move |deadline| next(deadline)),
        None => ack,
    }
}

/// Sends `make(ack)` to the writer and wakes it; the ack is awaited until `deadline`.
fn request(
    tx: &Sender<Msg>,
    hub: &Hub,
    make: impl FnOnce(crossbeam_channel::Sender<()>) -> Msg,
    deadline: Instant,
) -> Ack {
    let wait = deadline.saturating_duration_since(Instant::now());
    let ack = Ack::request(make, |m| tx.send_timeout(m, wait).is_ok());
    hub.wake();
    ack
}

impl Handle for FileHandle {
    fn flush(&self, deadline: Instant) -> Ack {
        let lines = self.lines.as_ref().map(|l| Arc::new(l.flush_request()));
        then_lines(request(&self.tx, &self.hub, Msg::Flush, deadline), lines)
    }

    fn shutdown(&mut self, deadline: Instant) -> Ack {
        let ack =
            request(&self.tx, &self.hub, Msg::Shutdown, deadline).then_join(self.thread.take());
        match self.lines.as_mut() {
            Some(lines) => ack.and_then(lines.take_shutdown()),
            None => ack,
        }
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            lines_written: c.lines_written.load(Ordering::Relaxed),
            lines_dropped: c.lines_dropped.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            ..Stats::default()
        }
    }

    fn store_stats(&self) -> Option<StoreStats> {
        self.lines.as_ref().and_then(Handle::store_stats)
    }

    fn flusher(&self) -> Option<Flusher> {
        // The panic hook's: the lines written out and handed to the pipeline of lines, whose
        // delivery it does not wait for — a panic must not wait for a collector that is down.
        let tx = self.tx.clone();
        let hub = self.hub.clone();
        Some(Box::new(move |deadline| {
            request(&tx, &hub, Msg::Flush, deadline)
        }))
    }

    fn stopper(&self) -> Option<Flusher> {
        // The lines written out, then the pipeline of lines stopped: delivered, or spooled for
        // the next start (the process ends right after).
        let tx = self.tx.clone();
        let hub = self.hub.clone();
        let lines = self.lines.as_ref().and_then(Handle::stopper).map(Arc::new);
        Some(Box::new(move |deadline| {
            then_lines(request(&tx, &hub, Msg::Flush, deadline), lines.clone())
        }))
    }
}
