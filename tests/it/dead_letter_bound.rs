//! The dead-letter directory's bound (`PipelineConfig::dead_letter_max_bytes`): a database that
//! rejects every record fills the dead-letter files up to the bound and no further; the records
//! past it are counted as dropped (every record still accounted for) and the bound is reported
//! once on stderr (checked in a child process: this test binary re-run in child mode), other
//! files in the directory are neither counted nor touched, and once room is made writing resumes.

use crate::common;

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture};
use actionlog::{ActionRecord, JobExecution, ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};
use common::utc;

/// A database that refuses every row as invalid.
struct Rejects;

impl Sink for Rejects {
    fn name(&self) -> &'static str {
        "rejects"
    }
    fn write<'a>(&'a mut self, _: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Err(SinkError::new(
            FailureKind::Rejected,
            "violates check constraint",
        ))))
    }
    fn write_jobs<'a>(&'a mut self, _: &'a actionlog::sink::Batch<JobExecution>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Err(SinkError::new(
            FailureKind::Rejected,
            "violates check constraint",
        ))))
    }
}

const BOUND: u64 = 8_000;

fn dead_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().unwrap().ends_with(".jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn rejected_records_past_the_bound_are_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead-letter");
    std::fs::create_dir(&dead).unwrap();
    // Not a dead-letter file: neither counted nor touched.
    std::fs::write(dead.join("README.txt"), "x".repeat(50_000)).unwrap();
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let config = PipelineConfig::default().dead_letter_max_bytes(BOUND);
    let guard = with_actions(Rejects, &dead, &clock, config.clone(), || {
        for seq in 0..100 {
            tracing::info!(action_type = "pause_job", seq);
        }
    });
    let s = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    assert_accounted(&s);
    assert_eq!(s.actions_recorded, 100);
    assert!(s.actions_dead_lettered > 0, "{s:?}");
    assert!(s.actions_dropped > 0, "{s:?}");
    assert_eq!(s.actions_dead_lettered + s.actions_dropped, 100, "{s:?}");
    let kept = dead_bytes(&dead);
    assert!(kept <= BOUND, "{kept} bytes of dead letters");
    assert_eq!(
        dead_letters_only(&dead).len() as u64,
        s.actions_dead_lettered
    );
    assert_eq!(
        std::fs::read_to_string(dead.join("README.txt"))
            .unwrap()
            .len(),
        50_000
    );

    // An operator moves the file away: the next records are kept again.
    let day = dead.join("2025-11-03.jsonl");
    std::fs::rename(&day, dir.path().join("replayed.jsonl")).unwrap();
    let guard = with_actions(Rejects, &dead, &clock, config, || {
        tracing::info!(action_type = "resume_job", seq = 100);
    });
    let s = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    assert_eq!(
        (s.actions_dead_lettered, s.actions_dropped),
        (1, 0),
        "{s:?}"
    );
}

/// The dead letters, without the README the test planted.
fn dead_letters_only(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_str().unwrap().ends_with(".jsonl") {
            std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
        }
    }
    dead_letters(tmp.path())
}

const CHILD: &str = "ACTIONLOG_DEAD_LETTER_BOUND_CHILD";

/// Child mode: 100 rejected records against the bound, so the parent can read our stderr.
#[test]
fn bound_child() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let clock = ManualClock::at(utc("2025-11-03T10:00:00Z"));
    let config = PipelineConfig::default().dead_letter_max_bytes(BOUND);
    let guard = with_actions(Rejects, std::path::Path::new(&dir), &clock, config, || {
        for seq in 0..100 {
            tracing::info!(action_type = "pause_job", seq);
        }
    });
    let s = guard.shutdown(std::time::Duration::from_secs(10)).stats;
    assert!(s.actions_dropped > 1, "{s:?}");
}

#[test]
fn the_bound_is_reported_once_not_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::rerun(module_path!(), "bound_child")
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("is at its bound").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("lost").count(), 0, "{stderr}");
}
