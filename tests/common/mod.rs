//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// An in-memory console: every `write` appends to one shared buffer.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for SharedBuf {
    type Writer = SharedBuf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every line of the day file `path` (`<dir>/YYYY-MM-DD.log`), across its numbered parts and
/// compressed files, read through the library's own reader (`actionlog::day_files`), so every
/// test reads the log directory as `actionlog tail` does. A path that is not a day file is read
/// as it is.
pub fn day_text(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let day = name
        .strip_suffix(".log")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let (Some(day), Some(dir)) = (day, path.parent()) else {
        return std::fs::read_to_string(path).unwrap_or_default();
    };
    let Ok(days) = actionlog::day_files(dir) else {
        return String::new();
    };
    days.iter()
        .filter(|d| d.day() == day)
        .flat_map(|d| d.lines())
        .map(|l| l.unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())) + "\n")
        .collect()
}

/// Every line of the day file `path` (see [`day_text`]), parsed as JSON (panics on an invalid
/// line: that is a test failure).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    day_text(path)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .collect()
}

/// The days in `dir` as their part-0 paths (`<dir>/YYYY-MM-DD.log`), sorted; read them with
/// [`json_lines`] or [`day_text`], which take in the numbered and compressed parts too.
pub fn day_files(dir: &Path) -> Vec<PathBuf> {
    actionlog::day_files(dir)
        .unwrap()
        .iter()
        .map(|d| dir.join(d.day().format("%Y-%m-%d.log").to_string()))
        .collect()
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Every line's `seq` field, in order, through the library's reader (parts and compressed
/// files included); duplicates kept, so "exactly once" shows.
pub fn seqs(dir: &Path) -> Vec<u64> {
    actionlog::day_files(dir)
        .unwrap()
        .iter()
        .flat_map(|d| d.lines())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["metadata"]["seq"].as_u64().unwrap()
        })
        .collect()
}

pub fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}
pub mod actions;
pub mod jobs;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(all(feature = "supabase", feature = "postgres"))]
pub mod postgrest;
pub mod proxy;
pub mod tmpfs;
pub mod wrap;

/// Polls `cond` until it holds, failing the test (with `what`) if it does not within `within`.
/// The pause between polls only limits the polling rate; correctness never depends on it.
pub fn wait_until(what: &str, within: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
