//! The panic hook [`crate::Builder::init`] installs: each panic becomes an ERROR event on
//! target `panic` (so it fails the action it happened in), the day files are flushed, then the
//! hook that was there before runs.

use std::time::{Duration, Instant};

use crate::handle::Flusher;

/// Logs panics as ERROR events and flushes the files, then runs the previous hook.
pub(crate) fn install(files: Vec<Flusher>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread_name = thread.name().unwrap_or("<unnamed>");
        let message = crate::report::panic_text(info.payload());
        tracing::error!(target: "panic", location = %location, thread = thread_name, "panicked: {message}");
        // Not from the writer thread itself: it cannot flush while it is unwinding.
        if thread_name != crate::file::WRITER_THREAD {
            let deadline = Instant::now() + Duration::from_secs(1);
            let acks: Vec<_> = files.iter().map(|f| f(deadline)).collect();
            for ack in acks {
                ack.wait(deadline);
            }
        }
        previous(info);
    }));
}
