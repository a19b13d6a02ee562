//! What each background output hands back when it starts: a [`Handle`] that can flush it, shut
//! it down within a deadline and read its counters. The [`crate::Guard`] only holds and combines
//! handles; it knows nothing of channels, threads or files.

use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::stats::{Stats, StoreStats};

/// What a layer does when the queue to its worker thread is full: the same choice for the day
/// files' lines ([`crate::FileLayerBuilder::overflow`]) and for action records
/// ([`crate::PipelineConfig::overflow`]), each with its own `block_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wait for room: nothing is lost while the worker keeps up; the caller is held while it
    /// is behind, at most the output's `block_timeout`
    /// ([`crate::FileLayerBuilder::block_timeout`], default 1 s;
    /// [`crate::PipelineConfig::block_timeout`], default 100 ms), then the line or record is
    /// dropped and counted. The file writer is then taken to be stalled (a hung disk): its lines
    /// are dropped at once, and counted, until it takes lines again.
    #[default]
    Block,
    /// Drop the new line or record at once and count it; the caller is never held.
    DropNewest,
}

/// A request sent to a worker: wait for its acknowledgement (and, after a shutdown, for its
/// thread to end) within a deadline; and, for a request that goes through two workers in
/// turn, the second one's request, made once the first is done.
#[must_use]
pub(crate) struct Ack {
    rx: Option<Receiver<()>>,
    thread: Option<JoinHandle<()>>,
    then: Option<Next>,
}

/// The request to make once an [`Ack`] is done, by the same deadline.
type Next = Box<dyn FnOnce(Instant) -> Ack + Send>;

impl Ack {
    /// Sends the request `make(ack)` with `send`; the worker acknowledges on `ack`.
    pub(crate) fn request<M>(
        make: impl FnOnce(Sender<()>) -> M,
        send: impl FnOnce(M) -> bool,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Ack {
            rx: send(make(tx)).then_some(rx),
            thread: None,
            then: None,
        }
    }

    /// Makes the request `next` once this one is acknowledged, or its deadline passed (so a
    /// worker behind one that did not finish in time is still asked, and stops): the file
    /// writer hands its lines to the pipeline of lines, which must then be asked to deliver
    /// them. Waiting for the result waits for both, within the one deadline.
    pub(crate) fn and_then(mut self, next: impl FnOnce(Instant) -> Ack + Send + 'static) -> Self {
        self.then = Some(match self.then.take() {
            None => Box::new(next),
            Some(first) => Box::new(move |d| first(d).and_then(next)),
        });
        self
    }

    /// Also waits for `thread` to end once the request is acknowledged.
    pub(crate) fn then_join(mut self, thread: Option<JoinHandle<()>>) -> Self {
        self.thread = thread;
        self
    }

    /// Whether the request reached the worker (a stopped worker refuses it at once).
    pub(crate) fn requested(&self) -> bool {
        self.rx.is_some()
    }

    /// Whether the worker acknowledged before `deadline` (and the request made after it,
    /// if any, was acknowledged too).
    pub(crate) fn wait(self, deadline: Instant) -> bool {
        let acked = self.rx.is_some_and(|rx| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        });
        if acked {
            if let Some(t) = self.thread {
                let _ = t.join();
            }
        }
        match self.then {
            Some(next) => next(deadline).wait(deadline) && acked,
            None => acked,
        }
    }
}

/// A way to flush an output from anywhere (the panic hook), without owning its handle.
pub(crate) type Flusher = Box<dyn Fn(Instant) -> Ack + Send + Sync>;

/// One running output, as its guard sees it.
pub(crate) trait Handle: Send + Sync {
    /// Asks the output to write out or deliver everything it received so far.
    fn flush(&self, deadline: Instant) -> Ack;
    /// Asks the output to finish what it can before `deadline` and stop; the ack also waits
    /// for its thread.
    fn shutdown(&mut self, deadline: Instant) -> Ack;
    /// Its counters now.
    fn stats(&self) -> Stats;
    /// The store it delivers to and that store's counters, for outputs that deliver to one.
    fn store_stats(&self) -> Option<StoreStats> {
        None
    }
    /// A flusher for the panic hook, for outputs worth flushing there (the day files).
    fn flusher(&self) -> Option<Flusher> {
        None
    }
    /// What stops the output from another thread before the process ends by a signal: by
    /// default its panic-hook flusher (writing everything out is all the day files need).
    fn stopper(&self) -> Option<Flusher> {
        self.flusher()
    }
}
