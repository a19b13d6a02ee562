//! The OTLP sink against a receiver that misbehaves as the OTLP/HTTP specification allows
//! (`common::otlp`, standing in for a collector): 503 with `Retry-After` in seconds, 429 with
//! it as an HTTP date, 502 and 504 are retried, the pause honoured; a reset connection and an
//! answer slower than the client's timeout are retried; a 400 for one bad record is isolated
//! by splitting and only that record dead-lettered; a partial success dead-letters its batch
//! whole, without resending it, counts the refusals and says so once. In every case nothing is
//! lost: what the receiver kept and what was dead-lettered together are every record, and the
//! counters add up.
//!
//! Each scenario runs in a child process, so that its stderr (actionlog's reports) can be
//! read: a canary credential must never appear there, nor in a dead letter.
#![cfg(feature = "otlp")]

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use actionlog::sink::otlp::OtlpSink;
use actionlog::sink::{Batch, FailureKind, Sink, SinkError, SinkFuture};
use actionlog::{ActionRecord, JobExecution, ManualClock, PipelineConfig, Stats};
use common::actions::{assert_accounted, dead_letters, with_actions};
use common::otlp::{Fault, Receiver, str_attr};

const CHILD: &str = "ACTIONLOG_OTLP_FAULTS_CHILD";
const KEY: &str = "CANARY-otlp-fault-key-9e2a";

/// Runs test `name` in a child process; returns its actionlog report lines (stderr).
fn in_child(name: &str) -> Vec<String> {
    let out = common::rerun(module_path!(), name)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("CANARY"),
        "a credential reached stderr:\n{stderr}"
    );
    stderr
        .lines()
        .filter(|l| l.starts_with("actionlog:"))
        .map(str::to_owned)
        .collect()
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn sink(rx: &Receiver, timeout: Duration) -> OtlpSink {
    let sink = OtlpSink::builder()
        .environment(false)
        .endpoint(rx.endpoint())
        .header("api-key", KEY)
        .timeout(timeout)
        .build()
        .unwrap();
    assert!(!format!("{sink:?} {}", sink.target()).contains("CANARY"));
    sink
}

/// `n` one-shot actions of `action_type` (ids unique).
fn actions(n: usize, action_type: &str) {
    for seq in 0..n {
        tracing::info!(action_type, seq, user_id = "ana");
    }
}

/// Runs `f` through an action layer delivering to `sink`; returns the final counters and the
/// dead letters.
fn run(sink: OtlpSink, f: impl FnOnce()) -> (Stats, Vec<serde_json::Value>) {
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let config = PipelineConfig::default()
        .no_spool()
        .retry_backoff(Duration::from_millis(10), Duration::from_secs(3))
        .config_retry_backoff(Duration::from_millis(10), Duration::from_millis(100));
    let guard = with_actions(sink, dead.path(), &clock, config, f);
    let done = guard.shutdown(Duration::from_secs(20));
    assert!(done.complete);
    assert_accounted(&done.stats);
    let letters = dead_letters(dead.path());
    assert_no_canary(dead.path());
    (done.stats, letters)
}

fn assert_no_canary(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            !text.contains("CANARY"),
            "a credential reached a dead letter"
        );
    }
}

/// The action ids the receiver kept.
fn kept(rx: &Receiver) -> HashSet<String> {
    rx.accepted()
        .iter()
        .map(|r| {
            str_attr(&r.attributes, "actionlog.action_id")
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Every action id the receiver was sent, kept or not.
fn sent(rx: &Receiver) -> HashSet<String> {
    rx.received()
        .iter()
        .flat_map(|r| r.records())
        .map(|r| {
            str_attr(&r.attributes, "actionlog.action_id")
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn dead_ids(letters: &[serde_json::Value]) -> HashSet<String> {
    letters
        .iter()
        .map(|l| l["record"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn retryable_answers_are_retried_honouring_retry_after() {
    if !is_child() {
        let lines = in_child("retryable_answers_are_retried_honouring_retry_after");
        // One outage, reported once, then its end.
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("WARNING: cannot deliver"))
                .count(),
            1,
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("HTTP 503: injected failure"))
        );
        return;
    }
    let rx = Receiver::start();
    let in_four_seconds = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
    rx.push(Fault::Status(503, Some("1".into())));
    rx.push(Fault::Status(429, Some(in_four_seconds)));
    rx.push(Fault::Status(502, None));
    rx.push(Fault::Status(504, None));
    let (stats, letters) = run(sink(&rx, Duration::from_secs(5)), || actions(5, "export"));
    assert_eq!(stats.actions_retried, 4, "{stats:?}");
    assert_eq!(stats.actions_delivered, stats.actions_recorded);
    assert!(letters.is_empty());
    assert_eq!(kept(&rx).len(), 5);
    let at: Vec<_> = rx.received().iter().map(|r| r.at).collect();
    // The retries came no sooner than the receiver asked (the backoff alone is ~10 ms).
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "{:?}",
        at[1] - at[0]
    );
    assert!(
        at[2] - at[1] >= Duration::from_secs(1),
        "{:?}",
        at[2] - at[1]
    );
    // Each retry resent the same records.
    let first: HashSet<String> = rx.received()[0]
        .records()
        .iter()
        .map(|r| {
            str_attr(&r.attributes, "actionlog.action_id")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(first.is_subset(&kept(&rx)));
}

/// A receiver that refuses every request whatever its records — a wrong key, a wrong path —
/// is a set-up to fix: the records are kept and retried, none dead-lettered.
#[test]
fn a_refused_key_or_a_wrong_path_keeps_the_records_until_fixed() {
    if !is_child() {
        let lines = in_child("a_refused_key_or_a_wrong_path_keeps_the_records_until_fixed");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("refuses actionlog's configuration") && l.contains("HTTP 401")),
            "{lines:?}"
        );
        return;
    }
    let rx = Receiver::start();
    rx.push(Fault::Status(401, None));
    rx.push(Fault::Status(403, None));
    rx.push(Fault::Status(404, None));
    let (stats, letters) = run(sink(&rx, Duration::from_secs(5)), || actions(4, "login"));
    assert!(letters.is_empty(), "{letters:?}");
    assert_eq!(stats.actions_delivered, stats.actions_recorded, "{stats:?}");
    let statuses: Vec<u16> = rx.received().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [401, 403, 404, 200],
        "the same batch, never split"
    );
    assert_eq!(kept(&rx).len(), 4);
}

#[test]
fn a_reset_connection_and_a_slow_answer_are_retried() {
    if !is_child() {
        let lines = in_child("a_reset_connection_and_a_slow_answer_are_retried");
        // The outage is said once, with its first cause, and its end.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("WARNING: cannot deliver") && l.contains("cannot reach")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("delivering action records to otlp again")),
            "{lines:?}"
        );
        return;
    }
    let rx = Receiver::start();
    rx.push(Fault::Reset);
    rx.push(Fault::Slow(Duration::from_secs(2)));
    let (stats, letters) = run(sink(&rx, Duration::from_millis(300)), || actions(6, "sync"));
    assert!(letters.is_empty(), "{letters:?}");
    assert_eq!(stats.actions_delivered, stats.actions_recorded);
    assert!(stats.actions_retried >= 2, "{stats:?}");
    let statuses: Vec<u16> = rx.received().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], &[0, 200], "reset, then the slow answer");
    // Every record reached the receiver; the slow answer's batch twice (it took it, then the
    // retry): `actionlog.action_id` is there to de-duplicate by.
    assert_eq!(kept(&rx), sent(&rx));
    assert_eq!(kept(&rx).len(), 6);
}

#[test]
fn a_record_the_receiver_refuses_is_isolated_and_dead_lettered() {
    if !is_child() {
        let lines = in_child("a_record_the_receiver_refuses_is_isolated_and_dead_lettered");
        assert!(
            lines.iter().all(|l| !l.contains("cannot deliver")),
            "{lines:?}"
        );
        return;
    }
    let rx = Receiver::start();
    rx.refuse_action_type("poison");
    let (stats, letters) = run(sink(&rx, Duration::from_secs(5)), || {
        actions(4, "fine");
        actions(1, "poison");
        actions(4, "fine");
    });
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["record"]["action_type"], "poison");
    let why = letters[0]["error"].as_str().unwrap();
    assert!(
        why.contains("rejected the records: HTTP 400: invalid record"),
        "{why}"
    );
    assert_eq!(letters[0]["sink"], "otlp");
    assert_eq!(stats.actions_dead_lettered, 1);
    assert_eq!(stats.actions_delivered, stats.actions_recorded - 1);
    // Not retried as it was: split, every other record kept once.
    assert_eq!(stats.actions_retried, 0);
    assert_eq!(rx.accepted().len(), 8);
    assert_eq!(kept(&rx).len(), 8);
    let all: HashSet<String> = kept(&rx).union(&dead_ids(&letters)).cloned().collect();
    assert_eq!(all, sent(&rx));
}

#[test]
fn a_partial_success_dead_letters_its_batch_without_resending_it() {
    if !is_child() {
        let lines = in_child("a_partial_success_dead_letters_its_batch_without_resending_it");
        let reports: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("took a batch of"))
            .collect();
        assert_eq!(reports.len(), 1, "{lines:?}");
        assert!(
            reports[0].contains("refused 2 of")
                && reports[0].contains("2 records are too old")
                && reports[0].contains("dead-lettered whole and not resent"),
            "{}",
            reports[0]
        );
        // A message on a full success is said once.
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("accepted the records with a message: slow down"))
                .count(),
            1,
            "{lines:?}"
        );
        return;
    }
    let rx = Receiver::start();
    rx.push(Fault::PartialSuccess(2, "2 records are too old".into()));
    rx.push(Fault::Warning("slow down".into()));
    rx.push(Fault::Warning("slow down".into()));
    let config = PipelineConfig::default().batch_size(4);
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let guard = with_actions(
        sink(&rx, Duration::from_secs(5)),
        dead.path(),
        &clock,
        config.no_spool(),
        || actions(12, "import"),
    );
    let done = guard.shutdown(Duration::from_secs(20));
    let stats = done.stats;
    assert!(done.complete);
    assert_accounted(&stats);
    assert_no_canary(dead.path());
    let letters = dead_letters(dead.path());
    let requests = rx.received();
    let first: HashSet<String> = requests[0]
        .records()
        .iter()
        .map(|r| {
            str_attr(&r.attributes, "actionlog.action_id")
                .unwrap()
                .to_owned()
        })
        .collect();
    // The whole first batch is in the dead-letter file, with the receiver's message …
    assert_eq!(dead_ids(&letters), first);
    for l in &letters {
        let why = l["error"].as_str().unwrap();
        assert!(
            why.contains("refused 2 of") && why.contains("too old"),
            "{why}"
        );
    }
    // … and was never sent again.
    for r in &requests[1..] {
        for rec in r.records() {
            let id = str_attr(&rec.attributes, "actionlog.action_id").unwrap();
            assert!(!first.contains(id), "{id} was resent");
        }
    }
    // Counted: the refusals, and the batch as dead-lettered; every record is somewhere.
    assert_eq!(stats.actions_partially_rejected, 2);
    assert_eq!(stats.actions_dead_lettered, letters.len() as u64);
    assert_eq!(stats.actions_retried, 0);
    assert_eq!(
        stats.actions_delivered + stats.actions_dead_lettered,
        stats.actions_recorded
    );
    let all: HashSet<String> = kept(&rx).union(&dead_ids(&letters)).cloned().collect();
    assert_eq!(all, sent(&rx));
    assert_eq!(all.len(), 12);
}

/// A sink whose receiver takes part of one kind of batch: actions or job runs.
struct PartOf {
    actions: bool,
}

impl Sink for PartOf {
    fn name(&self) -> &'static str {
        "part-of"
    }

    fn write<'a>(&'a mut self, _: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(self.answer(self.actions)))
    }

    fn write_jobs<'a>(&'a mut self, _: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        Box::pin(std::future::ready(self.answer(!self.actions)))
    }
}

impl PartOf {
    fn answer(&self, partial: bool) -> Result<(), SinkError> {
        if partial {
            Err(SinkError::new(
                FailureKind::PartiallyRejected { rejected: 1 },
                "refused 1",
            ))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_partial_success_of_one_kind_leaves_the_other_kind_delivered() {
    for actions in [true, false] {
        let dead = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
        let guard = common::jobs::with_jobs(
            PartOf { actions },
            dead.path(),
            &clock,
            "info",
            4096,
            || common::jobs::workload(&clock),
        );
        let stats = guard.shutdown(Duration::from_secs(10)).stats;
        assert_accounted(&stats);
        let letters = dead_letters(dead.path());
        assert!(!letters.is_empty());
        // Only the refused kind is dead-lettered; the other was delivered, not lost with it.
        let jobs = letters
            .iter()
            .filter(|l| l["record"]["_table"] == "job_executions")
            .count();
        if actions {
            assert_eq!(jobs, 0, "{letters:?}");
        } else {
            assert_eq!(jobs, letters.len(), "{letters:?}");
        }
        assert_eq!(
            stats.actions_delivered + stats.actions_dead_lettered,
            stats.actions_recorded,
            "{stats:?}"
        );
        assert!(stats.actions_delivered > 0 && stats.actions_partially_rejected > 0);
    }
}
