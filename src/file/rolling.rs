//! The day files on disk: `<dir>/YYYY-MM-DD.log` and its numbered parts `YYYY-MM-DD.N.log`
//! (names in [`super::names`]), the `latest.log` symlink, and when retention runs.
//! Knows nothing about threads or channels; the writer thread drives it.
//!
//! Invariants:
//! - The open file is the newest part of its day: a start (or a new day) continues in the day's
//!   highest-numbered part, unless that part was already compressed, in which case it opens the
//!   next number. So the writer never appends to a part older than one it has closed, and a
//!   compressed part is never reopened (the compressor relies on both).
//! - Day files are opened append-only without following links ([`crate::fs::open_append`]:
//!   `O_NOFOLLOW` on Unix): a symlink planted in place of a day file is refused, never written
//!   through. New files get mode 0640 whatever the umask (Unix).
//! - `latest.log` is a relative symlink to the current day file, replaced atomically by creating
//!   a temporary link and renaming it over the old one; it is never opened for writing. Failing
//!   to update it is reported and never stops rotation; on Windows, a process that may not
//!   create symlinks has none, silently.
//! - Retention ([`super::retention`]) runs each time a file is opened (start, new day, new part)
//!   and deletes only our own names, never the open file.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::names::{self, Kind, PartId};
use super::retention;
use crate::clock::Day;
use crate::fs::{FileId, create_dir, open_append};

/// Name of the symlink to the current day file.
pub(crate) const LATEST: &str = "latest.log";

pub(crate) struct DayFiles {
    dir: PathBuf,
    bounds: Bounds,
    current: Option<OpenDay>,
    /// The part the next (re)open should use.
    id: PartId,
    /// Bytes in the open part: its size when opened plus what was written since.
    len: u64,
    /// Shared with the compressor: see [`retention::DirLock`].
    lock: retention::DirLock,
    /// Whether the last `latest.log` update failed, so a failure is reported once, not per reopen.
    latest_failed: bool,
}

struct OpenDay {
    file: File,
    path: PathBuf,
    id: FileId,
}

/// The size and age bounds of the directory, as configured on the builder.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub(crate) keep_days: Option<usize>,
    pub(crate) max_file_bytes: Option<u64>,
    pub(crate) max_total_bytes: Option<u64>,
}

/// With only a total bound, parts are cut at this fraction of it, so deleting closed parts can
/// always bring the directory back under the bound while the open part grows.
pub(crate) const PARTS_PER_TOTAL: u64 = 8;

impl Bounds {
    /// The size at which the open part is closed and the next one begun, if any: the per-file
    /// cap, and at most an eighth of the total cap.
    pub(crate) fn part_cap(&self) -> Option<u64> {
        let from_total = self.max_total_bytes.map(|t| (t / PARTS_PER_TOTAL).max(1));
        match (self.max_file_bytes, from_total) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl DayFiles {
    /// Creates the directory and opens `day`'s newest part; errors name what failed.
    pub(crate) fn open(
        dir: PathBuf,
        bounds: Bounds,
        day: Day,
    ) -> Result<Self, crate::error::Error> {
        create_dir(&dir).map_err(|source| crate::error::Error::LogDir {
            path: dir.clone(),
            source,
        })?;
        let mut files = DayFiles {
            dir,
            bounds,
            current: None,
            id: PartId { day, part: 0 },
            len: 0,
            lock: retention::DirLock::default(),
            latest_failed: false,
        };
        files.id = files.newest_part(day);
        files
            .reopen()
            .map_err(|source| crate::error::Error::LogFile {
                path: files.current_path(),
                source,
            })?;
        Ok(files)
    }

    pub(crate) fn day(&self) -> Day {
        self.id.day
    }

    /// The part being written.
    pub(crate) fn current_id(&self) -> PartId {
        self.id
    }

    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock the compressor must share with retention.
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    pub(crate) fn dir_lock(&self) -> retention::DirLock {
        self.lock.clone()
    }

    /// The current part's path.
    pub(crate) fn current_path(&self) -> PathBuf {
        self.dir.join(self.id.file_name())
    }

    /// Bytes in the current part.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Notes `n` bytes appended to the current part.
    pub(crate) fn wrote(&mut self, n: usize) {
        self.len += n as u64;
    }

    /// See [`Bounds::part_cap`].
    pub(crate) fn part_cap(&self) -> Option<u64> {
        self.bounds.part_cap()
    }

    /// The part a writer starting on `day` continues in: the highest-numbered one, or the next
    /// number if that one is already compressed (a compressed part is never reopened).
    fn newest_part(&self, day: Day) -> PartId {
        let entries = names::scan(&self.dir).unwrap_or_default();
        let of_day = entries
            .iter()
            .filter(|e| e.id.day == day && e.kind != Kind::Tmp);
        let Some(max) = of_day.clone().map(|e| e.id).max() else {
            return PartId { day, part: 0 };
        };
        if of_day.clone().any(|e| e.id == max && e.kind == Kind::Gz) {
            PartId {
                day,
                part: max.part + 1,
            }
        } else {
            max
        }
    }

    /// The open file, reopening (and recreating the directory) if it was closed after an error.
    pub(crate) fn file(&mut self) -> io::Result<&mut File> {
        if self.current.is_none() {
            self.reopen()?;
        }
        Ok(&mut self.current.as_mut().expect("just opened").file)
    }

    /// Forgets the open file, so the next write reopens it.
    pub(crate) fn close(&mut self) {
        self.current = None;
    }

    /// True when the open file is no longer what its path names (deleted, moved, or the
    /// directory removed): writes would vanish into an unlinked inode.
    pub(crate) fn is_stale(&self) -> bool {
        match &self.current {
            None => false,
            Some(o) => FileId::of_entry(&o.path).map_or(true, |id| id != o.id),
        }
    }

    /// Switches to `day`'s newest part: opens it, points `latest.log` at it, applies retention.
    pub(crate) fn rotate(&mut self, day: Day) -> io::Result<()> {
        self.id = self.newest_part(day);
        self.current = None;
        self.reopen()
    }

    /// Closes the current part and continues in the day's next one.
    pub(crate) fn next_part(&mut self) -> io::Result<()> {
        let newest = self.newest_part(self.id.day);
        self.id = PartId {
            day: self.id.day,
            part: (self.id.part + 1).max(newest.part),
        };
        self.current = None;
        self.reopen()
    }

    fn reopen(&mut self) -> io::Result<()> {
        create_dir(&self.dir)?;
        let path = self.current_path();
        let file = open_append(&path)?;
        let meta = file.metadata()?;
        self.len = meta.len();
        self.current = Some(OpenDay {
            id: FileId::of(&file, &meta)?,
            file,
            path,
        });
        match self.point_latest() {
            Err(e) if !self.latest_failed => {
                self.latest_failed = true;
                crate::report::emit(format_args!(
                    "cannot update {}: {e}; day files keep rotating",
                    self.dir.join(LATEST).display()
                ));
            }
            Err(_) => {}
            Ok(()) => self.latest_failed = false,
        }
        retention::prune(&self.dir, &self.lock, self.id, self.len, &self.bounds);
        Ok(())
    }

    /// Atomically points `latest.log` at the current part with a relative link.
    fn point_latest(&self) -> io::Result<()> {
        let target = self.id.file_name();
        let link = self.dir.join(LATEST);
        if fs::read_link(&link).is_ok_and(|t| t == Path::new(&target)) {
            return Ok(());
        }
        let tmp = self
            .dir
            .join(format!(".{LATEST}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        if !crate::fs::symlink(Path::new(&target), &tmp)? {
            // This process may not create symlinks (Windows without Developer Mode): no
            // `latest.log`, and nothing to report at every start.
            return Ok(());
        }
        // rename(2) replaces whatever is at `link` (a stale link, or a planted file) atomically
        // and never follows it.
        fs::rename(&tmp, &link).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}
