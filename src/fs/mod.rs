//! File-system helpers shared by everything that writes or reads back under the log directory
//! (day files, spool segments, dead letters, the SQLite store, compressed parts): private modes,
//! links and special files refused ([`open_append`] for writing, [`open_read`] for reading), the
//! spool's segment locks, file identity. What each platform does is
//! decided here and nowhere else (`unix.rs` and `windows.rs` hold the calls):
//!
//! | | Unix (Linux, macOS, the BSDs) | Windows |
//! |---|---|---|
//! | modes | directories 0750, files 0640, whatever the umask | none set: files inherit the directory's ACL, like every other file the app creates |
//! | a link in place of a file | refused: opened with `O_NOFOLLOW` | refused: opened with `FILE_FLAG_OPEN_REPARSE_POINT`, so a symlink or junction is opened itself, never its target, and refused (another reparse point, such as a cloud-synced file, is opened again through its filter and kept only if it is the same file) |
//! | a FIFO, device or socket in place of a file | refused without blocking: `O_NONBLOCK`, then `fstat` (a socket: the `ENXIO` of its open) | refused: only regular files are written or read (no FIFOs in a directory) |
//! | [`try_lock`] (one replayer per spool segment) | `flock`, advisory | `LockFileEx` on one byte past any data, so readers are not blocked: a flag, like `flock` |
//! | [`FileId`] | device and inode | volume serial number and file index |
//! | `sync_dir` (a rename made durable) | `fsync` of the directory | nothing: Windows has no directory fsync (NTFS journals its metadata) |
//! | [`symlink`] (`latest.log`) | a symlink | a symlink where the process may create one (Developer Mode, or the privilege), else none |
//!
//! Both keep a crashed holder from leaving a lock stuck: `flock` and `LockFileEx` locks go
//! with the file handle, also when the process dies.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

#[cfg(feature = "compress")]
pub(crate) use sys::sync_dir;
pub(crate) use sys::{FileId, symlink, try_lock};

/// Creates `dir` (and parents) if missing; private (0750) on Unix.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    sys::private_dir(&mut builder);
    match builder.recursive(true).create(dir) {
        Ok(()) if dir.is_dir() => Ok(()),
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )),
        Err(e) => Err(e),
    }
}

/// Opens (creating if needed) a file for appending, refusing links and anything that is not
/// a regular file; a file it creates is private (0640 on Unix).
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    let f = open_append_any(path).map_err(refused)?;
    if !f.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

/// [`open_append`] before the file-type check: the open itself returns at once whatever the
/// path is (see [`sys::open_no_follow`]).
fn open_append_any(path: &Path) -> io::Result<File> {
    let mut create = OpenOptions::new();
    create.append(true).create_new(true);
    sys::private_file(&mut create);
    match sys::open_no_follow(&mut create, path, true) {
        Ok(f) => {
            sys::make_private(&f)?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            sys::open_no_follow(OpenOptions::new().append(true), path, true)
        }
        Err(e) => Err(e),
    }
}

/// Opens a file under the log directory for reading: without following a link in its place
/// and without blocking (a FIFO without a writer would block a plain open), then refusing
/// anything that is not a regular file. A refusal is an error [`is_refused`] recognizes, so a
/// reader can skip the entry (or move it aside) and go on.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    let f = sys::open_no_follow(OpenOptions::new().read(true), path, true).map_err(|e| {
        // (Windows refuses a link itself, in `open_no_follow`.)
        if sys::is_link_refused(&e) || is_refused(&e) {
            Refused::Link.error(Access::Read)
        } else if sys::is_socket(&e) {
            Refused::NotRegular.error(Access::Read)
        } else {
            e
        }
    })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(Refused::NotRegular.error(Access::Read));
    }
    Ok(f)
}

/// Whether `e` is [`open_read`]'s or [`open_append`]'s refusal of a link or of something that
/// is not a regular file.
pub(crate) fn is_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<RefusedError>())
}

/// Creates (or truncates) a file for writing, refusing a link in its place; private (0640 on
/// Unix) whatever the umask.
#[cfg(feature = "compress")]
pub(crate) fn create_truncate(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    sys::private_file(&mut o);
    let f = sys::open_no_follow(&mut o, path, false)?;
    sys::make_private(&f)?;
    Ok(f)
}

/// Replaces `path` with a file holding `bytes`, atomically: written to a new temporary file
/// beside it (created exclusively, without following a link, owner-only: 0600 on Unix),
/// fsynced, renamed over `path`, and the directory fsynced. A reader sees the old content or
/// the new, never a part; a symlink planted at `path` is replaced, never written through; a
/// crash leaves at most a temporary file (`.NAME.tmp-…`), which the next write does not reuse.
#[cfg(feature = "alert")]
pub(crate) fn write_atomic_owner_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let tmp = dir.join(tmp_name);
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    sys::owner_only_file(&mut o);
    let written = (|| {
        let mut f = sys::open_no_follow(&mut o, &tmp, false).map_err(refused)?;
        sys::make_owner_only(&f)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sys::sync_dir(dir)
}

/// An open's error in our words where the platform's own says little: on Unix, a FIFO
/// without a reader (which refuses a non-blocking open for writing) and a link refused by
/// `O_NOFOLLOW` (each system has its own `errno` for that).
fn refused(e: io::Error) -> io::Error {
    if sys::is_fifo_without_reader(&e) {
        not_regular()
    } else if sys::is_link_refused(&e) {
        symlink_refused(e.kind())
    } else {
        e
    }
}

fn not_regular() -> io::Error {
    Refused::NotRegular.error(Access::Write)
}

fn symlink_refused(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, RefusedError(Refused::Link, Access::Write))
}

/// What was in place of a log file.
#[derive(Debug, Clone, Copy)]
enum Refused {
    Link,
    NotRegular,
}

#[derive(Debug, Clone, Copy)]
enum Access {
    Read,
    Write,
}

impl Refused {
    fn error(self, access: Access) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, RefusedError(self, access))
    }
}

/// The error of a refused open (see [`is_refused`]).
#[derive(Debug)]
struct RefusedError(Refused, Access);

impl std::fmt::Display for RefusedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (read, through) = match self.1 {
            Access::Read => ("read", "read through"),
            Access::Write => ("write to", "write through"),
        };
        match self.0 {
            Refused::NotRegular => write!(
                f,
                "refusing to {read} something that is not a regular file (a FIFO, device or socket) in place of a log file"
            ),
            Refused::Link => write!(f, "refusing to {through} a symlink in place of a log file"),
        }
    }
}

impl std::error::Error for RefusedError {}
