//! The day files on disk: `<dir>/YYYY-MM-DD.log`, the `latest.log` symlink, retention.
//! Knows nothing about threads or channels; the writer thread drives it.
//!
//! Invariants:
//! - Day files are opened append-only with `O_NOFOLLOW`: a symlink planted in place of a day file
//!   is refused, never written through. New files get mode 0640 whatever the umask.
//! - `latest.log` is a relative symlink to the current day file, replaced atomically by creating
//!   a temporary link and renaming it over the old one; it is never opened for writing. Failing
//!   to update it is reported and never stops rotation.
//! - Retention deletes only regular files whose names are exactly `YYYY-MM-DD.log` (a real
//!   date), never the open file and never anything else in the directory.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::clock::Day;
use crate::fs::{create_dir, open_append};

/// Name of the symlink to the current day file.
pub(crate) const LATEST: &str = "latest.log";

pub(crate) struct DayFiles {
    dir: PathBuf,
    keep_days: Option<usize>,
    current: Option<OpenDay>,
    /// The day the next (re)open should use.
    day: Day,
    /// Whether the last `latest.log` update failed, so a failure is reported once, not per reopen.
    latest_failed: bool,
}

struct OpenDay {
    file: File,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

pub(crate) fn file_name(day: Day) -> String {
    day.format("%Y-%m-%d.log").to_string()
}

impl DayFiles {
    /// Creates the directory and opens `day`'s file; errors name what failed.
    pub(crate) fn open(
        dir: PathBuf,
        keep_days: Option<usize>,
        day: Day,
    ) -> Result<Self, crate::error::Error> {
        create_dir(&dir).map_err(|source| crate::error::Error::LogDir {
            path: dir.clone(),
            source,
        })?;
        let mut files = DayFiles {
            dir,
            keep_days,
            current: None,
            day,
            latest_failed: false,
        };
        files
            .reopen()
            .map_err(|source| crate::error::Error::LogFile {
                path: files.path_of(day),
                source,
            })?;
        Ok(files)
    }

    pub(crate) fn day(&self) -> Day {
        self.day
    }

    fn path_of(&self, day: Day) -> PathBuf {
        self.dir.join(file_name(day))
    }

    /// The current day file's path.
    pub(crate) fn current_path(&self) -> PathBuf {
        self.path_of(self.day)
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
            Some(o) => match fs::symlink_metadata(&o.path) {
                Ok(m) => m.dev() != o.dev || m.ino() != o.ino,
                Err(_) => true,
            },
        }
    }

    /// Switches to `day`'s file: opens it, points `latest.log` at it, applies retention.
    pub(crate) fn rotate(&mut self, day: Day) -> io::Result<()> {
        self.day = day;
        self.current = None;
        self.reopen()
    }

    fn reopen(&mut self) -> io::Result<()> {
        create_dir(&self.dir)?;
        let path = self.path_of(self.day);
        let file = open_append(&path)?;
        let meta = file.metadata()?;
        self.current = Some(OpenDay {
            file,
            path,
            dev: meta.dev(),
            ino: meta.ino(),
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
        self.prune();
        Ok(())
    }

    /// Atomically points `latest.log` at the current day file with a relative link.
    fn point_latest(&self) -> io::Result<()> {
        let target = file_name(self.day);
        let link = self.dir.join(LATEST);
        if fs::read_link(&link).is_ok_and(|t| t == Path::new(&target)) {
            return Ok(());
        }
        let tmp = self
            .dir
            .join(format!(".{LATEST}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)?;
        // rename(2) replaces whatever is at `link` (a stale link, or a planted file) atomically
        // and never follows it.
        fs::rename(&tmp, &link).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// Deletes the oldest day files beyond `keep_days`, never the current one.
    fn prune(&self) {
        let Some(keep) = self.keep_days else { return };
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let current = file_name(self.day);
        let mut days: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_day_file_name(n))
            .collect();
        days.sort_unstable();
        let excess = days.len().saturating_sub(keep.max(1));
        for name in days.into_iter().take(excess) {
            if name != current {
                let _ = fs::remove_file(self.dir.join(&name));
            }
        }
    }
}

/// `YYYY-MM-DD.log` naming a real date.
pub(crate) fn is_day_file_name(name: &str) -> bool {
    name.len() == 14
        && name.ends_with(".log")
        && chrono::NaiveDate::parse_from_str(&name[..10], "%Y-%m-%d")
            .is_ok_and(|d| file_name(d) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_file_names() {
        assert!(is_day_file_name("2025-11-03.log"));
        assert!(!is_day_file_name("2025-02-30.log"));
        assert!(!is_day_file_name("latest.log"));
        assert!(!is_day_file_name("2025-11-03.log.bak"));
        assert!(!is_day_file_name("2025-1-03.log"));
        assert!(!is_day_file_name("notes-2025.log"));
    }
}
