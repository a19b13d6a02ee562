//! SIGTERM and SIGINT on Unix. When `init` finds either signal at its default disposition
//! (nobody handles it), it installs a handler; on the signal a thread of ours stops every output
//! within the flush deadline, puts the default disposition back and sends the signal again, so
//! the process ends as the signal would (same exit status). As PID 1 (a container without
//! `--init`), where the kernel drops that signal, it exits with status 128 + the signal's
//! number instead.
//!
//! An app that handles these signals itself is never ended early by us:
//! - if it installed its handler before `init`, the disposition is not the default and we
//!   install nothing;
//! - if it installs one later (tokio::signal, axum's graceful shutdown, signal-hook), that
//!   handler replaces ours; libraries that chain to the previous handler (signal-hook-registry,
//!   which tokio uses) still call ours, so ours first checks whether it is still the installed
//!   one, and does nothing when it is not.
//!
//! That check is why this uses `sigaction` directly rather than signal-hook: signal-hook
//! registers every handler of a process in one shared registry, behind one installed function,
//! so ours could not tell whether the app had registered one too.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::handle::Flusher;

// Where the calling thread's `errno` lives, as each C library names it: the handler saves and
// restores it, since its own calls may change it under the code the signal interrupted.
#[cfg(any(target_os = "solaris", target_os = "illumos"))]
use libc::___errno as errno_location;
#[cfg(any(
    target_os = "android",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "cygwin"
))]
use libc::__errno as errno_location;
#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "emscripten",
    target_os = "hurd",
    target_os = "redox"
))]
use libc::__errno_location as errno_location;
#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
use libc::__error as errno_location;
#[cfg(target_os = "nto")]
use libc::__get_errno_ptr as errno_location;
#[cfg(target_os = "haiku")]
use libc::_errnop as errno_location;

/// The signals handled.
const SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// The write end of the pipe from the handler to the thread; -1 until installed.
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// [`on_signal`] as `sigaction` stores it.
fn handler() -> libc::sighandler_t {
    on_signal as *const () as libc::sighandler_t
}

/// The handler: async-signal-safe (`sigaction`, `write`, atomics only).
extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: `sigaction` with a null new action only reads the current one into `cur`, a
    // zeroed `sigaction` owned by this frame; both calls are async-signal-safe (POSIX).
    #[allow(unsafe_code)]
    unsafe {
        let errno = *errno_location();
        let mut cur: libc::sigaction = std::mem::zeroed();
        let ours =
            libc::sigaction(sig, std::ptr::null(), &mut cur) == 0 && cur.sa_sigaction == handler();
        let fd = PIPE.load(Ordering::Relaxed);
        if ours && fd >= 0 {
            let byte = sig as u8;
            let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        }
        *errno_location() = errno;
    }
}

/// Installs the handler for each of [`SIGNALS`] still at its default disposition; `stoppers`
/// stop the outputs. Returns how many signals it took over.
pub(crate) fn install(stoppers: Vec<Flusher>, deadline: Duration) -> usize {
    let Some([read, write]) = cloexec_pipe() else {
        return 0;
    };
    PIPE.store(write, Ordering::Relaxed);
    let mut taken = 0;
    for sig in SIGNALS {
        // SAFETY: reads the current action into a zeroed struct we own, then installs
        // `on_signal` (async-signal-safe, see above) only over the default disposition.
        #[allow(unsafe_code)]
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = handler();
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(sig, &new, std::ptr::null_mut()) == 0 {
                taken += 1;
            }
        }
    }
    if taken == 0 {
        return 0;
    }
    let spawned = std::thread::Builder::new()
        .name("actionlog-signals".into())
        .spawn(move || wait_and_stop(read, &stoppers, deadline));
    if spawned.is_err() {
        restore_defaults();
        return 0;
    }
    taken
}

/// A pipe whose two ends are closed on exec: atomically with `pipe2`; where it does not exist,
/// `pipe` and then `FD_CLOEXEC` on each end (a child another thread forks in between may
/// inherit the ends; it can only hold the pipe open, never signal through it).
#[allow(unsafe_code)]
fn cloexec_pipe() -> Option<[libc::c_int; 2]> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(not(any(
        target_vendor = "apple",
        target_os = "haiku",
        target_os = "nto",
        target_os = "aix"
    )))]
    // SAFETY: `pipe2` writes two descriptors into `fds`, an array of two owned by this frame.
    return (unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0).then_some(fds);
    #[cfg(any(
        target_vendor = "apple",
        target_os = "haiku",
        target_os = "nto",
        target_os = "aix"
    ))]
    // SAFETY: `pipe` writes two descriptors into `fds`, an array of two owned by this frame;
    // `fcntl` and `close` take only those descriptors, which we own.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return None;
        }
        if fds
            .iter()
            .all(|&fd| libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0)
        {
            return Some(fds);
        }
        for fd in fds {
            libc::close(fd);
        }
        None
    }
}

/// Waits for a signal, stops the outputs within `deadline`, then ends the process by it.
fn wait_and_stop(read: libc::c_int, stoppers: &[Flusher], deadline: Duration) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into `byte`, owned by this frame, from our pipe.
        #[allow(unsafe_code)]
        let n = unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
    let sig = libc::c_int::from(byte);
    super::stop_outputs(stoppers, deadline, format_args!("signal {sig}"));
    restore_defaults();
    // SAFETY: sends the signal to our own process; with the default disposition back it ends
    // the process as the first delivery would have.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(libc::getpid(), sig);
    }
    // Still running: the kernel dropped the signal, as it does one at its default disposition
    // sent to the init of a PID namespace — the app is PID 1 in a container started without
    // `--init`. End the process as a shell reports a signal's end (128 + its number), which is
    // what `docker stop` waits for, instead of running on with the outputs stopped until the
    // runtime's SIGKILL.
    if std::process::id() == 1 {
        std::process::exit(128 + sig);
    }
}

/// Puts the default disposition back on the signals we took (only where ours is installed).
fn restore_defaults() {
    for sig in SIGNALS {
        // SAFETY: as in `install`: reads into, and installs from, structs owned by this frame.
        #[allow(unsafe_code)]
        unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut cur) == 0
                && cur.sa_sigaction == handler()
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}
