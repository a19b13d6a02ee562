//! File-system helpers shared by everything that writes under the log directory (day files,
//! spool segments, dead letters, the SQLite store): directories created 0750 and files 0640
//! whatever the umask, opened append-only with `O_NOFOLLOW` so a planted symlink is refused.

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

/// Opens (creating if needed) a file for appending, refusing symlinks.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let created = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match created {
        Ok(f) => {
            // `mode` is filtered by the umask; set the exact mode on what we just created.
            f.set_permissions(fs::Permissions::from_mode(0o640))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
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
