//! The file writer's [`Handle`]: its channel (flush and shutdown travel behind the lines, so
//! they cover everything sent before them), its thread and its counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::writer::Msg;
use crate::handle::{Ack, Flusher, Handle};
use crate::stats::Stats;

/// Live counters shared by the file layer and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    /// Bytes of lines in the channel: added by the layer, taken off by the writer.
    pub(crate) queued_bytes: AtomicU64,
    /// Whether a `Block` wait timed out and the writer has not taken a line since.
    pub(crate) stalled: std::sync::atomic::AtomicBool,
}

pub(crate) struct FileHandle {
    pub(crate) tx: Sender<Msg>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) counters: Arc<Counters>,
}

/// Sends `make(ack)` to the writer, waiting for room at most until `deadline`.
fn request(
    tx: &Sender<Msg>,
    make: impl FnOnce(crossbeam_channel::Sender<()>) -> Msg,
    deadline: Instant,
) -> Ack {
    let wait = deadline.saturating_duration_since(Instant::now());
    Ack::request(make, |m| tx.send_timeout(m, wait).is_ok())
}

impl Handle for FileHandle {
    fn flush(&self, deadline: Instant) -> Ack {
        request(&self.tx, Msg::Flush, deadline)
    }

    fn shutdown(&mut self, deadline: Instant) -> Ack {
        request(&self.tx, Msg::Shutdown, deadline).then_join(self.thread.take())
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
        Some(Box::new(move |deadline| request(&tx, Msg::Flush, deadline)))
    }
}
