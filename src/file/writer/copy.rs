//! Standard output beside the day files: a copy of every line the writer writes, made as the
//! lines leave for the files, so an outage of the files never holds it back. The files keep
//! everything; stdout is best effort. While it refuses writes, it is retried every
//! [`RETRY_EVERY`] and the lines in between are not copied (each failure is counted as a write
//! error; the outage is reported when it starts and when it ends). A line a failed write cut
//! is finished before anything else, so stdout never holds a torn line.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::super::handle::Counters;
use super::super::stdout::Stdout;
use super::{RETRY_EVERY, write_some};

pub(crate) struct StdoutCopy {
    out: Stdout,
    /// The rest of a line a failed write cut.
    tail: Vec<u8>,
    broken_since: Option<Instant>,
    last_attempt: Instant,
}

impl StdoutCopy {
    pub(crate) fn new(out: Stdout) -> Self {
        StdoutCopy {
            out,
            tail: Vec::new(),
            broken_since: None,
            last_attempt: Instant::now(),
        }
    }

    /// Copies `lines` (whole lines), unless stdout is broken and not yet due for a retry.
    pub(super) fn copy(&mut self, lines: &[u8], now: Instant, counters: &Counters) {
        if self.broken_since.is_some() && now - self.last_attempt < RETRY_EVERY {
            return;
        }
        self.last_attempt = now;
        if !self.tail.is_empty() {
            match write_some(self.out.file(), &self.tail) {
                Ok(()) => self.tail.clear(),
                Err((n, e)) => {
                    self.tail.drain(..n);
                    return self.fail(e, counters);
                }
            }
        }
        match write_some(self.out.file(), lines) {
            Ok(()) => {
                if let Some(since) = self.broken_since.take() {
                    crate::report::emit(format_args!(
                        "copying the log lines to standard output again after {:.1}s",
                        since.elapsed().as_secs_f64()
                    ));
                }
            }
            Err((n, e)) => {
                if n > 0 && lines[n - 1] != b'\n' {
                    let end = lines[n..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(lines.len(), |i| n + i + 1);
                    self.tail.extend_from_slice(&lines[n..end]);
                }
                self.fail(e, counters);
            }
        }
    }

    fn fail(&mut self, e: io::Error, counters: &Counters) {
        counters.write_errors.fetch_add(1, Ordering::Relaxed);
        if self.broken_since.is_none() {
            self.broken_since = Some(Instant::now());
            crate::report::emit(format_args!(
                "cannot write to standard output: {e}; the day files keep every line, \
                 standard output gets them again once it takes writes (retried every {}s)",
                RETRY_EVERY.as_secs()
            ));
        }
    }
}
