//! Stopping the outputs before the process is ended from outside, for an app that only called
//! `init()` (`let _guard = actionlog::init()?`): its `main` never returns on `docker stop` or
//! Ctrl-C, so the guard's `Drop` never runs. Each platform's way to end a process gets a handler
//! that stops every output within the flush deadline — lines written out, queued actions
//! delivered or spooled — and then lets the process end exactly as it would have without us:
//!
//! - Unix (Linux, macOS, the BSDs), `unix.rs`: SIGTERM and SIGINT, when nothing else handles
//!   them; the default disposition is put back and the signal raised again.
//! - Windows, `windows.rs`: the console's control events (Ctrl-C, Ctrl-Break, the console window
//!   closed, system shutdown); the handler then passes the event on to the next handler, by
//!   default the one that ends the process.
//!
//! An app that handles these itself, with a handler installed after `init` (tokio::signal,
//! axum's graceful shutdown, signal-hook, ctrlc), keeps them: its handler replaces ours (Unix) or
//! is called first and ends the chain (Windows). One installed before `init` also keeps them on
//! Unix, where `init` sees it and installs nothing; Windows gives no way to see it, so there
//! ours runs first, stops the outputs and passes the event on to it: install it after `init`,
//! or turn ours off with `.signals(false)`.

use std::time::{Duration, Instant};

use crate::handle::Flusher;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::install;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::install;

/// Stops every output within `deadline` (in parallel), saying so on stderr if one did not
/// finish; `cause` names what is ending the process.
fn stop_outputs(stoppers: &[Flusher], deadline: Duration, cause: std::fmt::Arguments<'_>) {
    let until = Instant::now() + deadline;
    let acks: Vec<_> = stoppers.iter().map(|s| s(until)).collect();
    let complete = acks.into_iter().fold(true, |ok, a| a.wait(until) & ok);
    if !complete {
        crate::report::emit(format_args!(
            "{cause}: not everything was written out within {deadline:?}"
        ));
    }
}
