//! Helpers shared by the integration tests: the `it` crate's `common` module, also included by
//! the test binaries kept apart (`#[path = "it/common/mod.rs"] mod common;`).
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

/// Every line of every day file in `dir` as (file day, `thread`, `seq`, timestamp), files in day
/// order; the library's own lines (logger `actionlog`) left out.
pub fn lines_by_file(dir: &std::path::Path) -> Vec<(String, u64, u64, String)> {
    let mut out = Vec::new();
    for f in day_files(dir) {
        let day = f.file_stem().unwrap().to_str().unwrap().to_owned();
        for v in json_lines(&f) {
            if v["logger"] == "actionlog" {
                continue;
            }
            let m = &v["metadata"];
            out.push((
                day.clone(),
                m["thread"].as_u64().unwrap(),
                m["seq"].as_u64().unwrap(),
                v["timestamp"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
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
#[cfg(feature = "alert")]
pub mod alert;
#[cfg(all(feature = "audit", feature = "query"))]
pub mod audit;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(all(feature = "web", feature = "cli"))]
pub mod http;
pub mod jobs;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(all(feature = "supabase", feature = "postgres"))]
pub mod postgrest;
pub mod proxy;
#[cfg(all(unix, feature = "cli"))]
pub mod pty;
#[cfg(feature = "cli")]
pub mod reference_queries;
#[cfg(feature = "retention")]
pub mod retention;
pub mod tmpfs;
#[cfg(all(feature = "web", feature = "cli"))]
pub mod web;
#[cfg(all(feature = "web", feature = "cli"))]
pub mod webdriver;
#[cfg(feature = "alert")]
pub mod webhook;
pub mod wrap;
#[cfg(all(feature = "web", feature = "cli"))]
pub mod xss;

/// The name the test harness gives test `name` of the module `module` (the caller's
/// `module_path!()`): `file::name` in the `it` crate, `name` in a test binary of its own. A test
/// that re-runs itself as a child process passes it to `--exact`, so the child runs that test
/// and no other.
pub fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    }
}

/// A command that runs test `name` of `module` (`module_path!()`) again, alone, in a child
/// process of this test binary, its output not captured by the harness: for a test that needs
/// a process of its own (process-wide state, stderr, signals, an exit). Add the child's
/// environment and run it.
pub fn rerun(module: &str, name: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test_path(module, name).as_str(),
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    cmd
}

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
