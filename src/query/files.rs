//! The pipeline's own files under the log directory, for `status`: day files, spool segments
//! (`spool/seg-*.jsonl`, records waiting for the database) and dead-letter files
//! (`dead-letter/YYYY-MM-DD.jsonl`, records the database refused). Only read, never opened
//! for writing.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Value, json};

use super::Rows;
use super::dayfiles;

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
}

/// Records in a spool segment or dead-letter file: its lines, less a segment's `#` header
/// (the store it belongs to).
fn lines(path: &Path) -> u64 {
    std::fs::File::open(path)
        .map(|f| {
            BufReader::new(f)
                .split(b'\n')
                .filter(|l| l.as_ref().is_ok_and(|l| !l.starts_with(b"#")))
                .count() as u64
        })
        .unwrap_or(0)
}

fn group(dir: &Path, keep: impl Fn(&str) -> bool, count_lines: bool) -> FileGroup {
    let mut g = FileGroup {
        records: count_lines.then_some(0),
        ..FileGroup::default()
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return g;
    };
    let mut names = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(md) = e.metadata() else { continue };
        if !md.is_file() || !keep(&name) {
            continue;
        }
        g.files += 1;
        g.bytes += md.len();
        if count_lines {
            g.records = g.records.map(|n| n + lines(&e.path()));
        }
        names.push(name);
    }
    names.sort();
    g.newest = names.pop();
    g
}

/// Day files, spool segments and dead-letter files under `log_dir`, as rows
/// (`kind`, `files`, `bytes`, `records`, `newest`).
pub fn status(log_dir: &Path) -> Rows {
    let groups = [
        (
            "day_files",
            group(log_dir, |n| dayfiles::day_of(n).is_some(), false),
        ),
        (
            "spool_segments",
            group(
                &log_dir.join("spool"),
                |n| n.starts_with("seg-") && n.ends_with(".jsonl"),
                true,
            ),
        ),
        (
            "dead_letter_files",
            group(
                &log_dir.join("dead-letter"),
                |n| n.ends_with(".jsonl"),
                true,
            ),
        ),
    ];
    Rows {
        columns: ["kind", "files", "bytes", "records", "newest"]
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
                ]
            })
            .collect(),
    }
}
