//! One forwarding sink for every test that needs to watch, hold or slow the writes on their way
//! to a real sink: [`Wrap`].
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionlog::sink::{Sink, SinkFuture};
use actionlog::{ActionRecord, JobExecution};

type Before = Box<dyn FnMut(&[ActionRecord]) + Send>;

/// Forwards to `inner`, remembering each action batch's size and every job run, running an
/// optional hook before each action batch (on the worker's thread: a hook that blocks is a
/// database that hangs the caller of `write`) and waiting `delay` before each write (inside the
/// future, as a slow database does).
pub struct Wrap<S> {
    pub inner: S,
    /// The size of every action batch handed over.
    pub sizes: Arc<Mutex<Vec<usize>>>,
    /// Every job run written through it.
    pub jobs: Arc<Mutex<Vec<JobExecution>>>,
    before: Option<Before>,
    delay: Duration,
}

impl<S> Wrap<S> {
    pub fn new(inner: S) -> Self {
        Wrap {
            inner,
            sizes: Arc::default(),
            jobs: Arc::default(),
            before: None,
            delay: Duration::ZERO,
        }
    }

    /// Runs `f` with each action batch before forwarding it.
    pub fn before(mut self, f: impl FnMut(&[ActionRecord]) + Send + 'static) -> Self {
        self.before = Some(Box::new(f));
        self
    }

    /// Holds the first write until `gate` says go (or is dropped): a database that hangs.
    pub fn gated(self, gate: std::sync::mpsc::Receiver<()>) -> Self {
        let mut open = false;
        self.before(move |_| {
            if !open {
                let _ = gate.recv();
                open = true;
            }
        })
    }

    /// Waits `d` before each write: a slow database.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

impl<S: Sink> Sink for Wrap<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn write<'a>(&'a mut self, batch: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        self.sizes.lock().unwrap().push(batch.len());
        if let Some(f) = &mut self.before {
            f(batch);
        }
        let delay = self.delay;
        let write = self.inner.write(batch);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            write.await
        })
    }

    fn write_jobs<'a>(
        &'a mut self,
        batch: &'a actionlog::sink::Batch<JobExecution>,
    ) -> SinkFuture<'a> {
        self.jobs.lock().unwrap().extend_from_slice(batch);
        self.inner.write_jobs(batch)
    }
}
