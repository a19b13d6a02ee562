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
//! [`crate::job::JobExecution::to_json`] with `"_table": "job_executions"` added). Files are created 0640 (directory 0750), written,
//! fsynced, then renamed from a `.tmp` name, so a segment either exists whole or not at all.
//!
//! Invariants:
//! - A segment is deleted only after every record in it was delivered (or rejected by the
//!   database and dead-lettered): a crash before that re-delivers it, which the idempotent
//!   upsert makes harmless.
//! - Segments are replayed oldest first, records in file order.
//! - A line that fails its checksum or does not parse (a torn write, a disk error) is skipped
//!   and counted, never blocks the rest of the replay.
//!
//! What can be lost: records still in the in-memory channel (at most its capacity, by default
//! 10 000, fewer in practice since it spills at half) and the batch the worker is writing or
//! retrying (at most the batch size, 500; during an outage these are the outage's oldest
//! records, held until the sink takes them or shutdown spools them) when the process is
//! SIGKILLed or the machine loses power; a segment whose file cannot be written (disk full),
//! counted as dropped. `tests/sigkill.rs` measures it.
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

use super::Row;
use crate::file::rolling;

/// CRC-32 (IEEE 802.3), table-driven.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `records` as one new segment in `dir`; returns its size in bytes.
pub(crate) fn write_segment(dir: &Path, records: &[Row]) -> io::Result<u64> {
    rolling::create_dir(dir)?;
    let name = format!(
        "seg-{:013}-{}-{}.jsonl",
        chrono::Utc::now().timestamp_millis(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let mut body = Vec::new();
    for r in records {
        let json = serde_json::to_vec(&r.to_json()).map_err(io::Error::other)?;
        body.extend_from_slice(format!("{:08x} ", crc32(&json)).as_bytes());
        body.extend_from_slice(&json);
        body.push(b'\n');
    }
    let mut f = rolling::open_append(&tmp)?;
    f.write_all(&body)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(body.len() as u64)
}

/// Bytes held in `dir`: every segment, and any unfinished temporary file. Read when the worker
/// replays the spool; in between the worker keeps the count itself (see `ActionCounters`), so
/// the bound check is not a directory scan every 10 ms during a long outage.
pub(crate) fn size(dir: &Path) -> u64 {
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

/// `StorageFull` when a spool holding `held` bytes has reached its bound `max`.
pub(crate) fn room(held: u64, max: u64) -> io::Result<()> {
    if held >= max {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("the spool holds {held} bytes, at its bound of {max}"),
        ));
    }
    Ok(())
}

/// The segments waiting in `dir`, oldest first (none if the directory does not exist).
pub(crate) fn pending(dir: &Path) -> Vec<PathBuf> {
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

/// The records of one segment and how many lines were skipped as damaged.
pub(crate) fn read_segment(path: &Path) -> io::Result<(Vec<Row>, u64)> {
    let bytes = fs::read(path)?;
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
    Ok((records, skipped))
}

fn parse_line(line: &[u8]) -> Option<Row> {
    let (crc, json) = (line.get(..8)?, line.get(9..)?);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    if line.get(8) != Some(&b' ') || crc32(json) != crc {
        return None;
    }
    Row::from_json(&serde_json::from_slice(json).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn segments_round_trip_and_damaged_lines_are_skipped() {
        use crate::ActionRecord;
        use crate::job::JobExecution;
        let dir = tempfile::tempdir().unwrap();
        let mut a = ActionRecord::blank(uuid::Uuid::now_v7(), "a");
        a.user_id = Some("ana".into());
        a.request_duration_seconds = Some(1.25);
        a.action_details
            .insert("k".into(), serde_json::json!({"n": [1, 2]}));
        let mut j = JobExecution::new(uuid::Uuid::now_v7(), "job", "failed", chrono::Utc::now());
        j.logs = "line 1\nline 2".into();
        let (a, j) = (Row::Action(a), Row::Job(Box::new(j)));
        let bytes = write_segment(dir.path(), &[a.clone(), j.clone()]).unwrap();
        let path = pending(dir.path()).pop().unwrap();
        assert_eq!(size(dir.path()), bytes);
        let (back, skipped) = read_segment(&path).unwrap();
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
        let (back, skipped) = read_segment(&path).unwrap();
        assert_eq!((back.len(), skipped), (1, 2));
        assert_eq!(back[0].id(), a.id());
    }
}
