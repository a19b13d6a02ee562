//! The disk spool, `<spool_dir>/`:
//! - while the sink works on a batch or backs off after a failure, the worker checks the channel
//!   every 10 ms and, once it is half full, moves everything in it to a new segment, so the
//!   channel keeps draining and the app is not held by a slow or unreachable database;
//! - records that could not be delivered by the shutdown deadline are written as a segment too;
//! - segments are delivered before newer records: after the delivery that spilled them, and by
//!   the next process that starts with the same directory, before its own records.
//!
//! On-disk layout: segment files `seg-<unix millis>-<pid>-<n>.jsonl`, written once and never
//! appended to afterwards, one record per line: `<crc32 of the JSON, 8 hex digits> <JSON>\n`,
//! the JSON being [`crate::ActionRecord::to_json`] (or, for a job run,
//! [`crate::JobExecution::to_json`] with `"_table": "job_executions"` added). Files are created 0640 (directory 0750), written,
//! fsynced, then renamed from a `.tmp` name, so a segment either exists whole or not at all.
//!
//! Invariants:
//! - A segment is deleted only after every record in it was delivered (or rejected by the
//!   database and dead-lettered): a crash before that re-delivers it, which the idempotent
//!   upsert makes harmless.
//! - Segments are replayed oldest first, records in file order.
//! - A line that fails its checksum or does not parse (a torn write, a disk error) is skipped
//!   and counted, never blocks the rest of the replay.
//! - One replayer per segment: a segment is replayed only under an exclusive `flock` on it
//!   ([`claim`]), held until it is deleted, so two programs sharing a log directory never
//!   deliver the same segment at once; a segment another program is replaying is left to it.
//!
//! What can be lost: records still in the in-memory channel (at most its capacity, by default
//! 10 000, fewer in practice since it spills at half) and the batch the worker is writing or
//! retrying (at most the batch size, 500; during an outage these are the outage's oldest
//! records, held until the sink takes them or shutdown spools them) when the process is
//! SIGKILLed or the machine loses power; a segment whose file cannot be written (disk full),
//! counted as dropped. `tests/sigkill.rs` measures it.
//!
//! The [`Spool`] type enforces these: it is the only code that writes, lists or deletes
//! segments, keeps the byte count the bound is checked against, and deletes a segment only
//! through [`Spool::confirm`], which the worker calls once the segment's records were taken.
//!
//! Bound: the spool holds at most [`super::PipelineConfig::spool_max_bytes`] (default 1 GiB),
//! checked before each segment is written (so it can exceed the bound by at most one segment,
//! i.e. one channel's worth of records). At the bound the worker stops spilling and reports it
//! once on stderr: new records wait in the in-memory channel, and once that is full the
//! overflow policy applies (`Block` for its bound, then drop), each drop counted in
//! `actions_dropped`; the oldest records, on disk, are kept. At shutdown, what cannot be
//! delivered and does not fit goes to the dead-letter file instead. Spilling resumes (reported
//! too) as soon as delivered segments are deleted.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rows::Row;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The spool directory, as the worker sees it.
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes held: read from disk at [`Self::open`] and each [`Self::pending`], then kept up to
    /// date as segments are written and deleted, so the bound check is not a directory scan
    /// every 10 ms during a long outage.
    bytes: u64,
    /// Whether the bound was reached (reported once per episode).
    full: bool,
    /// Whether segments were written (or found) since the last replay began.
    replay_due: bool,
}

/// Why a spill did not happen.
#[derive(Debug)]
pub(crate) enum SpillError {
    /// The spool is at its bound; the message says so with the figures.
    Full(String),
    /// The segment could not be written; it held this many records.
    Io(u64, io::Error),
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpillError::Full(m) => f.write_str(m),
            SpillError::Io(_, e) => e.fmt(f),
        }
    }
}

impl Spool {
    /// The spool in `dir`, bounded at `max_bytes`; an earlier run's segments are due for replay.
    pub(crate) fn open(dir: PathBuf, max_bytes: u64) -> Spool {
        let bytes = size(&dir);
        let replay_due = !segments(&dir).is_empty();
        Spool {
            dir,
            max_bytes,
            bytes,
            full: false,
            replay_due,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a replay should run: segments were written or found since the last one began.
    pub(crate) fn replay_due(&self) -> bool {
        self.replay_due
    }

    /// Whether another segment may be written. Reaching the bound, and leaving it, is reported
    /// once each on stderr.
    pub(crate) fn has_room(&mut self) -> bool {
        if self.bytes >= self.max_bytes {
            if !self.full {
                self.full = true;
                crate::report::emit(format_args!(
                    "WARNING: the spool holds {} bytes, at its bound of {} in {}; records wait in the channel and are dropped (counted) when it is full",
                    self.bytes,
                    self.max_bytes,
                    self.dir.display(),
                ));
            }
            return false;
        }
        if self.full {
            self.full = false;
            crate::report::emit(format_args!(
                "the spool in {} is below its bound again; spilling resumes",
                self.dir.display()
            ));
        }
        true
    }

    /// Writes `records` as one new segment, if there is room (see [`Self::has_room`]);
    /// returns how many it took. Records are encoded as the iterator yields them, so a caller
    /// draining a channel keeps it draining while the segment is built.
    pub(crate) fn write(
        &mut self,
        records: impl IntoIterator<Item = Row>,
    ) -> Result<u64, SpillError> {
        if !self.has_room() {
            return Err(SpillError::Full(format!(
                "the spool holds {} bytes, at its bound of {}",
                self.bytes, self.max_bytes
            )));
        }
        let (n, bytes) =
            write_segment(&self.dir, records).map_err(|(n, e)| SpillError::Io(n, e))?;
        self.bytes += bytes;
        self.replay_due = true;
        Ok(n)
    }

    /// The segments waiting, oldest first; starts a replay (the byte count is read again).
    pub(crate) fn pending(&mut self) -> Vec<PathBuf> {
        self.replay_due = false;
        self.bytes = size(&self.dir);
        segments(&self.dir)
    }

    /// Deletes claimed segments whose every record was delivered or dead-lettered.
    pub(crate) fn confirm(&mut self, delivered: Vec<Claim>) {
        for seg in delivered {
            let len = seg.file.metadata().map_or(0, |m| m.len());
            if fs::remove_file(&seg.path).is_ok() {
                self.bytes = self.bytes.saturating_sub(len);
            }
            // The lock goes with the file, after the delete.
        }
    }
}

/// A segment this process is replaying: open, and locked against other replayers.
pub(crate) struct Claim {
    path: PathBuf,
    file: fs::File,
}

impl Claim {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The records of the segment and how many lines were skipped as damaged.
    pub(crate) fn read(&mut self) -> io::Result<(Vec<Row>, u64)> {
        use std::io::Read;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        Ok(parse_segment(&bytes))
    }
}

/// Claims `path` for replay: `None` when another replayer holds it, or it is gone (delivered
/// and deleted by the one that held it).
pub(crate) fn claim(path: &Path) -> Option<Claim> {
    use std::os::unix::fs::MetadataExt;
    let file = fs::File::open(path).ok()?;
    if !crate::fs::try_lock(&file) {
        return None;
    }
    // Locked, but maybe only after its replayer deleted it: the path must still be this file.
    let (open, now) = (file.metadata().ok()?, fs::metadata(path).ok()?);
    (open.dev() == now.dev() && open.ino() == now.ino()).then(|| Claim {
        path: path.to_path_buf(),
        file,
    })
}

/// Writes `records` as one new segment in `dir`; returns how many records and bytes it holds,
/// or how many records were taken when it failed.
fn write_segment(
    dir: &Path,
    records: impl IntoIterator<Item = Row>,
) -> Result<(u64, u64), (u64, io::Error)> {
    let mut n = 0;
    let mut body = Vec::new();
    for r in records {
        n += 1;
        // A row always serializes (strings and numbers only); skip one that would not.
        let Ok(json) = serde_json::to_vec(&r.to_json()) else {
            continue;
        };
        body.extend_from_slice(format!("{:08x} ", crc32fast::hash(&json)).as_bytes());
        body.extend_from_slice(&json);
        body.push(b'\n');
    }
    write_file(dir, &body)
        .map(|bytes| (n, bytes))
        .map_err(|e| (n, e))
}

/// Writes one segment file whole: a temporary name, fsync, rename.
fn write_file(dir: &Path, body: &[u8]) -> io::Result<u64> {
    crate::fs::create_dir(dir)?;
    let name = format!(
        "seg-{:013}-{}-{}.jsonl",
        chrono::Utc::now().timestamp_millis(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let mut f = crate::fs::open_append(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(body.len() as u64)
}

/// Bytes held in `dir`: every segment, and any unfinished temporary file.
fn size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The segments in `dir`, oldest first (none if the directory does not exist).
fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut segs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    segs.sort();
    segs
}

/// The records of one segment's bytes and how many lines were skipped as damaged.
fn parse_segment(bytes: &[u8]) -> (Vec<Row>, u64) {
    let mut records = Vec::new();
    let mut skipped = 0;
    for line in bytes.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(r) => records.push(r),
            None => skipped += 1,
        }
    }
    (records, skipped)
}

fn parse_line(line: &[u8]) -> Option<Row> {
    let (crc, json) = (line.get(..8)?, line.get(9..)?);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    if line.get(8) != Some(&b' ') || crc32fast::hash(json) != crc {
        return None;
    }
    Row::from_json(&serde_json::from_slice(json).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_standard_crc32() {
        // Segments written by earlier versions (a hand-written table) must still read.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn segments_round_trip_and_damaged_lines_are_skipped() {
        use crate::rows::{ActionRecord, JobExecution};
        let dir = tempfile::tempdir().unwrap();
        let mut a = ActionRecord::blank(uuid::Uuid::now_v7(), "a");
        a.user_id = Some("ana".into());
        a.request_duration_seconds = Some(1.25);
        a.action_details
            .insert("k".into(), serde_json::json!({"n": [1, 2]}));
        let mut j = JobExecution::new(uuid::Uuid::now_v7(), "job", "failed", chrono::Utc::now());
        j.logs = "line 1\nline 2".into();
        let (a, j) = (Row::Action(a), Row::Job(Box::new(j)));
        let mut spool = Spool::open(dir.path().to_path_buf(), u64::MAX);
        assert!(!spool.replay_due());
        assert_eq!(spool.write([a.clone(), j.clone()]).unwrap(), 2);
        assert!(spool.replay_due());
        let bytes = spool.bytes;
        let path = spool.pending().pop().unwrap();
        assert_eq!(spool.bytes, bytes);
        let (back, skipped) = claim(&path).unwrap().read().unwrap();
        assert_eq!(skipped, 0);
        // Times are kept to the microsecond: compare what the files hold.
        let json = |rows: &[Row]| rows.iter().map(Row::to_json).collect::<Vec<_>>();
        assert_eq!(json(&back), json(&[a.clone(), j]));
        assert!(matches!(&back[1], Row::Job(r) if r.logs == "line 1\nline 2"));

        // A flipped byte and a torn last line: both skipped, the good line still read.
        let mut bytes = fs::read(&path).unwrap();
        let second = bytes.iter().position(|&c| c == b'\n').unwrap() + 1;
        bytes[second + 20] ^= 0x01;
        bytes.extend_from_slice(b"0badc0de {\"id\":");
        fs::write(&path, &bytes).unwrap();
        let mut held = claim(&path).unwrap();
        // Another replayer (another open file) cannot claim it meanwhile.
        assert!(claim(&path).is_none());
        let (back, skipped) = held.read().unwrap();
        assert_eq!((back.len(), skipped), (1, 2));
        assert_eq!(back[0].id(), a.id());
    }
}
