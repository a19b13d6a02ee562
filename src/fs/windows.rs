//! The Windows side of [`super`]: links refused through `FILE_FLAG_OPEN_REPARSE_POINT`,
//! `LockFileEx`, volume serial number and file index. No modes: a new file or directory
//! inherits its parent directory's ACL.

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use windows_sys::Win32::Foundation::ERROR_PRIVILEGE_NOT_HELD;
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, GetFileInformationByHandle, LOCKFILE_EXCLUSIVE_LOCK,
    LOCKFILE_FAIL_IMMEDIATELY, LockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

pub(super) fn private_dir(_: &mut DirBuilder) {}

pub(super) fn private_file(_: &mut OpenOptions) {}

/// Windows has no modes: the file inherits the directory's ACL.
#[cfg(feature = "alert")]
pub(super) fn owner_only_file(_: &mut OpenOptions) {}

#[cfg(feature = "alert")]
pub(super) fn make_owner_only(_: &File) -> io::Result<()> {
    Ok(())
}

pub(super) fn make_private(_: &File) -> io::Result<()> {
    Ok(())
}

/// Opens `path` without following a link: with `FILE_FLAG_OPEN_REPARSE_POINT` a symlink or a
/// junction is opened itself, then refused. Any other reparse point (a cloud-synced or
/// deduplicated file) only stores the file differently: it is opened again the ordinary way,
/// through its file-system filter, and kept only if that is the same file. (`_nonblock`: there
/// are no FIFOs in a directory on Windows.)
pub(super) fn open_no_follow(
    o: &mut OpenOptions,
    path: &Path,
    _nonblock: bool,
) -> io::Result<File> {
    let f = o.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(path)?;
    let meta = f.metadata()?;
    if meta.file_type().is_symlink() {
        return Err(super::symlink_refused(io::ErrorKind::InvalidInput));
    }
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT == 0 {
        return Ok(f);
    }
    let through = o.custom_flags(0).open(path)?;
    if FileId::of_handle(&through)? != FileId::of_handle(&f)? {
        return Err(super::symlink_refused(io::ErrorKind::InvalidInput));
    }
    Ok(through)
}

pub(super) fn is_fifo_without_reader(_: &io::Error) -> bool {
    false
}

pub(super) fn is_link_refused(_: &io::Error) -> bool {
    false
}

pub(super) fn is_socket(_: &io::Error) -> bool {
    false
}

/// Where [`try_lock`] locks: one byte far past any segment's data. A byte-range lock on
/// Windows is mandatory (a locked range cannot be read through another handle), so locking the
/// data would stop other processes reading a segment's store marker; past the end, the lock is
/// a flag, as `flock` is on Unix. Locking beyond the end of a file is allowed.
const LOCK_OFFSET: u64 = 1 << 62;

/// Takes an exclusive lock (`LockFileEx`) on `f` without waiting; `false` when another process
/// (or another open file of this one) holds it. Released when `f` is closed, also when the
/// process dies.
#[allow(unsafe_code)]
pub(crate) fn try_lock(f: &File) -> bool {
    let mut at = OVERLAPPED::default();
    at.Anonymous.Anonymous.Offset = LOCK_OFFSET as u32;
    at.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
    // SAFETY: the handle stays open for the whole call (`f` is borrowed); `at` is an OVERLAPPED
    // owned by this frame, and with LOCKFILE_FAIL_IMMEDIATELY on a synchronous handle the call
    // returns at once, keeping no pointer to it.
    unsafe {
        LockFileEx(
            f.as_raw_handle(),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            1,
            0,
            &mut at,
        ) != 0
    }
}

/// Which file a path or an open file is: its volume serial number and file index, so a file
/// deleted or replaced under its name can be told from the one still open. (On ReFS the index
/// is 128 bits and this keeps its low 64: a clash there would only delay noticing a
/// replaced file.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    volume: u32,
    index: u64,
}

impl FileId {
    #[allow(unsafe_code)]
    fn of_handle(f: &File) -> io::Result<FileId> {
        let mut info = BY_HANDLE_FILE_INFORMATION::default();
        // SAFETY: the handle stays open for the whole call (`f` is borrowed); the call only
        // writes `info`, owned by this frame.
        if unsafe { GetFileInformationByHandle(f.as_raw_handle(), &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileId {
            volume: info.dwVolumeSerialNumber,
            index: u64::from(info.nFileIndexHigh) << 32 | u64::from(info.nFileIndexLow),
        })
    }

    /// Opens `path` for its identity only (no read or write access, directories too).
    fn of_opened(path: &Path, flags: u32) -> io::Result<FileId> {
        let f = OpenOptions::new()
            .access_mode(0)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | flags)
            .open(path)?;
        Self::of_handle(&f)
    }

    /// The open file `f` (`_meta`: std's metadata does not expose the file index).
    pub(crate) fn of(f: &File, _meta: &Metadata) -> io::Result<FileId> {
        Self::of_handle(f)
    }

    /// The file `path` names, following links.
    pub(crate) fn of_path(path: &Path) -> io::Result<FileId> {
        Self::of_opened(path, 0)
    }

    /// The directory entry `path` itself, a link rather than its target.
    pub(crate) fn of_entry(path: &Path) -> io::Result<FileId> {
        Self::of_opened(path, FILE_FLAG_OPEN_REPARSE_POINT)
    }
}

/// Nothing to do: Windows has no directory fsync; NTFS journals its metadata (renames and
/// deletions included).
#[cfg(any(feature = "compress", feature = "alert"))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates the file symlink `link` pointing at `target`. Creating a symlink needs Developer
/// Mode or the create-symlink privilege: `Ok(false)` without either.
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<bool> {
    match std::os::windows::fs::symlink_file(target, link) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ERROR_PRIVILEGE_NOT_HELD as i32) => Ok(false),
        Err(e) => Err(e),
    }
}
