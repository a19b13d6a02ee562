//! Delivery and state: a restart (a new engine over the same state file) notifies nothing
//! again; a webhook that is down is tried within the bound, reported, and gets the
//! notification on a later pass, once; the command notifier gets the JSON on its stdin; the
//! Slack payload's shape; a webhook URL's secrets reach no output.
#![cfg(all(feature = "alert", feature = "sqlite"))]

use crate::common;

use actionlog::ManualClock;
use actionlog::alert::Engine;
use actionlog::query::Target;
use chrono::Duration;
use common::alert::{self as a, events, pass};
use common::webhook::Receiver;

const CANARY: &str = "CANARY-hook-5e1f";

struct Setup {
    _dir: tempfile::TempDir,
    logs: std::path::PathBuf,
    target: Target,
    state: std::path::PathBuf,
    clock: ManualClock,
}

/// The firing data set in a SQLite store (dead letters too; no spool).
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let db = a::sqlite_store(dir.path(), &a::firing_sql());
    a::dead_letters(&logs);
    Setup {
        state: logs.join("alert-state.json"),
        logs,
        target: Target::Sqlite(db),
        clock: ManualClock::at(a::t0()),
        _dir: dir,
    }
}

impl Setup {
    fn engine(&self, extra: &str) -> Engine {
        a::engine(&self.target, &self.logs, &self.state, &self.clock, extra)
    }
}

fn webhook(hook: &Receiver) -> String {
    format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"{}/services/{CANARY}?token={CANARY}\"\n",
        hook.base
    )
}

#[test]
fn a_restart_notifies_nothing_twice() {
    let s = setup();
    let hook = Receiver::start();
    let rt = a::rt();
    let mut e = s.engine(&webhook(&hook));
    let first = pass(&rt, &mut e);
    assert_eq!(first.events.len(), 5);
    // Only one engine per state file: a second is refused while the first holds it.
    let err = Engine::builder(s.target.clone())
        .state_file(&s.state)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("another alert watcher"), "{err}");
    drop(e);

    // Restarted at once, and again a few minutes later: nothing new to say.
    for minutes in [0, 5] {
        s.clock.set(a::t0() + Duration::minutes(minutes));
        let mut e = s.engine(&webhook(&hook));
        let r = pass(&rt, &mut e);
        assert!(r.events.is_empty(), "after a restart: {:?}", r.events);
        assert_eq!(r.firing.len(), 5);
    }
    // Restarted after the repeat interval: each repeat once, as without the restart.
    s.clock.set(a::t0() + Duration::minutes(11));
    let mut e = s.engine(&webhook(&hook));
    assert_eq!(pass(&rt, &mut e).events.len(), 5);
    drop(e);
    let mut e = s.engine(&webhook(&hook));
    assert!(pass(&rt, &mut e).events.is_empty());
    assert_eq!(hook.delivered().len(), 10);
}

#[test]
fn a_webhook_that_is_down_is_retried_within_the_bound_and_gets_it_later_once() {
    let s = setup();
    let hook = Receiver::start();
    hook.set_down(true);
    let rt = a::rt();
    let mut e = s.engine(&webhook(&hook));
    let r = pass(&rt, &mut e);
    assert_eq!(r.events.len(), 5);
    assert_eq!(r.delivered, 0);
    assert_eq!(r.pending, 5);
    // Three tries (the rule file's `attempts`) of the oldest, then the notifier is left for
    // this pass: the other four were not tried.
    assert_eq!(hook.hits().len(), 3);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].attempts, 3);
    assert!(r.failures[0].error.contains("HTTP 503"), "{:?}", r.failures);
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("kept for the next pass")),
        "{:?}",
        r.problems
    );
    // Kept in the state file, a restart included.
    drop(e);
    let kept = actionlog::alert::State::load(&s.state).unwrap().unwrap();
    assert_eq!(kept.pending.len(), 5);
    assert_eq!(kept.pending[0].attempts, 3);

    // Still down on the next pass: tried again, kept again.
    s.clock.advance(Duration::minutes(1));
    let mut e = s.engine(&webhook(&hook));
    let r = pass(&rt, &mut e);
    assert!(r.events.is_empty());
    assert_eq!((r.pending, hook.hits().len()), (5, 6));

    // Up again: every one delivered, once, in order; nothing left.
    hook.set_down(false);
    s.clock.advance(Duration::minutes(1));
    let r = pass(&rt, &mut e);
    assert_eq!((r.delivered, r.pending), (5, 0));
    assert!(r.failures.is_empty());
    let got = hook.delivered();
    assert_eq!(events(&got).len(), 5);
    let mut ids: Vec<_> = got.iter().map(|p| p["id"].clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5, "none twice");
    s.clock.advance(Duration::minutes(1));
    assert_eq!(pass(&rt, &mut e).delivered, 0);
    assert_eq!(hook.delivered().len(), 5);
}

#[test]
fn webhook_secrets_reach_no_output() {
    let s = setup();
    let hook = Receiver::start();
    hook.set_down(true);
    let rt = a::rt();
    let mut e = s.engine(&webhook(&hook));
    let r = pass(&rt, &mut e);
    assert!(!r.failures.is_empty());
    let shown = format!(
        "{r:?} {e:?} {:?} {}",
        e.config(),
        std::fs::read_to_string(&s.state).unwrap()
    );
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(
        shown.contains(&format!("{}/[REDACTED]", hook.base)),
        "{shown}"
    );
    // The request itself carried the secret: it is the receiver's to see.
    assert!(hook.hits()[0].path.contains(CANARY));
}

#[test]
fn the_command_notifier_gets_the_json_on_its_stdin() {
    let s = setup();
    let out = s.logs.join("got.jsonl");
    let rt = a::rt();
    let cmd = format!(
        "[[notify]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\ntimeout = \"10s\"\n",
        out.display()
    );
    let mut e = s.engine(&cmd);
    let r = pass(&rt, &mut e);
    assert_eq!((r.delivered, r.pending), (5, 0), "{:?}", r.problems);
    let text = std::fs::read_to_string(&out).unwrap();
    let got: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, r.events, "one JSON line per notification, as made");

    // A command that fails, or outlives its timeout, is a failed delivery, kept.
    let failing = "[[notify]]\nkind = \"command\"\nname = \"pager\"\ncommand = [\"sh\", \"-c\", \"cat > /dev/null; exit 3\"]\n";
    drop(e);
    let s2 = setup();
    let mut e = s2.engine(failing);
    let r = pass(&rt, &mut e);
    assert_eq!(r.pending, 5);
    assert!(r.failures[0].error.contains("exit"), "{:?}", r.failures);
    let slow =
        "[[notify]]\nkind = \"command\"\ncommand = [\"sleep\", \"30\"]\ntimeout = \"100ms\"\n";
    drop(e);
    let s3 = setup();
    let mut e = s3.engine(slow);
    let r = pass(&rt, &mut e);
    assert!(r.failures[0].error.contains("timeout"), "{:?}", r.failures);
}

#[test]
fn the_slack_payload_has_text_and_blocks() {
    let s = setup();
    let hook = Receiver::start();
    let rt = a::rt();
    let slack = format!(
        "[[notify]]\nkind = \"slack\"\nurl = \"{}/services/T000/B000/{CANARY}\"\n",
        hook.base
    );
    let mut e = s.engine(&slack);
    let r = pass(&rt, &mut e);
    assert_eq!(r.delivered, 5);
    for (hit, made) in hook.hits().iter().zip(&r.events) {
        let b = &hit.body;
        let text = b["text"].as_str().unwrap();
        assert!(text.contains("FIRING"), "{text}");
        assert!(text.contains(made["summary"].as_str().unwrap()), "{text}");
        let blocks = b["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        assert_eq!(blocks[1]["type"], "context");
        assert!(
            blocks[1]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains(made["id"].as_str().unwrap())
        );
        assert_eq!(b.as_object().unwrap().len(), 2, "text and blocks only");
    }
}
