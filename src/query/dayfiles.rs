//! Listing and reading the day files for `tail`, through the library's own reader
//! ([`crate::day_files`]), so numbered parts (`YYYY-MM-DD.N.log`) and compressed closed parts
//! (`.log.gz`) are read as the file layer wrote them, in order: never through a symlink, never
//! a FIFO or device (see [`crate::day_files`]). Lines are read with [`read_line`], which keeps
//! at most [`crate::limits::MAX_LINE_BYTES`] of one.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use crate::file::read::ReadError;
pub use crate::file::read::{LineRead, read_line};

/// One part of one day, as `tail` walks them: ordered by day, then part.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayFile {
    /// Its day, `YYYY-MM-DD` (first, so parts sort by day).
    pub day: String,
    /// 0 for `YYYY-MM-DD.log`, N for `YYYY-MM-DD.N.log`.
    pub part: u32,
    /// The file that holds it (the compressed one once it was compressed).
    pub path: PathBuf,
}

/// The error as `io::Error`, keeping its kind and naming the file.
fn io_error(e: ReadError) -> io::Error {
    let kind = match &e {
        ReadError::Dir { source, .. } | ReadError::Read { source, .. } => source.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

/// Whether `name` is one of the file layer's day-file names (parts and compressed files
/// included): the day it belongs to.
pub fn day_of(name: &str) -> Option<&str> {
    let day = name.get(..10)?;
    let rest = name[10..].strip_suffix(".gz").unwrap_or(&name[10..]);
    let rest = rest.strip_suffix(".log")?;
    let part_ok = rest.is_empty()
        || rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
    let b = day.as_bytes();
    let day_ok = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    (part_ok && day_ok).then_some(day)
}

/// Every part of every day in `dir`, oldest first (`latest.log` is not one of them).
///
/// # Errors
/// The directory cannot be read.
pub fn list(dir: &Path) -> io::Result<Vec<DayFile>> {
    let days = crate::file::read::day_files(dir).map_err(io_error)?;
    let mut out: Vec<DayFile> = days
        .iter()
        .flat_map(|d| {
            let day = d.day().format("%Y-%m-%d").to_string();
            d.parts().iter().map(move |p| DayFile {
                day: day.clone(),
                part: p.number(),
                path: p.path().to_path_buf(),
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The part `latest.log` points to, if it points to one, as (day, part).
pub fn latest(dir: &Path) -> Option<(String, u32)> {
    let target = std::fs::read_link(dir.join("latest.log")).ok()?;
    let name = target.file_name()?.to_str()?;
    let day = day_of(name)?.to_owned();
    let part = name[10..]
        .trim_start_matches('.')
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some((day, part))
}

/// Opens a part for reading from its start, decompressing a compressed one (a follower keeps
/// reading a plain part as it grows).
///
/// # Errors
/// The file cannot be opened (or is compressed and this build lacks `compress`).
pub fn open(f: &DayFile) -> io::Result<Box<dyn BufRead + Send>> {
    let dir = f.path.parent().unwrap_or(Path::new("."));
    let days = crate::file::read::day_files(dir).map_err(io_error)?;
    let part = days
        .iter()
        .filter(|d| d.day().format("%Y-%m-%d").to_string() == f.day)
        .flat_map(|d| d.parts().iter())
        .find(|p| p.number() == f.part)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, f.path.display().to_string()))?;
    part.open()
        .map_err(io_error)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, f.path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(day_of("2026-11-03.log"), Some("2026-11-03"));
        assert_eq!(day_of("2026-11-03.1.log"), Some("2026-11-03"));
        assert_eq!(day_of("2026-11-03.12.log.gz"), Some("2026-11-03"));
        assert_eq!(day_of("latest.log"), None);
        assert_eq!(day_of("2026-11-03..log"), None);
        assert_eq!(day_of("2026-1x-03.log"), None);
        assert_eq!(day_of("2026-11-03.log.bak"), None);
    }
}
