//! Records queued when the process exits with the guard still alive: a guard kept in a
//! `static` (a test binary's `LazyLock`), leaked, or alive on `main`'s stack when something
//! calls `std::process::exit`. None of these runs the guard's `Drop`, so `init` registers a
//! C `atexit` function that stops every output within the flush deadline — lines written out,
//! queued actions delivered, or spooled for the next start if the store cannot take them in
//! time — exactly as dropping the guard would. Returning from `main` and `std::process::exit`
//! run it; a guard dropped earlier leaves it nothing to do; a process killed by a signal or
//! aborted does not run it (SIGTERM and SIGINT are `signals`' job).

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::handle::Flusher;

/// What the exit function stops, and within how long; taken (once) by it.
static OUTPUTS: Mutex<Option<(Vec<Flusher>, Duration)>> = Mutex::new(None);

/// Registers the exit function (once per process) to stop `stoppers` within `deadline`.
pub(crate) fn install(stoppers: Vec<Flusher>, deadline: Duration) {
    if let Ok(mut outputs) = OUTPUTS.lock() {
        *outputs = Some((stoppers, deadline));
    }
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: `atexit` stores a plain `extern "C"` function pointer to call at exit;
        // `at_exit` never unwinds into the C runtime (it catches panics).
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

extern "C" fn at_exit() {
    // A panic must not unwind into the C runtime calling us.
    let _ = std::panic::catch_unwind(stop_outputs);
}

/// Stops the registered outputs, if they are still running; reports what was left undone.
fn stop_outputs() {
    let Some((stoppers, deadline)) = OUTPUTS.lock().ok().and_then(|mut o| o.take()) else {
        return;
    };
    let until = Instant::now() + deadline;
    let acks: Vec<_> = stoppers.iter().map(|stop| stop(until)).collect();
    // Outputs already stopped (the guard was dropped) refuse the request at once: nothing to
    // wait for and nothing to report.
    let running = acks.iter().filter(|a| a.requested()).count();
    let complete = acks.into_iter().fold(true, |ok, a| {
        let done = !a.requested() || a.wait(until);
        done && ok
    });
    if running > 0 && !complete {
        crate::report::emit(format_args!(
            "at exit: not everything was written out within {deadline:?}"
        ));
    }
}
