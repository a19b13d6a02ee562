//! actionlog's own stderr stays bounded: when the dead-letter file cannot be written either
//! (its directory is not a directory, as on a broken or full disk), the records lost at
//! shutdown are reported in a line with the cause and one summary line — not one per record —
//! and every one of them is counted.

use crate::common;

use std::time::Duration;

use actionlog::{ManualClock, PipelineConfig};
use common::actions::{Down, assert_accounted, with_actions};

const CHILD: &str = "ACTIONLOG_BOUNDED_STDERR_CHILD";
const NAME: &str = "losing_many_records_prints_a_few_lines";
const RECORDS: u64 = 300;

/// Child mode: a database that is down, no spool, and a dead-letter "directory" that is a
/// regular file; the shutdown deadline passes with every record undelivered.
fn child(dir: &str) {
    let dir = std::path::Path::new(dir);
    let not_a_dir = dir.join("dead-letter");
    std::fs::write(&not_a_dir, b"a file where the directory should be").unwrap();
    let guard = with_actions(
        Down,
        &not_a_dir.join("inside"),
        &ManualClock::at(common::utc("2026-03-01T12:00:00Z")),
        PipelineConfig::default().no_spool().batch_size(50),
        || {
            for seq in 0..RECORDS {
                tracing::info!(action_type = "order", seq);
            }
        },
    );
    let s = guard.shutdown(Duration::from_millis(300)).stats;
    assert_accounted(&s);
    assert_eq!(
        (s.actions_recorded, s.actions_dropped),
        (RECORDS, RECORDS),
        "{s:?}"
    );
}

#[test]
fn losing_many_records_prints_a_few_lines() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = common::rerun(module_path!(), NAME)
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{stderr}");
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("actionlog:"))
        .collect();
    let lost: Vec<&&str> = ours.iter().filter(|l| l.contains("lost")).collect();
    assert!(
        lost.len() <= 2,
        "{} lines about lost records for {RECORDS} records:\n{}",
        lost.len(),
        ours.join("\n")
    );
    assert!(
        lost.iter()
            .any(|l| l.contains("further losses are counted")),
        "the cause is not reported:\n{}",
        ours.join("\n")
    );
    assert!(
        lost.iter()
            .any(|l| l.contains(&format!("{RECORDS} action records were lost"))),
        "no summary line:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.len() <= 6,
        "stderr is not bounded:\n{}",
        ours.join("\n")
    );
}
