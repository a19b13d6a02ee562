//! The alert rules over the three stores agree: the same data in SQLite, in PostgreSQL (the
//! real server, a schema of its own, every migration: the failure rate read from the hourly
//! rollups) and behind the Supabase double (the same schema through PostgREST's `GET`s) gives
//! the same incidents with the same summaries — and, made right, resolves them all alike.
#![cfg(all(
    feature = "alert",
    feature = "sqlite",
    feature = "postgres",
    feature = "supabase"
))]

use crate::common;

use actionlog::ManualClock;
use actionlog::alert::PassReport;
use actionlog::query::Target;
use chrono::Duration;
use common::alert::{self as a, pass};
use common::pg::TestDb;
use common::postgrest::Double;

const KEY: &str = "CANARY-alert-sb-71c2";

fn seen(r: &PassReport) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .firing
        .iter()
        .map(|i| (i.rule.clone(), i.subject.clone(), i.summary.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn sqlite_postgres_and_supabase_give_the_same_incidents() {
    let Some(db) = TestDb::new("alert_stores") else {
        return;
    };
    db.migrate(&[
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0003_query.sql",
        "0004_rollups.sql",
        "0005_hourly_rollups.sql",
        "0006_trace_context.sql",
    ]);
    let pg_exec = |sql: &str| db.exec(&format!("SET search_path TO {}; {sql}", db.schema));
    pg_exec(&a::firing_sql());
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let sqlite = a::sqlite_store(dir.path(), &a::firing_sql());
    a::dead_letters(&logs);
    let double = Double::start(&db.url, &db.schema, KEY);
    let targets = [
        ("sqlite", Target::Sqlite(sqlite.clone())),
        ("postgres", db.query_target()),
        (
            "supabase",
            Target::Supabase {
                url: double.url.clone(),
                key: KEY.into(),
            },
        ),
    ];
    let clock = ManualClock::at(a::t0());
    let rt = a::rt();
    // One log directory (the same dead letters), a state file each.
    let mut engines: Vec<_> = targets
        .iter()
        .map(|(name, t)| a::engine(t, &logs, &logs.join(format!("{name}.json")), &clock, ""))
        .collect();

    let reports: Vec<PassReport> = engines.iter_mut().map(|e| pass(&rt, e)).collect();
    let five: Vec<_> = a::all_six()
        .into_iter()
        .filter(|(r, _)| r != "spool_growing")
        .collect();
    let rules = |r: &PassReport| {
        seen(r)
            .into_iter()
            .map(|(r, s, _)| (r, s))
            .collect::<Vec<_>>()
    };
    assert_eq!(rules(&reports[0]), five);
    for (r, (name, _)) in reports.iter().zip(&targets) {
        assert_eq!(seen(r), seen(&reports[0]), "{name} agrees with sqlite");
        let rate = r.firing.iter().find(|i| i.rule == "failure_rate").unwrap();
        assert_eq!(
            (&rate.details["failed"], &rate.details["finished"]),
            (&serde_json::json!(10), &serde_json::json!(15)),
            "{name}"
        );
    }
    assert!(double.violations().is_empty(), "{:?}", double.violations());

    // Made right in both databases: every store resolves the same incidents.
    clock.set(a::t0() + Duration::minutes(14));
    let now = a::t0() + Duration::minutes(14);
    pg_exec(&a::fixed_sql(now));
    a::sqlite_exec(&sqlite, &a::fixed_sql(now));
    std::fs::remove_file(logs.join("dead-letter/2026-11-03.jsonl")).unwrap();
    for (e, (name, _)) in engines.iter_mut().zip(&targets) {
        let r = pass(&rt, e);
        assert!(r.firing.is_empty(), "{name}: {:?}", r.firing);
        let mut resolved: Vec<_> = r
            .events
            .iter()
            .map(|p| {
                (
                    p["event"].as_str().unwrap().to_owned(),
                    p["rule"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        resolved.sort();
        let want: Vec<_> = five
            .iter()
            .map(|(r, _)| ("resolved".to_owned(), r.clone()))
            .collect();
        assert_eq!(resolved, want, "{name}");
    }
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}
