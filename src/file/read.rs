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

use std::fs::File;
use std::io::{self, BufRead, BufReader};
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

    /// Every line of the day, in order across its parts, without the trailing newline.
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
            match File::open(path) {
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
    /// next part.
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
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => self.current = None,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
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
