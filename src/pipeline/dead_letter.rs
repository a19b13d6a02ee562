//! The dead-letter file: records the database rejected (or that could not be delivered before
//! the shutdown deadline) go to `<dir>/YYYY-MM-DD.jsonl`, one JSON object per line:
//! `{"dead_lettered_at":…,"sink":…,"error":…,"record":{…columns…}}`. Nothing is silently lost:
//! the line holds the whole record and the database's reason, ready to fix and replay.
//!
//! Bound: the directory's `YYYY-MM-DD.jsonl` files hold at most
//! [`super::PipelineConfig::dead_letter_max_bytes`] (default
//! [`DEFAULT_DEAD_LETTER_MAX_BYTES`], 1 GiB). A record that would take them past it is not
//! written: it is counted as dropped (`Stats::actions_dropped`), and reaching the bound is
//! reported once on stderr. The files are never deleted by actionlog (they are the records'
//! last copy); once an operator moves or replays some, writing resumes, since the directory is
//! measured again whenever the bound is hit. Other names in the directory are not counted.
//!
//! Reading them back (`actionlog status`, the dashboard: [`crate::query::files`]) never follows
//! a link, never waits on a FIFO and counts lines a chunk at a time, so a hostile file (2 GB
//! without a newline) costs no more memory than a small one.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::rows::Row;

/// Default bound of the dead-letter directory: 1 GiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 1 << 30;

pub(crate) struct DeadLetter {
    dir: Option<PathBuf>,
    max_bytes: u64,
    /// Bytes in the directory's dead-letter files: measured at the first write and whenever
    /// the bound is hit, kept up to date in between.
    bytes: Option<u64>,
    /// Whether the bound was hit and reported, so that is said once, not per record.
    full: bool,
}

/// The error of a record refused at the bound (see the module docs).
#[derive(Debug)]
struct AtBound;

impl std::fmt::Display for AtBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the dead-letter directory is at its bound")
    }
}

impl std::error::Error for AtBound {}

/// True for a record refused at the bound, which the dead-letter file already reported once.
pub(crate) fn is_at_bound(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<AtBound>())
}

/// Bytes of the dead-letter files (`YYYY-MM-DD.jsonl`) in `dir`; a missing directory holds none.
fn measure(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_suffix(".jsonl")
                    .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
            })
        })
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

impl DeadLetter {
    pub(crate) fn new(dir: Option<PathBuf>, max_bytes: u64) -> Self {
        DeadLetter {
            dir,
            max_bytes,
            bytes: None,
            full: false,
        }
    }

    /// Appends one record; `Err` means it could not be kept anywhere ([`is_at_bound`] when the
    /// bound refused it).
    pub(crate) fn write(
        &mut self,
        rec: &Row,
        sink: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> std::io::Result<PathBuf> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no dead-letter directory configured"))?;
        crate::fs::create_dir(dir)?;
        let path = dir.join(now.format("%Y-%m-%d.jsonl").to_string());
        let line = json!({
            "dead_lettered_at": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "sink": sink,
            "error": error,
            "record": rec.to_json(),
        });
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        let len = bytes.len() as u64;
        let mut held = *self.bytes.get_or_insert_with(|| measure(dir));
        if held + len > self.max_bytes {
            // Measure again: files may have been moved away since.
            held = measure(dir);
            self.bytes = Some(held);
            if held + len > self.max_bytes {
                if !self.full {
                    self.full = true;
                    crate::report::emit(format_args!(
                        "{} is at its bound of {} bytes: records the database rejects are dropped \
                         (counted) until room is made",
                        dir.display(),
                        self.max_bytes
                    ));
                }
                return Err(std::io::Error::other(AtBound));
            }
        }
        self.full = false;
        let mut file = crate::fs::open_append(&path)?;
        file.write_all(&bytes)?;
        self.bytes = Some(held + len);
        Ok(path)
    }
}
