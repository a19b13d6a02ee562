//! The disk spool, `<spool_dir>/`:
//! - while the sink works on a batch or backs off after a failure, the worker checks the channel
//!   every 10 ms and, once it is half full, moves everything in it to a new segment, so the
//!   channel keeps draining and the app is not held by a slow or unreachable database;
//! - records that could not be delivered by the shutdown deadline are written as a segment too;
//! - segments are delivered before newer records: after the delivery that spilled them, and by
//!   the next process that starts with the same directory, before its own records.
//!
//! On-disk layout: segment files `seg-<unix millis>-<pid>-<n>.jsonl`, written once and never
//! appended to afterwards. The first line names the store the records are for:
//! `# actionlog spool store=<kind> <target>\n` (the sink's [`crate::sink::Sink::name`] and
//! [`crate::sink::Sink::target`]: `sqlite /srv/app/logs/actions.db table action_logs`,
//! `postgres app@prod table audit.action_logs` — never a password; not the host either, so a
//! failover or a pooler's address does not strand segments). Then one record per line:
//! `<crc32 of the JSON, 8 hex digits> <JSON>\n`, the JSON being
//! [`crate::ActionRecord::to_json`] (or, for a job run, [`crate::JobExecution::to_json`] with
//! `"_table": "job_executions"` added). Files are created 0640 (directory 0750) on Unix,
//! written, fsynced, then renamed from a `.tmp` name, so a segment either exists whole or not
//! at all. A segment holds at most [`super::segment::MAX_SEGMENT_BYTES`] (64 MiB: a spill
//! larger than that is written as several segments) and no line longer than
//! [`crate::limits::MAX_LINE_BYTES`] (16 MiB: a record whose line would be longer goes to the
//! dead-letter file instead).
//!
//! Hostile entries: a replay opens each `seg-*.jsonl` without following a symlink and without
//! blocking, and reads only a regular file within the segment bound. Anything else under a
//! segment's name — a FIFO, socket or device, a symlink (to `/dev/zero`, to a file outside the
//! directory), a file past 64 MiB — is not a segment actionlog wrote: it is never read, but
//! moved (the entry itself) to `<spool_dir>/rejected/` under a name not taken there, reported
//! once on stderr, never replayed nor deleted, and no longer counted towards the bound. One that
//! cannot be moved is skipped at every replay, reported once per pipeline. So `init` never
//! waits on such an entry, its memory stays within the bounds, and no record from outside the
//! directory reaches the store. A line past the line bound is skipped and counted as a damaged
//! line is.
//!
//! Whose segments: a pipeline replays a segment marked with its own store, or one with no
//! marker — written by versions before the marker, or by a sink that names no target — which
//! belongs to whoever opens it (as every segment did before). A segment marked for another store
//! (a cron job on the same log directory writing to `actions.db`, while the service writes to
//! PostgreSQL) is never read, delivered or deleted; the first time a pipeline finds such
//! segments it says so once on stderr. They still count towards the directory's bound.
//!
//! Invariants:
//! - A segment is deleted only after every record in it was delivered (or rejected by the
//!   database and dead-lettered): a crash before that re-delivers it, which the idempotent
//!   upsert makes harmless.
//! - Segments are replayed oldest first, records in file order.
//! - A line that fails its checksum or does not parse (a torn write, a disk error) is skipped
//!   and counted, never blocks the rest of the replay.
//! - One replayer per segment: a segment is replayed only under an exclusive lock on it
//!   ([`claim`], [`crate::fs::try_lock`]: `flock`, `LockFileEx` on Windows), held until it is deleted, so two programs sharing a log directory never
//!   deliver the same segment at once; a segment another program is replaying is left to it.
//!
//! What can be lost: records still in the in-memory channel (at most its capacity, by default
//! 10 000, fewer in practice since it spills at half), a segment being encoded and not yet
//! renamed into place (at most one channel's worth more: a spill takes records as it encodes
//! them while the channel refills) and the batch the worker is writing or retrying (at most the
//! batch size, 500; during an outage these are the outage's oldest records, held until the sink
//! takes them or shutdown spools them) — at most 2 × capacity + batch size, 20 500 by default —
//! when the process is SIGKILLed or the machine loses power; a segment whose file cannot be
//! written (disk full), counted as dropped. `tests/it/sigkill.rs` and `tests/it/four_processes.rs`
//! measure it.
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
//! `actions_dropped` — except during a configuration failure, when the delivery worker moves a
//! half-full channel to the dead-letter file instead ([`super::PipelineConfig::config_retry_backoff`]);
//! the oldest records, on disk, are kept. At shutdown, what cannot be
//! delivered and does not fit goes to the dead-letter file instead. Spilling resumes (reported
//! too) as soon as delivered segments are deleted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::segment::{
    MAX_SEGMENT_BYTES, REJECTED_DIR, move_aside, owner, parse_segment, read_bounded, segments,
    size, write_segments,
};
use crate::rows::Row;

/// The spool directory, as the worker sees it.
pub(crate) struct Spool {
    dir: PathBuf,
    /// The store segments are marked with (`<kind> <target>`); empty: unmarked.
    store: String,
    /// Whether another store's segments were reported (once per pipeline).
    foreign_reported: bool,
    /// Whether an entry that could not be moved aside was reported (once per pipeline: it
    /// stays where it is, skipped at every replay).
    stuck_reported: bool,
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

/// A spill refused: the spool is at its bound; the message says so with the figures.
#[derive(Debug)]
pub(crate) struct Full(String);

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a spill did with the records it took.
pub(crate) struct Spilled<R> {
    /// Records written to segments.
    pub(crate) records: u64,
    /// Records too long for a segment's line ([`crate::limits::MAX_LINE_BYTES`]): for the
    /// dead-letter file.
    pub(crate) too_long: Vec<R>,
    /// A segment that could not be written: how many records it held (lost) and why. The
    /// records after it were not taken.
    pub(crate) failed: Option<(u64, io::Error)>,
}

impl Spool {
    /// The spool in `dir` for `store` (`<kind> <target>`, see the module docs; empty for a
    /// sink that names no target), bounded at `max_bytes`; an earlier run's segments for this
    /// store are due for replay.
    pub(crate) fn open(dir: PathBuf, max_bytes: u64, store: String) -> Spool {
        let bytes = size(&dir);
        // One line, whatever a custom sink's target holds.
        let store = store.replace(['\n', '\r'], " ");
        let mut spool = Spool {
            dir,
            store,
            foreign_reported: false,
            stuck_reported: false,
            max_bytes,
            bytes,
            full: false,
            replay_due: false,
        };
        spool.replay_due = !spool.own_segments().is_empty();
        spool
    }

    /// This store's segments (and unmarked ones), oldest first; reports once that another
    /// store's were left alone, and moves aside what is not a segment at all.
    fn own_segments(&mut self) -> Vec<PathBuf> {
        let mut refused = Vec::new();
        let (own, foreign): (Vec<_>, Vec<_>) = segments(&self.dir)
            .into_iter()
            .filter_map(|p| match owner(&p) {
                Ok(owner) => Some((p, owner)),
                Err(e) => {
                    refused.push((p, e));
                    None
                }
            })
            .partition(|(_, owner)| owner.as_deref().is_none_or(|o| o == self.store));
        for (path, why) in refused {
            self.move_aside(&path, &why.to_string());
        }
        if let Some((_, Some(other))) = foreign.first() {
            if !self.foreign_reported {
                self.foreign_reported = true;
                crate::report::emit(format_args!(
                    "{} spool segments in {} are for another store ({other}{}), not this one ({}); left for it",
                    foreign.len(),
                    self.dir.display(),
                    if foreign.len() > 1 { ", …" } else { "" },
                    if self.store.is_empty() {
                        "unnamed"
                    } else {
                        &self.store
                    },
                ));
            }
        }
        own.into_iter().map(|(p, _)| p).collect()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves an entry that is not a segment this spool may read into `rejected/` (kept, never
    /// replayed), reporting it once; one that cannot be moved is left in place, skipped, and
    /// reported once per pipeline.
    fn move_aside(&mut self, path: &Path, why: &str) {
        let len = fs::symlink_metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len());
        match move_aside(&self.dir, path) {
            Ok(to) => {
                self.bytes = self.bytes.saturating_sub(len);
                crate::report::emit(format_args!(
                    "{} is not a spool segment this process may replay ({why}): moved to {}, never replayed",
                    path.display(),
                    to.display()
                ));
            }
            Err(e) if !self.stuck_reported => {
                self.stuck_reported = true;
                crate::report::emit(format_args!(
                    "{} is not a spool segment this process may replay ({why}) and cannot be moved to {}: {e}; skipped",
                    path.display(),
                    self.dir.join(REJECTED_DIR).display()
                ));
            }
            Err(_) => {}
        }
    }

    /// Reads a claimed segment: its records and how many lines were skipped as damaged, or
    /// `None` when it was longer than a segment can be, read no further and moved aside.
    pub(crate) fn read(&mut self, claim: &mut Claim) -> io::Result<Option<(Vec<Row>, u64)>> {
        match read_bounded(&mut claim.file)? {
            Ok(bytes) => Ok(Some(parse_segment(&bytes))),
            Err(len) => {
                let why = format!("{len} bytes, more than the {MAX_SEGMENT_BYTES} a segment holds");
                self.move_aside(&claim.path, &why);
                Ok(None)
            }
        }
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
                    "WARNING: the spool holds {} bytes, at its bound of {} in {}; records wait in the channel and are dropped (counted) when it is full, or dead-lettered during a configuration failure",
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

    /// Writes `records` as new segments (more than one past [`MAX_SEGMENT_BYTES`]), if there
    /// is room (see [`Self::has_room`]). Records are encoded as the iterator yields them, so a
    /// caller draining a channel keeps it draining while a segment is built.
    pub(crate) fn write<R: std::borrow::Borrow<Row>>(
        &mut self,
        records: impl IntoIterator<Item = R>,
    ) -> Result<Spilled<R>, Full> {
        if !self.has_room() {
            return Err(Full(format!(
                "the spool holds {} bytes, at its bound of {}",
                self.bytes, self.max_bytes
            )));
        }
        let w = write_segments(&self.dir, &self.store, records);
        self.bytes += w.bytes;
        if w.records > 0 {
            self.replay_due = true;
        }
        Ok(Spilled {
            records: w.records,
            too_long: w.too_long,
            failed: w.failed,
        })
    }

    /// This store's segments waiting, oldest first; starts a replay (the byte count is read
    /// again).
    pub(crate) fn pending(&mut self) -> Vec<PathBuf> {
        self.replay_due = false;
        self.bytes = size(&self.dir);
        self.own_segments()
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
}

/// Claims `path` for replay: `None` when another replayer holds it, or it is gone (delivered
/// and deleted by the one that held it), or it is no longer a regular file (the next listing
/// moves it aside).
pub(crate) fn claim(path: &Path) -> Option<Claim> {
    use crate::fs::FileId;
    let file = crate::fs::open_read(path).ok()?;
    if !crate::fs::try_lock(&file) {
        return None;
    }
    // Locked, but maybe only after its replayer deleted it: the path must still be this file.
    let open = FileId::of(&file, &file.metadata().ok()?).ok()?;
    (FileId::of_path(path).ok()? == open).then(|| Claim {
        path: path.to_path_buf(),
        file,
    })
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
        let mut spool = Spool::open(dir.path().to_path_buf(), u64::MAX, "test here".into());
        assert!(!spool.replay_due());
        assert_eq!(spool.write([a.clone(), j.clone()]).unwrap().records, 2);
        assert!(spool.replay_due());
        let bytes = spool.bytes;
        let path = spool.pending().pop().unwrap();
        assert_eq!(spool.bytes, bytes);
        let (back, skipped) = spool.read(&mut claim(&path).unwrap()).unwrap().unwrap();
        assert_eq!(skipped, 0);
        // Times are kept to the microsecond: compare what the files hold.
        let json = |rows: &[Row]| rows.iter().map(Row::to_json).collect::<Vec<_>>();
        assert_eq!(json(&back), json(&[a.clone(), j]));
        assert!(matches!(&back[1], Row::Job(r) if r.logs == "line 1\nline 2"));

        // A flipped byte and a torn last line: both skipped, the good line still read.
        let mut bytes = fs::read(&path).unwrap();
        // Past the store marker and the first record.
        assert!(bytes.starts_with(b"# actionlog spool store=test here\n"));
        let second = bytes
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b'\n')
            .nth(1)
            .unwrap()
            .0
            + 1;
        bytes[second + 20] ^= 0x01;
        bytes.extend_from_slice(b"0badc0de {\"id\":");
        fs::write(&path, &bytes).unwrap();
        let mut held = claim(&path).unwrap();
        // Another replayer (another open file) cannot claim it meanwhile.
        assert!(claim(&path).is_none());
        let (back, skipped) = spool.read(&mut held).unwrap().unwrap();
        assert_eq!((back.len(), skipped), (1, 2));
        assert_eq!(back[0].id(), a.id());
    }
}
