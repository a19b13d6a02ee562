//! The pipeline's own files under the log directory, for `status`: day files, spool segments
//! (`spool/seg-*.jsonl`, records waiting for the database), segments a replay moved aside
//! (`spool/rejected/`) and dead-letter files (`dead-letter/YYYY-MM-DD.jsonl`, records the
//! database refused). Only read, never opened for writing. Stores added beside the first
//! (`Builder::also_sink`) keep theirs under `stores/<name>-<hash>/`; `status` counts them in
//! the same rows.
//!
//! Hostile files cost nothing: an entry is opened without following a symlink and without
//! blocking, and skipped unless it is a regular file; lines are counted a chunk at a time
//! ([`crate::query::dayfiles::read_line`] keeping one byte of each), so a 2 GB file without a
//! newline is read through in bounded memory and reported as holding a line longer than
//! [`crate::limits::MAX_LINE_BYTES`]. What was skipped or found too long is said in the
//! `problems` column.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::Rows;
use super::dayfiles;
use crate::limits::MAX_LINE_BYTES;

/// Files, bytes and records (lines) of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileGroup {
    /// How many files.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Their lines (records), when counted.
    pub records: Option<u64>,
    /// The newest file's name.
    pub newest: Option<String>,
    /// Entries skipped (a symlink, FIFO, device or socket under a name of this kind, or a file
    /// that could not be read), and lines longer than [`MAX_LINE_BYTES`] among the records:
    /// each with the first file's name.
    pub problems: Vec<String>,
}

/// The lines of a spool segment or dead-letter file, as [`count_lines`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LineCount {
    /// Non-empty lines, less a segment's `#` header (the store it belongs to).
    pub(crate) records: u64,
    /// Those of them longer than the bound.
    pub(crate) too_long: u64,
}

/// Counts the records of `r` holding no more than one byte of a line (and a chunk of the
/// reader), whatever its lines' lengths.
pub(crate) fn count_lines(r: impl Read, max: usize) -> io::Result<LineCount> {
    let mut r = BufReader::with_capacity(64 << 10, r);
    let mut count = LineCount::default();
    let mut first = Vec::with_capacity(1);
    loop {
        first.clear();
        let read = dayfiles::read_line(&mut r, &mut first, 1)?;
        if read.consumed == 0 {
            return Ok(count);
        }
        let len = first.len() as u64 + read.dropped;
        if len == 0 || first[0] == b'#' {
            continue;
        }
        count.records += 1;
        if len > max as u64 {
            count.too_long += 1;
        }
    }
}

fn group(dir: &Path, keep: impl Fn(&str) -> bool, with_records: bool) -> FileGroup {
    let mut g = FileGroup {
        records: with_records.then_some(0),
        ..FileGroup::default()
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return g;
    };
    let mut names = Vec::new();
    let (mut skipped, mut too_long) = (Vec::new(), Vec::new());
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep(&name) {
            continue;
        }
        // `DirEntry::metadata` does not follow a symlink: one is skipped here, as is a FIFO.
        let md = match e.metadata() {
            Ok(md) if md.is_file() => md,
            _ => {
                skipped.push(name);
                continue;
            }
        };
        if with_records {
            let counted =
                crate::fs::open_read(&e.path()).and_then(|f| count_lines(f, MAX_LINE_BYTES));
            match counted {
                Ok(c) => {
                    g.records = g.records.map(|n| n + c.records);
                    if c.too_long > 0 {
                        too_long.push((name.clone(), c.too_long));
                    }
                }
                Err(_) => {
                    skipped.push(name);
                    continue;
                }
            }
        }
        g.files += 1;
        g.bytes += md.len();
        names.push(name);
    }
    names.sort();
    g.newest = names.pop();
    skipped.sort();
    too_long.sort();
    if let Some(first) = skipped.first() {
        g.problems.push(format!(
            "{} skipped: not a regular file or unreadable ({first}{})",
            skipped.len(),
            if skipped.len() > 1 { ", …" } else { "" }
        ));
    }
    if let Some((first, _)) = too_long.first() {
        let lines: u64 = too_long.iter().map(|(_, n)| n).sum();
        g.problems.push(format!(
            "{lines} lines longer than {MAX_LINE_BYTES} bytes ({first}{})",
            if too_long.len() > 1 { ", …" } else { "" }
        ));
    }
    g
}

/// Where stores keep their spool and dead letters: the log directory itself (the first
/// store's `spool/` and `dead-letter/`), then each `stores/<name>-<hash>/` of a store added
/// beside it, with the prefix that names its files in `newest` and `problems`. A symlink under
/// `stores/` is not followed.
fn store_dirs(log_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut added: Vec<(String, PathBuf)> = std::fs::read_dir(log_dir.join("stores"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (format!("stores/{name}/"), e.path())
                })
                .collect()
        })
        .unwrap_or_default();
    added.sort();
    let mut dirs = vec![(String::new(), log_dir.to_path_buf())];
    dirs.extend(added);
    dirs
}

/// `group` of every store's directory (see [`store_dirs`]) summed: the newest file by name
/// (segment names and dead-letter days sort by time), problems and names prefixed by their
/// store's directory.
fn across_stores(dirs: &[(String, PathBuf)], group: impl Fn(&Path) -> FileGroup) -> FileGroup {
    let mut all: Option<FileGroup> = None;
    let mut newest: Option<(String, String)> = None;
    for (prefix, dir) in dirs {
        let g = group(dir);
        if let Some(n) = &g.newest {
            if newest.as_ref().is_none_or(|(name, _)| n > name) {
                newest = Some((n.clone(), format!("{prefix}{n}")));
            }
        }
        let problems = g.problems.iter().map(|p| match prefix.is_empty() {
            true => p.clone(),
            false => format!("{prefix}: {p}"),
        });
        match &mut all {
            None => {
                all = Some(FileGroup {
                    problems: problems.collect(),
                    ..g
                })
            }
            Some(a) => {
                a.files += g.files;
                a.bytes += g.bytes;
                a.records = a.records.map(|n| n + g.records.unwrap_or(0));
                a.problems.extend(problems);
            }
        }
    }
    let mut all = all.unwrap_or_default();
    all.newest = newest.map(|(_, shown)| shown);
    all
}

/// Every store's spool segments and dead-letter files under `log_dir` (as [`status`] counts
/// them), for a check that runs again and again: the spool by its files' sizes alone (no
/// segment is read: it may hold a gigabyte), the dead letters with their records counted (a
/// chunk at a time, in bounded memory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineFiles {
    /// Spool segments waiting for a store: files and bytes (`records` is `None`).
    pub spool: FileGroup,
    /// Dead-letter files: files, bytes and records.
    pub dead_letters: FileGroup,
}

/// [`PipelineFiles`] of `log_dir`.
pub fn pipeline_files(log_dir: &Path) -> PipelineFiles {
    let stores = store_dirs(log_dir);
    PipelineFiles {
        spool: across_stores(&stores, |d| {
            group(
                &d.join("spool"),
                |n| n.starts_with("seg-") && n.ends_with(".jsonl"),
                false,
            )
        }),
        dead_letters: across_stores(&stores, |d| {
            group(&d.join("dead-letter"), |n| n.ends_with(".jsonl"), true)
        }),
    }
}

/// Day files, spool segments, dead-letter files and rejected spool entries under `log_dir`
/// (every store's: the first one's and those under `stores/`), as rows (`kind`, `files`,
/// `bytes`, `records`, `newest`, `problems`).
pub fn status(log_dir: &Path) -> Rows {
    let stores = store_dirs(log_dir);
    let groups = [
        (
            "day_files",
            group(log_dir, |n| dayfiles::day_of(n).is_some(), false),
        ),
        (
            "spool_segments",
            across_stores(&stores, |d| {
                group(
                    &d.join("spool"),
                    |n| n.starts_with("seg-") && n.ends_with(".jsonl"),
                    true,
                )
            }),
        ),
        (
            "dead_letter_files",
            across_stores(&stores, |d| {
                group(&d.join("dead-letter"), |n| n.ends_with(".jsonl"), true)
            }),
        ),
        (
            "spool_rejected",
            across_stores(&stores, |d| {
                group(&d.join("spool").join("rejected"), |_| true, false)
            }),
        ),
    ];
    Rows {
        columns: ["kind", "files", "bytes", "records", "newest", "problems"]
            .map(String::from)
            .to_vec(),
        rows: groups
            .into_iter()
            .map(|(k, g)| {
                vec![
                    json!(k),
                    json!(g.files),
                    json!(g.bytes),
                    g.records.map(Value::from).unwrap_or(Value::Null),
                    g.newest.map(Value::from).unwrap_or(Value::Null),
                    if g.problems.is_empty() {
                        Value::Null
                    } else {
                        json!(g.problems.join("; "))
                    },
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader handing out at most `step` bytes per read, so that lines straddle every
    /// boundary a buffer can have.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// What the counts must be: the file's lines, as `split` sees them.
    fn expected(bytes: &[u8], max: usize) -> LineCount {
        let mut c = LineCount::default();
        for l in bytes.split(|&b| b == b'\n') {
            if !l.is_empty() && l[0] != b'#' {
                c.records += 1;
                c.too_long += u64::from(l.len() > max);
            }
        }
        c
    }

    #[test]
    fn a_file_without_a_newline_is_one_over_long_record() {
        let bytes = vec![b'x'; 3 << 20];
        let c = count_lines(&bytes[..], 1 << 20).unwrap();
        assert_eq!(
            c,
            LineCount {
                records: 1,
                too_long: 1
            }
        );
        let c = count_lines(&b"#store\n{}\n\n{}"[..], 2).unwrap();
        assert_eq!(
            c,
            LineCount {
                records: 2,
                too_long: 0
            }
        );
    }

    #[test]
    fn status_counts_every_stores_spool_and_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "spool/seg-100-1-1.jsonl",
            "# actionlog spool store=sqlite x\na\nb\n",
        );
        write(
            "stores/postgres-0000abcd/spool/seg-200-1-1.jsonl",
            "# h\nc\n",
        );
        write(
            "stores/postgres-0000abcd/dead-letter/2026-03-01.jsonl",
            "d\ne\n",
        );
        write("dead-letter/2026-02-01.jsonl", "f\n");
        let rows = status(dir.path());
        let row = |kind: &str| {
            let i = (0..rows.rows.len())
                .find(|&i| rows.rows[i][0] == kind)
                .unwrap();
            (
                rows.get(i, "files").cloned().unwrap(),
                rows.get(i, "records").cloned().unwrap(),
                rows.get(i, "newest").cloned().unwrap(),
            )
        };
        assert_eq!(
            row("spool_segments"),
            (
                json!(2),
                json!(3),
                json!("stores/postgres-0000abcd/seg-200-1-1.jsonl")
            )
        );
        assert_eq!(
            row("dead_letter_files"),
            (
                json!(2),
                json!(3),
                json!("stores/postgres-0000abcd/2026-03-01.jsonl")
            )
        );
    }

    proptest! {
        // 512 cases, from a fixed seed: the same inputs on every run.
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xDEAD_1E77),
            ..ProptestConfig::default()
        })]

        /// Any bytes, read in any pieces, against any bound: no panic, and the counts are the
        /// file's lines, whatever their lengths.
        #[test]
        fn the_dead_letter_reader_takes_any_bytes(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..2000),
                proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'#'), Just(b'x')], 0..2000),
            ],
            step in 1usize..300,
            max in 0usize..100,
        ) {
            let got = count_lines(Trickle { bytes: &bytes, step }, max).unwrap();
            prop_assert_eq!(got, expected(&bytes, max));
        }
    }
}
