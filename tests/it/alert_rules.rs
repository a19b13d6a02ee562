//! The alert engine over SQLite with a manual clock and a loopback webhook the test owns:
//! every default rule fires once, repeats at its interval, resolves once; a dead-letter file
//! that grows is notified at once; the throttle holds back past its cap, counts, and says so.
#![cfg(all(feature = "alert", feature = "sqlite"))]

use crate::common;

use actionlog::ManualClock;
use actionlog::query::Target;
use chrono::Duration;
use common::alert::{self as a, all_six, events, firing, pass};
use common::webhook::Receiver;

fn names(list: &[(String, String)], event: &str) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(r, s)| (event.to_owned(), r.clone(), s.clone()))
        .collect()
}

#[test]
fn every_rule_fires_once_repeats_at_its_interval_and_resolves_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let db = a::sqlite_store(dir.path(), &a::firing_sql());
    a::dead_letters(&logs);
    let hook = Receiver::start();
    let clock = ManualClock::at(a::t0());
    let target = Target::Sqlite(db.clone());
    let notify = format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
        hook.base
    );
    let mut e = a::engine(
        &target,
        &logs,
        &logs.join("alert-state.json"),
        &clock,
        &notify,
    );
    let rt = a::rt();

    // Pass 1: the five rules over the store and the dead letters; the spool's first size.
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    let five: Vec<_> = all_six()
        .into_iter()
        .filter(|(r, _)| r != "spool_growing")
        .collect();
    assert_eq!(firing(&r), five);
    assert_eq!(events(&r.events), names(&five, "firing"));
    assert_eq!(r.delivered, 5);
    // Pass 2: the spool grew once; nothing new.
    clock.advance(Duration::minutes(1));
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    assert!(r.events.is_empty(), "{:?}", r.events);
    // Pass 3: grown on two passes in a row.
    clock.advance(Duration::minutes(1));
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    assert_eq!(
        events(&r.events),
        names(&[("spool_growing".into(), "spool".into())], "firing")
    );
    assert_eq!(firing(&r), all_six());
    let fired = events(&hook.delivered());
    assert_eq!(fired, names(&all_six(), "firing"), "each rule fired once");

    // Each payload as documented.
    let p = hook
        .delivered()
        .into_iter()
        .find(|p| p["rule"] == "failure_rate")
        .unwrap();
    assert_eq!(p["version"], 1);
    assert_eq!(p["kind"], "failure_rate");
    assert_eq!(p["details"]["failed"], 10);
    assert_eq!(
        p["details"]["finished"], 15,
        "initiated actions are not finished"
    );
    assert_eq!(p["started_at"], "2026-11-03T12:20:00.000000Z");
    assert!(p["resolved_at"].is_null());
    assert_eq!(p["store"], db.display().to_string());
    let hit = hook.hits().into_iter().find(|h| h.body == p).unwrap();
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hook");
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("idempotency-key"), p["id"].as_str());

    // 11 minutes in: the five started at T0 are due (10 minutes), the spool's (started at
    // +2) not yet; it is at 12.
    clock.set(a::t0() + Duration::minutes(11));
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    assert_eq!(events(&r.events), names(&five, "repeat"));
    clock.advance(Duration::minutes(1));
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    assert_eq!(
        events(&r.events),
        names(&[("spool_growing".into(), "spool".into())], "repeat")
    );
    clock.advance(Duration::minutes(1));
    a::grow_spool(&logs);
    let r = pass(&rt, &mut e);
    assert!(r.events.is_empty(), "nothing due: {:?}", r.events);

    // Everything made right: six resolved, once.
    clock.set(a::t0() + Duration::minutes(14));
    a::sqlite_exec(&db, &a::fixed_sql(clock_now(&clock)));
    std::fs::remove_file(logs.join("dead-letter/2026-11-03.jsonl")).unwrap();
    let r = pass(&rt, &mut e);
    assert_eq!(events(&r.events), names(&all_six(), "resolved"));
    assert!(r.firing.is_empty());
    for p in &r.events {
        assert_eq!(p["resolved_at"], "2026-11-03T12:34:00.000000Z");
    }
    clock.advance(Duration::minutes(10));
    let r = pass(&rt, &mut e);
    assert!(r.events.is_empty() && r.firing.is_empty(), "{:?}", r.events);
    // And the dead man's switch trips again once nothing new comes for 30 minutes.
    clock.advance(Duration::minutes(21));
    let r = pass(&rt, &mut e);
    assert_eq!(
        events(&r.events),
        names(&[("silence".into(), "store".into())], "firing")
    );

    let all = hook.delivered();
    let count = |ev: &str| all.iter().filter(|p| p["event"] == ev).count();
    assert_eq!(
        (count("firing"), count("repeat"), count("resolved")),
        (7, 6, 6)
    );
    let mut ids: Vec<_> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "every notification has its own id");
}

fn clock_now(c: &ManualClock) -> chrono::DateTime<chrono::Utc> {
    use actionlog::Clock;
    c.now()
}

#[test]
fn dead_letters_that_grow_are_notified_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let db = a::sqlite_store(dir.path(), "");
    a::dead_letters(&logs);
    let clock = ManualClock::at(a::t0());
    // The empty store is silent: only the dead letters are looked at here.
    let mut config = a::rules("");
    for r in &mut config.rules {
        r.enabled = r.name == "dead_letters";
    }
    let mut e = actionlog::alert::Engine::builder(Target::Sqlite(db))
        .config(config)
        .log_dir(&logs)
        .clock(clock.clone())
        .build()
        .unwrap();
    let rt = a::rt();
    let r = pass(&rt, &mut e);
    assert_eq!(
        events(&r.events),
        names(&[("dead_letters".into(), "dead_letters".into())], "firing")
    );
    assert_eq!(r.events[0]["details"]["records"], 2);
    clock.advance(Duration::minutes(1));
    assert!(pass(&rt, &mut e).events.is_empty());
    std::fs::write(logs.join("dead-letter/2026-11-04.jsonl"), "{}\n").unwrap();
    clock.advance(Duration::minutes(1));
    let r = pass(&rt, &mut e);
    assert_eq!(
        events(&r.events),
        names(&[("dead_letters".into(), "dead_letters".into())], "grew")
    );
    assert_eq!(r.events[0]["details"]["records"], 3);
    clock.advance(Duration::minutes(1));
    assert!(pass(&rt, &mut e).events.is_empty(), "the same count again");
}

#[test]
fn the_throttle_holds_back_past_its_cap_counts_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let db = a::sqlite_store(dir.path(), &a::firing_sql());
    a::dead_letters(&logs);
    let hook = Receiver::start();
    let clock = ManualClock::at(a::t0());
    let extra = format!(
        "[[notify]]\nkind = \"webhook\"\nurl = \"{}/h\"\n",
        hook.base
    );
    // The test rules with a cap of 2 per hour: a second [alert] table cannot be added, so the
    // settings are changed on the parsed config.
    let mut config = a::rules(&extra);
    config.settings.max_notifications = 2;
    let mut e = actionlog::alert::Engine::builder(Target::Sqlite(db))
        .config(config)
        .log_dir(&logs)
        .clock(clock.clone())
        .build()
        .unwrap();
    let rt = a::rt();
    let r = pass(&rt, &mut e);
    assert_eq!(r.firing.len(), 5);
    assert_eq!((r.events.len(), r.suppressed), (2, 3));
    assert_eq!(e.state().throttle.total_suppressed, 3);
    // The repeats at 10 minutes: all held back, the interval being full.
    clock.advance(Duration::minutes(10));
    let r = pass(&rt, &mut e);
    assert_eq!((r.events.len(), r.suppressed), (0, 5));
    // A new interval opens with a summary of what was held back and what is firing, and the
    // next notification sent carries the count held back since the last one.
    clock.advance(Duration::minutes(55));
    let r = pass(&rt, &mut e);
    let summary = &r.events[0];
    assert_eq!(summary["event"], "throttled");
    assert_eq!(summary["details"]["held_back"], 8);
    // What is firing now: the failure rate's window has moved past the failures.
    assert_eq!(summary["details"]["firing"].as_array().unwrap().len(), 4);
    assert_eq!(summary["suppressed"], 8);
    assert_eq!(
        r.events.len(),
        2,
        "the summary and one more, within the cap"
    );
    assert_eq!(r.events[1]["suppressed"], 0);
    let delivered = hook.delivered();
    assert_eq!(delivered.len(), 4);
    assert_eq!(delivered[2]["event"], "throttled");
}
