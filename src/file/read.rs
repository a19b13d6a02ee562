//! Reading the log directory back: the one reader every consumer uses (the `actionlog tail`
//! command, the dashboard's day-file view, the tests), so numbered parts and compressed files
//! are read the same way everywhere.
//!
//! [`day_files`] lists the days in order, each with its parts in order; [`DayFile::lines`]
//! reads every line of a day across its parts, plain or compressed. Rules:
//! - Only actionlog's own names are read (`YYYY-MM-DD.log`, `YYYY-MM-DD.N.log`, each possibly
//!   with `.gz`); `latest.log`, temporary files and anything else are ignored.
//! - When a part exists both plain and compressed (a compression interrupted between its rename
//!   and its deletion of the plain file), the compressed one is read: it is complete, since it
//!   only gets its name once whole and fsynced. So no line is read twice.
//! - A part compressed between the listing and the reading is read from its new name; a part
//!   deleted by retention meanwhile is skipped.
//! - Compressed parts need the cargo feature `compress`; without it, reading one yields
//!   [`ReadError::Compressed`] and the other parts are still read.
//! - Hostile files are refused, never followed or read whole: a part is opened without
//!   following a symlink in its place and without blocking, and anything that is not a regular
//!   file (a FIFO, device or socket) is refused ([`ReadError::Read`] naming it; the other parts
//!   are still read). A line longer than [`crate::limits::MAX_LINE_BYTES`] is read through
//!   without being kept ([`ReadError::LineTooLong`], reading goes on with the next line), so a
//!   file without a newline costs no more memory than that.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::names::{self, Kind};

/// Why reading the log directory failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The directory could not be listed.
    #[error("cannot list log directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS cause.
        source: io::Error,
    },
    /// A part could not be opened or read (or a compressed part is damaged).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS or decoder cause.
        source: io::Error,
    },
    /// A compressed part, and this build lacks the cargo feature `compress`.
    #[error("{path} is compressed; build actionlog with the `compress` feature to read it")]
    Compressed {
        /// The file.
        path: PathBuf,
    },
    /// A line longer than [`crate::limits::MAX_LINE_BYTES`]: read through, not kept.
    #[error(
        "a line of {bytes} bytes in {path}, longer than the {} bytes a line may take; skipped",
        crate::limits::MAX_LINE_BYTES
    )]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// The line's length, newline excluded.
        bytes: u64,
    },
}

/// One day's files, in part order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFile {
    day: NaiveDate,
    parts: Vec<DayPart>,
}

/// One part of a day: `YYYY-MM-DD.log` (part 0) or `YYYY-MM-DD.N.log`, plain or compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPart {
    number: u32,
    path: PathBuf,
    /// Where the same part may be found if `path` is gone (compressed or not, the other way).
    other: Option<PathBuf>,
}

/// Lists the days in `dir`, oldest first, each with its parts.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("2025-11-03.log"), "{\"n\":1}\n").unwrap();
/// std::fs::write(dir.path().join("2025-11-03.1.log"), "{\"n\":2}\n").unwrap();
/// std::fs::write(dir.path().join("notes.txt"), "not ours\n").unwrap();
/// let days = actionlog::day_files(dir.path()).unwrap();
/// assert_eq!(days.len(), 1);
/// assert_eq!(days[0].day().to_string(), "2025-11-03");
/// let lines: Vec<String> = days[0].lines().collect::<Result<_, _>>().unwrap();
/// assert_eq!(lines, ["{\"n\":1}", "{\"n\":2}"]);
/// ```
///
/// # Errors
/// [`ReadError::Dir`] when `dir` cannot be listed.
pub fn day_files(dir: impl AsRef<Path>) -> Result<Vec<DayFile>, ReadError> {
    let dir = dir.as_ref();
    let entries = names::scan(dir).map_err(|source| ReadError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut days: Vec<DayFile> = Vec::new();
    // `scan` sorts by (part, kind): a part's plain entry comes just before its .gz.
    let mut i = 0;
    while i < entries.len() {
        let e = &entries[i];
        i += 1;
        if e.kind == Kind::Tmp {
            continue;
        }
        let gz = entries[i..]
            .iter()
            .take_while(|n| n.id == e.id)
            .any(|n| n.kind == Kind::Gz);
        let (path, other) = match (e.kind, gz) {
            // Both exist: the .gz is whole (see above); the plain one is a leftover copy.
            (Kind::Plain, true) => (e.id.gz_name(), Some(e.id.file_name())),
            (Kind::Plain, false) => (e.id.file_name(), Some(e.id.gz_name())),
            _ => (e.id.gz_name(), None),
        };
        while i < entries.len() && entries[i].id == e.id {
            i += 1;
        }
        let part = DayPart {
            number: e.id.part,
            path: dir.join(path),
            other: other.map(|o| dir.join(o)),
        };
        match days.last_mut() {
            Some(d) if d.day == e.id.day => d.parts.push(part),
            _ => days.push(DayFile {
                day: e.id.day,
                parts: vec![part],
            }),
        }
    }
    Ok(days)
}

impl DayFile {
    /// The calendar day (in the writer's configured time zone).
    pub fn day(&self) -> NaiveDate {
        self.day
    }

    /// The parts, in order; the last one of the newest day is the file being written.
    pub fn parts(&self) -> &[DayPart] {
        &self.parts
    }

    /// Every line of the day, in order across its parts, without the trailing newline; a line
    /// longer than [`crate::limits::MAX_LINE_BYTES`] comes as [`ReadError::LineTooLong`].
    pub fn lines(&self) -> DayLines {
        DayLines {
            parts: self.parts.clone().into_iter(),
            current: None,
        }
    }
}

impl DayPart {
    /// 0 for `YYYY-MM-DD.log`, N for `YYYY-MM-DD.N.log`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The file that holds this part (the compressed one when both exist).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`path`](Self::path) is a compressed file.
    pub fn is_compressed(&self) -> bool {
        self.path.extension().is_some_and(|x| x == "gz")
    }

    /// Opens the part for reading, decompressing if needed; `Ok(None)` if it is gone (deleted
    /// by retention since it was listed).
    ///
    /// # Errors
    /// [`ReadError::Read`] naming the file; [`ReadError::Compressed`] without the `compress`
    /// feature.
    pub fn open(&self) -> Result<Option<Box<dyn BufRead + Send>>, ReadError> {
        Ok(self.open_found()?.map(|(_, r)| r))
    }

    /// [`open`](Self::open), also saying which of the two names was found.
    fn open_found(&self) -> Result<Option<(PathBuf, Reader)>, ReadError> {
        for path in std::iter::once(&self.path).chain(&self.other) {
            match crate::fs::open_read(path) {
                Ok(f) => return decoder(path, f).map(|r| Some((path.clone(), r))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(ReadError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(None)
    }
}

/// A part opened for reading, plain or decompressing.
type Reader = Box<dyn BufRead + Send>;

fn decoder(path: &Path, f: File) -> Result<Reader, ReadError> {
    if path.extension().is_some_and(|x| x == "gz") {
        #[cfg(feature = "compress")]
        return Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(f),
        ))));
        #[cfg(not(feature = "compress"))]
        return Err(ReadError::Compressed {
            path: path.to_path_buf(),
        });
    }
    Ok(Box::new(BufReader::new(f)))
}

/// The lines of one day across its parts: see [`DayFile::lines`].
pub struct DayLines {
    parts: std::vec::IntoIter<DayPart>,
    current: Option<(PathBuf, Reader)>,
}

impl std::fmt::Debug for DayLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayLines")
            .field("reading", &self.current.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

impl Iterator for DayLines {
    type Item = Result<String, ReadError>;

    /// The next line; an error ends the part it happened in, and the next call goes on with the
    /// next part (except [`ReadError::LineTooLong`], after which the part's next line follows).
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader)) = &mut self.current else {
                let part = self.parts.next()?;
                match part.open_found() {
                    Ok(Some(found)) => self.current = Some(found),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                continue;
            };
            let mut line = Vec::new();
            match read_line(reader, &mut line, crate::limits::MAX_LINE_BYTES) {
                Ok(r) if r.consumed == 0 => self.current = None,
                Ok(r) if r.dropped > 0 => {
                    return Some(Err(ReadError::LineTooLong {
                        path: path.clone(),
                        bytes: line.len() as u64 + r.dropped,
                    }));
                }
                Ok(_) => {
                    return Some(Ok(String::from_utf8(line).unwrap_or_else(|e| {
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    })));
                }
                Err(source) => {
                    let path = path.clone();
                    self.current = None;
                    return Some(Err(ReadError::Read { path, source }));
                }
            }
        }
    }
}

/// What [`read_line`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineRead {
    /// Bytes taken from the reader, newline included; 0 at the end of the input.
    pub consumed: u64,
    /// Whether the line ended with its newline (otherwise the input ended first: a line still
    /// being written, or a last line without one).
    pub complete: bool,
    /// Bytes of the line read through without being kept, once the buffer held `max`.
    pub dropped: u64,
}

/// Reads one line from `r`, appending it to `line` without its newline, but never letting
/// `line` grow past `max` bytes: the rest of a longer line is read through and counted in
/// [`LineRead::dropped`], so a file without a newline costs `max` bytes of memory, not its
/// size. Called again with the same buffer after an incomplete line, it goes on with that line
/// (how a follower reads a line still being written).
///
/// ```
/// use actionlog::query::dayfiles::read_line;
/// let mut input: &[u8] = b"short\na much longer line\n";
/// let mut line = Vec::new();
/// let r = read_line(&mut input, &mut line, 8).unwrap();
/// assert_eq!((line.as_slice(), r.complete, r.dropped), (&b"short"[..], true, 0));
/// line.clear();
/// let r = read_line(&mut input, &mut line, 8).unwrap();
/// assert_eq!((line.as_slice(), r.consumed, r.dropped), (&b"a much l"[..], 19, 10));
/// ```
///
/// # Errors
/// The reader's own; what was read before it stays in `line`.
pub fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    // Past `max`, the line is read through this much at a time (`read_until` finds the
    // newline with std's own search, fast even in an unoptimized build).
    const CHUNK: u64 = 64 << 10;
    let mut read = LineRead::default();
    let mut scratch = Vec::new();
    loop {
        let room = max.saturating_sub(line.len());
        let (buf, limit) = if room > 0 {
            (&mut *line, room as u64)
        } else {
            scratch.clear();
            (&mut scratch, CHUNK)
        };
        let n = (&mut *r).take(limit).read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(read);
        }
        read.consumed += n as u64;
        let ended = buf.last() == Some(&b'\n');
        if ended {
            buf.pop();
        }
        if room == 0 {
            read.dropped += (n - usize::from(ended)) as u64;
        }
        if ended {
            read.complete = true;
            return Ok(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_bound_is_an_error_and_the_next_line_follows() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(crate::limits::MAX_LINE_BYTES + 5);
        let text = format!("{{\"n\":1}}\n{long}\n{{\"n\":2}}");
        std::fs::write(dir.path().join("2026-03-01.log"), text).unwrap();
        let days = day_files(dir.path()).unwrap();
        let lines: Vec<_> = days[0].lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].as_ref().unwrap(), "{\"n\":1}");
        match &lines[1] {
            Err(ReadError::LineTooLong { bytes, .. }) => assert_eq!(*bytes, long.len() as u64),
            other => panic!("{other:?}"),
        }
        // The last line, without its newline, as before.
        assert_eq!(lines[2].as_ref().unwrap(), "{\"n\":2}");
    }

    #[test]
    fn read_line_keeps_the_bound_across_calls() {
        // A follower's line arrives in pieces: the bound holds for the line, not each piece.
        let mut line = Vec::new();
        let r = read_line(&mut &b"abcd"[..], &mut line, 6).unwrap();
        assert_eq!((r.consumed, r.complete, r.dropped), (4, false, 0));
        let r = read_line(&mut &b"efgh\nnext"[..], &mut line, 6).unwrap();
        assert_eq!((r.consumed, r.complete, r.dropped), (5, true, 2));
        assert_eq!(line, b"abcdef");
        line.clear();
        let r = read_line(&mut &b""[..], &mut line, 6).unwrap();
        assert_eq!(r, LineRead::default());
        let r = read_line(&mut &b"\n"[..], &mut line, 0).unwrap();
        assert_eq!((r.consumed, r.complete, r.dropped), (1, true, 0));
    }
}
