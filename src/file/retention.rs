//! Retention: which of our files in the log directory are deleted, and when.
//!
//! Runs on the writer thread each time a part is opened (at start, on a new day, on a new part).
//!
//! Invariants:
//! - Only our own names ([`super::names`]: day files, numbered parts, their `.gz` forms) are
//!   ever deleted; `latest.log`, a compression's temporary file and every other name in the
//!   directory are left alone. Symlinks are never ours.
//! - The open part is never deleted.
//! - `keep_days(n)`: every file of a day older than the newest `n` days (the open day counts)
//!   is deleted.
//! - `max_total_bytes(t)`: closed files are deleted oldest first — by day, then part number —
//!   until they and the room the open part may still grow into (its cap, see
//!   [`super::rolling::Bounds::part_cap`]) fit in `t`. So the directory's own files stay within
//!   `t`, plus a compression's temporary file (at most one compressed part) while one runs, and
//!   minus nothing the writer is still writing. Bytes are sizes on disk as listed.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::names::{self, Entry, Kind, PartId};
use super::rolling::Bounds;

/// Held by retention for its pass and by the compressor while it renames a `.gz` into place and
/// deletes the plain file, so that retention never sees half of that (and the compressor never
/// brings back, as a `.gz`, a file retention just deleted). Both hold it only for a listing and
/// a few renames or deletions, never across a write or an fsync.
pub(crate) type DirLock = Arc<Mutex<()>>;

/// Applies the bounds to `dir`, where `open` is the part being written (`open_len` bytes so far).
/// Errors (an unreadable directory, a file already gone) are ignored: retention is retried at
/// the next open, and must never stop logging.
pub(crate) fn prune(dir: &Path, lock: &DirLock, open: PartId, open_len: u64, bounds: &Bounds) {
    if bounds.keep_days.is_none() && bounds.max_total_bytes.is_none() {
        return;
    }
    let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
    let Ok(entries) = names::scan(dir) else {
        return;
    };
    for name in plan(&entries, open, open_len, bounds) {
        let _ = fs::remove_file(dir.join(name));
    }
}

/// The names to delete, oldest first (pure, so the rules are unit-tested without a disk).
fn plan<'a>(entries: &'a [Entry], open: PartId, open_len: u64, bounds: &Bounds) -> Vec<&'a str> {
    let is_open = |e: &Entry| e.id == open && e.kind == Kind::Plain;
    // Sorted by (part, kind) by `scan`; temporary files are neither counted nor deleted here.
    let mut closed: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind != Kind::Tmp && !is_open(e))
        .collect();
    closed.sort_by_key(|e| (e.id, e.kind as u8));
    let mut doomed = Vec::new();
    if let Some(keep) = bounds.keep_days {
        let mut days: Vec<_> = closed.iter().map(|e| e.id.day).collect();
        days.push(open.day);
        days.sort_unstable();
        days.dedup();
        let cut = days.len().saturating_sub(keep.max(1));
        if let Some(&oldest_kept) = days.get(cut) {
            let (old, kept): (Vec<&Entry>, Vec<&Entry>) =
                closed.into_iter().partition(|e| e.id.day < oldest_kept);
            doomed.extend(old.into_iter().map(|e| e.name.as_str()));
            closed = kept;
        }
    }
    if let Some(total) = bounds.max_total_bytes {
        let reserve = bounds.part_cap().unwrap_or(0).max(open_len);
        let budget = total.saturating_sub(reserve);
        let mut used: u64 = closed.iter().map(|e| e.len).sum();
        for e in closed {
            if used <= budget {
                break;
            }
            used -= e.len;
            doomed.push(e.name.as_str());
        }
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, len: u64) -> Entry {
        let (id, kind) = names::parse(name).unwrap();
        Entry {
            name: name.into(),
            id,
            kind,
            len,
        }
    }

    fn open(name: &str) -> PartId {
        names::parse(name).unwrap().0
    }

    #[test]
    fn keep_days_counts_days_not_files() {
        let e = [
            entry("2025-11-01.log.gz", 10),
            entry("2025-11-01.1.log", 10),
            entry("2025-11-02.log", 10),
            entry("2025-11-02.1.log.gz", 10),
            entry("2025-11-03.log", 10),
        ];
        let b = Bounds {
            keep_days: Some(2),
            ..Bounds::default()
        };
        assert_eq!(
            plan(&e, open("2025-11-03.log"), 10, &b),
            ["2025-11-01.log.gz", "2025-11-01.1.log"]
        );
    }

    #[test]
    fn total_deletes_oldest_closed_first_and_never_the_open_part() {
        let e = [
            entry("2025-11-01.log.gz", 30),
            entry("2025-11-02.log", 30),
            entry("2025-11-02.1.log", 30),
            entry("2025-11-02.2.log", 500),
        ];
        let b = Bounds {
            max_total_bytes: Some(100),
            max_file_bytes: Some(20),
            ..Bounds::default()
        };
        // Open part is 500 bytes (over everything): all closed files go, the open one stays.
        assert_eq!(
            plan(&e, open("2025-11-02.2.log"), 500, &b),
            ["2025-11-01.log.gz", "2025-11-02.log", "2025-11-02.1.log"]
        );
        // Open part empty, cap 20: closed files may use 80, so only the oldest goes.
        let e = &e[..3];
        let open_part = open("2025-11-02.2.log");
        assert_eq!(plan(e, open_part, 0, &b), ["2025-11-01.log.gz"]);
    }

    #[test]
    fn no_bounds_no_deletions() {
        let e = [entry("2025-11-01.log", 1 << 40)];
        assert!(plan(&e, open("2025-11-02.log"), 0, &Bounds::default()).is_empty());
    }
}
