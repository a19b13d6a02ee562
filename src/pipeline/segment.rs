//! The spool's segment files, as [`super::spool`] describes them: writing one whole (temporary
//! name, fsync, rename), the store marker on its first line, listing, sizing and parsing them
//! back. Only [`super::spool::Spool`] calls these.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rows::Row;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `records` as one new segment in `dir`; returns how many records and bytes it holds,
/// or how many records were taken when it failed.
pub(super) fn write_segment(
    dir: &Path,
    store: &str,
    records: impl IntoIterator<Item = Row>,
) -> Result<(u64, u64), (u64, io::Error)> {
    let mut n = 0;
    let mut body = Vec::new();
    if !store.is_empty() {
        body.extend_from_slice(format!("{HEADER}{store}\n").as_bytes());
    }
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

/// How a segment's first line names its store.
const HEADER: &str = "# actionlog spool store=";

/// The store `path` is marked with; `None` for an unmarked segment (or one that cannot be read,
/// which its replay then reports).
pub(super) fn owner(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    let line = head.split(|&b| b == b'\n').next()?;
    let store = std::str::from_utf8(line).ok()?.strip_prefix(HEADER)?;
    Some(store.to_owned())
}

/// Bytes held in `dir`: every segment, and any unfinished temporary file.
pub(super) fn size(dir: &Path) -> u64 {
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
pub(super) fn segments(dir: &Path) -> Vec<PathBuf> {
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
pub(super) fn parse_segment(bytes: &[u8]) -> (Vec<Row>, u64) {
    let mut records = Vec::new();
    let mut skipped = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        // Empty lines, and the store marker (checked when the segment was chosen).
        if line.is_empty() || (i == 0 && line.starts_with(HEADER.as_bytes())) {
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
