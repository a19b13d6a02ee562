//! The console's control events on Windows: Ctrl-C, Ctrl-Break, the console window closed and
//! system shutdown (what `docker stop` sends in a Windows container). A handler registered with
//! `SetConsoleCtrlHandler` runs on a thread the system starts for the event, so it may block:
//! it stops every output within the flush deadline, then returns `FALSE`, which passes the
//! event on to the next handler — by default the one that ends the process, with the exit
//! status it would have had without us. (A logoff is not handled: a service receives it when
//! any user logs off, and goes on running.)
//!
//! Windows calls the most recently registered handler first, and stops at the first that
//! returns `TRUE`: one the app registers after `init` (tokio::signal, ctrlc) and that handles
//! the event ends the chain before ours is reached. A process that ignores Ctrl-C (started
//! with it disabled) never sees that event, here as without us.

use std::sync::{Once, OnceLock};
use std::time::Duration;

use windows_sys::Win32::Foundation::FALSE;
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_SHUTDOWN_EVENT, SetConsoleCtrlHandler,
};
use windows_sys::core::BOOL;

use crate::handle::Flusher;

/// The events handled.
const EVENTS: [u32; 4] = [
    CTRL_C_EVENT,
    CTRL_BREAK_EVENT,
    CTRL_CLOSE_EVENT,
    CTRL_SHUTDOWN_EVENT,
];

/// What stops the outputs, and within what.
static OUTPUTS: OnceLock<(Vec<Flusher>, Duration)> = OnceLock::new();

/// Stops the outputs once: a second event arriving meanwhile waits for the first stop, then
/// goes on to the next handler too.
static STOPPED: Once = Once::new();

extern "system" fn on_event(event: u32) -> BOOL {
    if EVENTS.contains(&event) {
        if let Some((stoppers, deadline)) = OUTPUTS.get() {
            STOPPED.call_once(|| {
                super::stop_outputs(stoppers, *deadline, format_args!("console event {event}"));
            });
        }
    }
    FALSE
}

/// Registers the handler; `stoppers` stop the outputs. Returns how many events it handles.
pub(crate) fn install(stoppers: Vec<Flusher>, deadline: Duration) -> usize {
    if OUTPUTS.set((stoppers, deadline)).is_err() {
        return 0;
    }
    // SAFETY: registers a function that lives for the whole program; it only reads statics
    // set before this call.
    #[allow(unsafe_code)]
    let added = unsafe { SetConsoleCtrlHandler(Some(on_event), 1) } != 0;
    if added { EVENTS.len() } else { 0 }
}
