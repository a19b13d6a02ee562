//! Listing and reading the day files (`YYYY-MM-DD.log` and `latest.log`) for `tail`.
//!
//! This is the one place that knows how day files are named and opened: size-capped parts
//! (`YYYY-MM-DD.N.log`) and compressed days (`.log.gz`, `.log.zst`) are to be read by
//! replacing [`list`] and [`open`], nothing else.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

/// One day file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayFile {
    /// Its day, `YYYY-MM-DD` (first, so files sort by day).
    pub day: String,
    /// Its path.
    pub path: PathBuf,
}

/// Whether `name` is a day file's name: `YYYY-MM-DD.log`.
pub fn day_of(name: &str) -> Option<&str> {
    let day = name.strip_suffix(".log")?;
    let b = day.as_bytes();
    let ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    ok.then_some(day)
}

/// The day files in `dir`, oldest first (`latest.log` is not one of them).
///
/// # Errors
/// The directory cannot be read.
pub fn list(dir: &Path) -> io::Result<Vec<DayFile>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(day) = day_of(name) {
            if e.file_type()?.is_file() {
                out.push(DayFile {
                    day: day.to_owned(),
                    path: e.path(),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The day `latest.log` points to, if it is a link to a day file.
pub fn latest(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("latest.log")).ok()?;
    let name = target.file_name()?.to_str()?;
    day_of(name).map(str::to_owned)
}

/// Opens a day file for reading from its start (a follower keeps reading it as it grows).
///
/// # Errors
/// The file cannot be opened.
pub fn open(f: &DayFile) -> io::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(&f.path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(day_of("2026-11-03.log"), Some("2026-11-03"));
        assert_eq!(day_of("latest.log"), None);
        assert_eq!(day_of("2026-11-03.1.log"), None);
        assert_eq!(day_of("2026-1x-03.log"), None);
    }
}
