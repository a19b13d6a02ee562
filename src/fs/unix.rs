//! The Unix side of [`super`]: modes, `O_NOFOLLOW | O_NONBLOCK`, `flock`, device and inode.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;
/// Files only their owner may read: the alert state names the incidents and notifiers.
#[cfg(feature = "alert")]
const OWNER_ONLY_MODE: u32 = 0o600;

pub(super) fn private_dir(b: &mut DirBuilder) {
    b.mode(DIR_MODE);
}

pub(super) fn private_file(o: &mut OpenOptions) {
    o.mode(FILE_MODE);
}

/// The mode of a file just created: `mode` at the open is filtered by the umask.
pub(super) fn make_private(f: &File) -> io::Result<()> {
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
}

/// Owner-only (0600) at the open, and again after it, whatever the umask.
#[cfg(feature = "alert")]
pub(super) fn owner_only_file(o: &mut OpenOptions) {
    o.mode(OWNER_ONLY_MODE);
}

#[cfg(feature = "alert")]
pub(super) fn make_owner_only(f: &File) -> io::Result<()> {
    f.set_permissions(fs::Permissions::from_mode(OWNER_ONLY_MODE))
}

/// Opens `path` with `O_NOFOLLOW`, so a symlink in place of the file is refused; with
/// `nonblock`, `O_NONBLOCK` too, so that the open returns at once whatever the path is (a FIFO
/// without a reader would block it); on a regular file it changes nothing for the writes.
pub(super) fn open_no_follow(o: &mut OpenOptions, path: &Path, nonblock: bool) -> io::Result<File> {
    let nonblock = if nonblock { libc::O_NONBLOCK } else { 0 };
    o.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | nonblock)
        .open(path)
}

/// A FIFO without a reader refuses a non-blocking open for writing with `ENXIO`.
pub(super) fn is_fifo_without_reader(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENXIO)
}

/// A Unix-domain socket cannot be opened: `open` refuses it with `ENXIO`.
pub(super) fn is_socket(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENXIO)
}

/// What `open` reports for a final symlink under `O_NOFOLLOW`.
pub(super) fn is_link_refused(e: &io::Error) -> bool {
    #[cfg(any(target_os = "freebsd", target_os = "dragonfly"))]
    const REFUSED: libc::c_int = libc::EMLINK;
    #[cfg(target_os = "netbsd")]
    const REFUSED: libc::c_int = libc::EFTYPE;
    #[cfg(not(any(target_os = "freebsd", target_os = "dragonfly", target_os = "netbsd")))]
    const REFUSED: libc::c_int = libc::ELOOP;
    e.raw_os_error() == Some(REFUSED)
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

/// Which file a path or an open file is: its device and inode, so a file deleted or replaced
/// under its name can be told from the one still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn from_meta(m: &Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    /// The open file `_f`, from its metadata `meta` (which holds it: no call of its own).
    pub(crate) fn of(_f: &File, meta: &Metadata) -> io::Result<FileId> {
        Ok(Self::from_meta(meta))
    }

    /// The file `path` names, following symlinks (`stat`).
    pub(crate) fn of_path(path: &Path) -> io::Result<FileId> {
        fs::metadata(path).map(|m| Self::from_meta(&m))
    }

    /// The directory entry `path` itself, a symlink rather than its target (`lstat`).
    pub(crate) fn of_entry(path: &Path) -> io::Result<FileId> {
        fs::symlink_metadata(path).map(|m| Self::from_meta(&m))
    }
}

/// Fsyncs the directory `dir`, making the renames and deletions in it durable.
#[cfg(any(feature = "compress", feature = "alert"))]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the symlink `link` pointing at `target`; `Ok(false)` is the Windows answer for a
/// process that may not create one, never this one's.
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<bool> {
    std::os::unix::fs::symlink(target, link).map(|()| true)
}
