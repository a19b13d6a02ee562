//! `stats` percentiles: p50/p95 per action type and per job are `percentile_disc` — the
//! smallest duration whose share of rows reaches p — computed by PostgreSQL's own
//! `percentile_disc` (directly and in `actionlog_stats` of `migrations/0003_query.sql`, through
//! the PostgREST double) and by SQLite from a histogram; both must equal the nearest-rank value
//! computed here from the same rows (ties and a NULL duration included), and the time range
//! must bound every section.
#![cfg(feature = "cli")]

use crate::common;
use crate::common::cli;

use std::collections::BTreeMap;

const TYPES: [&str; 3] = ["pause_job", "run_job_now", "ticker_backfill"];

fn duration(i: usize) -> f64 {
    ((i * 7) % 101) as f64 / 1000.0
}

/// 200 actions over three types (one without a duration) and 120 runs of two jobs, at
/// 2026-11-03 10:00 + i seconds; then two old rows the range leaves out.
fn fixture() -> String {
    let actions: Vec<String> = (0..200)
        .map(|i| {
            let d = if i == 5 {
                "NULL".to_owned()
            } else {
                duration(i).to_string()
            };
            format!(
                "('{}', '2026-11-03T10:{:02}:{:02}.000000Z', '{}', 'completed', {d})",
                cli::id(i),
                i / 60,
                i % 60,
                TYPES[i % 3]
            )
        })
        .collect();
    let runs: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "('{}', 'job_{}', '{}', '2026-11-03T10:{:02}:{:02}.000000Z', {})",
                cli::id(1000 + i),
                i % 2,
                if i % 7 == 0 { "failed" } else { "success" },
                i / 60,
                i % 60,
                duration(i * 3)
            )
        })
        .collect();
    format!(
        "INSERT INTO action_logs (id, action_timestamp, action_type, status, request_duration_seconds) VALUES {},
           ('{}', '2026-10-01T00:00:00.000000Z', 'pause_job', 'failed', 99.0);
         INSERT INTO job_executions (id, job_id, status, started_at, duration_seconds) VALUES {},
           ('{}', 'job_0', 'failed', '2026-10-01T00:00:00.000000Z', 99.0);",
        actions.join(", "),
        cli::id(900),
        runs.join(", "),
        cli::id(2000),
    )
}

/// Nearest rank: the value at position ceil(p·n) of the sorted values.
fn disc(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((p * v.len() as f64).ceil() as usize).max(1) - 1]
}

fn expected() -> BTreeMap<String, (i64, f64, f64)> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for i in (0..200).filter(|i| *i != 5) {
        by.entry(TYPES[i % 3].to_owned())
            .or_default()
            .push(duration(i));
    }
    for i in 0..120 {
        by.entry(format!("job_{}", i % 2))
            .or_default()
            .push(duration(i * 3));
    }
    by.into_iter()
        .map(|(k, v)| (k, (v.len() as i64, disc(v.clone(), 0.5), disc(v, 0.95))))
        .collect()
}

fn got(dir: &std::path::Path, env: &[(&str, &str)]) -> BTreeMap<String, (i64, f64, f64)> {
    let rows = cli::json(
        dir,
        &["stats", "--since", "2026-11-03", "--until", "2026-11-04"],
        env,
    );
    let mut out = BTreeMap::new();
    for r in cli::section(&rows, "action_durations") {
        out.insert(
            r["action_type"].as_str().unwrap().to_owned(),
            (
                r["timed"].as_i64().unwrap(),
                r["p50_seconds"].as_f64().unwrap(),
                r["p95_seconds"].as_f64().unwrap(),
            ),
        );
    }
    for r in cli::section(&rows, "job_success_rate") {
        out.insert(
            r["job_id"].as_str().unwrap().to_owned(),
            (
                r["total"].as_i64().unwrap(),
                r["p50_seconds"].as_f64().unwrap(),
                r["p95_seconds"].as_f64().unwrap(),
            ),
        );
    }
    // The old rows are outside the range: no failed action, 99 s nowhere.
    assert!(cli::section(&rows, "failed_actions").is_empty());
    out
}

#[test]
fn sqlite_percentiles_are_percentile_disc() {
    let dir = tempfile::tempdir().unwrap();
    cli::sqlite_store(dir.path(), &fixture());
    assert_eq!(got(dir.path(), &[]), expected());
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_percentiles_are_percentile_disc() {
    let Some(db) = common::pg::TestDb::new("cli_pct") else {
        return;
    };
    // With the rollups, which `stats` then reads: the percentiles come from their histogram.
    for m in ["0001_action_logs.sql", "0002_jobs.sql", "0004_rollups.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    db.psql(&fixture());
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        got(dir.path(), &[("DATABASE_URL", url.as_str())]),
        expected()
    );
}

/// The same through the REST API: `actionlog_stats` of `migrations/0004_rollups.sql`.
#[cfg(all(feature = "postgres", feature = "supabase"))]
#[test]
fn supabase_percentiles_are_percentile_disc() {
    let Some(db) = common::pg::TestDb::new("cli_pct_sb") else {
        return;
    };
    // 0004 replaces 0003's `actionlog_stats` with its rollup reading version.
    for m in [
        "0001_action_logs.sql",
        "0002_jobs.sql",
        "0003_query.sql",
        "0004_rollups.sql",
    ] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    db.psql(&fixture());
    let double = common::postgrest::Double::start(&db.url, &db.schema, "k");
    let dir = tempfile::tempdir().unwrap();
    let env = [("SUPABASE_URL", double.url.as_str()), ("SUPABASE_KEY", "k")];
    assert_eq!(got(dir.path(), &env), expected());
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}
