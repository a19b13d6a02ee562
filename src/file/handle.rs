//! The file writer's [`Handle`]: its channel (flush and shutdown travel behind the lines, so
//! they cover everything sent before them), its thread and its counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::handoff::Hub;
use super::writer::Msg;
use crate::handle::{Ack, Flusher, Handle};
use crate::stats::Stats;

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
        request(&self.tx, &self.hub, Msg::Flush, deadline)
    }

    fn shutdown(&mut self, deadline: Instant) -> Ack {
        request(&self.tx, &self.hub, Msg::Shutdown, deadline).then_join(self.thread.take())
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

    fn flusher(&self) -> Option<Flusher> {
        let tx = self.tx.clone();
        let hub = self.hub.clone();
        Some(Box::new(move |deadline| {
            request(&tx, &hub, Msg::Flush, deadline)
        }))
    }
}
