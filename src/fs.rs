//! File-system helpers shared by everything that writes under the log directory (day files,
//! spool segments, dead letters, the SQLite store): directories created 0750 and files 0640
//! whatever the umask, opened append-only with `O_NOFOLLOW` so a planted symlink is refused, and
//! with `O_NONBLOCK` then checked with `fstat`, so that a FIFO, a device or a socket in place of
//! a file is refused instead of blocking the open (a FIFO without a reader) or every write.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) with mode 0750 if missing.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
    {
        Ok(()) if dir.is_dir() => Ok(()),
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )),
        Err(e) => Err(e),
    }
}

/// Opens (creating if needed) a file for appending, refusing symlinks and anything that is not
/// a regular file.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let f = open_append_any(path).map_err(|e| {
        // A FIFO without a reader refuses a non-blocking open for writing.
        if e.raw_os_error() == Some(libc::ENXIO) {
            not_regular()
        } else {
            e
        }
    })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "refusing to write to something that is not a regular file (a FIFO, device or socket) in place of a log file",
    )
}

/// [`open_append`] before the file-type check. `O_NONBLOCK` makes the open itself return at
/// once whatever the path is; on a regular file it changes nothing for the writes.
fn open_append_any(path: &Path) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let created = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(flags)
        .open(path);
    match created {
        Ok(f) => {
            // `mode` is filtered by the umask; set the exact mode on what we just created.
            f.set_permissions(fs::Permissions::from_mode(0o640))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .append(true)
            .custom_flags(flags)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    io::Error::new(
                        e.kind(),
                        "refusing to write through a symlink in place of a log file",
                    )
                } else {
                    e
                }
            }),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive advisory lock (`flock`) on `f` without waiting; `false` when another
/// process (or another open file of this one) holds it. Released when `f` is closed, also
/// when the process dies, so a crashed holder never leaves it stuck.
#[allow(unsafe_code)]
pub(crate) fn try_lock(f: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` only reads the descriptor, which `f` keeps open for the whole call.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}
