//! Standard output as a destination of the JSON lines (a container's log collector reads it):
//! the writer thread writes to a duplicate of the process's stdout descriptor, not through
//! `std::io::stdout()`, whose lock the app's own `println!` and the exit-time flush take. So
//! a stdout that blocks (a reader that stopped reading) holds the writer only, never an app
//! thread, and the file layer's stall rules bound what the callers wait. The writer thread
//! blocks SIGPIPE for itself ([`keep_broken_pipe_an_error`]), so a closed pipe is a write
//! error (EPIPE), counted and reported, even in an app that set SIGPIPE back to ending the
//! process.

use std::fs::File;
use std::io;

/// The writer's handle on standard output.
pub(crate) struct Stdout(File);

impl Stdout {
    /// Duplicates the stdout descriptor (an error if the process has none).
    pub(crate) fn open() -> io::Result<Self> {
        #[cfg(unix)]
        let owned = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned()?;
        #[cfg(windows)]
        let owned =
            std::os::windows::io::AsHandle::as_handle(&io::stdout()).try_clone_to_owned()?;
        Ok(Stdout(File::from(owned)))
    }

    /// Where the bytes go.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.0
    }
}

/// Blocks SIGPIPE on the calling thread (the writer's): a write to a pipe whose reader is
/// gone then fails with EPIPE instead of ending the process. The signal such a write raises
/// is aimed at the writing thread, so it stays pending there, blocked, and reaches no other
/// thread. (Rust programs ignore SIGPIPE from the start; this also covers those that put the
/// default back.)
pub(crate) fn keep_broken_pipe_an_error() {
    #[cfg(unix)]
    // SAFETY: `sigemptyset` / `sigaddset` initialise and fill a set owned by this frame;
    // `pthread_sigmask` reads it and changes the calling thread's mask only.
    #[allow(unsafe_code)]
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
