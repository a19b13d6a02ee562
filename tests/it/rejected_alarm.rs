//! A store that rejects every record (a table whose types or constraints do not match) is
//! reported as a store problem, once, when 100 records in a row have been rejected and
//! dead-lettered — not left to look like a few bad records — and every record is still kept.

use crate::common;

use std::time::Duration;

use actionlog::sink::{FailureKind, Sink, SinkError, SinkFuture};
use actionlog::{ActionRecord, ManualClock, PipelineConfig};
use common::actions::{assert_accounted, dead_letters, with_actions};

const CHILD: &str = "ACTIONLOG_REJECTED_ALARM_CHILD";
const NAME: &str = "every_record_rejected_is_reported_once_as_a_store_problem";
const RECORDS: u64 = 250;

/// Rejects every batch, as a CHECK constraint the rows never meet would.
struct RejectsAll;

impl Sink for RejectsAll {
    fn name(&self) -> &'static str {
        "rejects-all"
    }
    fn write<'a>(&'a mut self, _: &'a actionlog::sink::Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(Err(SinkError::new(
            FailureKind::Rejected,
            "new row violates check constraint \"action_type_ck\" (23514)",
        ))))
    }
}

fn child(dir: &str) {
    let dir = std::path::Path::new(dir);
    let dead = dir.join("dead-letter");
    let guard = with_actions(
        RejectsAll,
        &dead,
        &ManualClock::at(common::utc("2026-03-01T12:00:00Z")),
        PipelineConfig::default().no_spool().batch_size(50),
        || {
            for seq in 0..RECORDS {
                tracing::info!(action_type = "order", seq);
            }
        },
    );
    let s = guard.shutdown(Duration::from_secs(30)).stats;
    assert_accounted(&s);
    assert_eq!(s.actions_dead_lettered, RECORDS, "{s:?}");
    assert_eq!(dead_letters(&dead).len() as u64, RECORDS);
}

#[test]
fn every_record_rejected_is_reported_once_as_a_store_problem() {
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
    let alarms: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("records in a row rejected"))
        .collect();
    assert_eq!(alarms.len(), 1, "{stderr}");
    assert!(
        alarms[0].contains("23514") && alarms[0].contains("table"),
        "{}",
        alarms[0]
    );
}
