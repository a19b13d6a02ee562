//! The shutdown recipe of `examples/graceful_shutdown.rs` under a real SIGTERM: a child process
//! (this test binary, re-run in child mode) emits actions until it is signalled, then shuts the
//! guard down. With a healthy database every action it emitted is a row and every line is in its
//! day file; with the database unreachable it still exits within its deadline, leaving the
//! records in the spool, and the next start delivers them.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD: &str = "ACTIONLOG_SIGTERM_CHILD";
/// In child mode: deliver to PostgreSQL at this URL instead of SQLite.
const CHILD_DB: &str = "ACTIONLOG_SIGTERM_DB";

/// Child mode: the recipe itself.
fn child(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let builder = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .panic_hook(false);
        #[cfg(feature = "postgres")]
        let builder = match std::env::var(CHILD_DB) {
            Ok(url) => builder.database_url(url),
            Err(_) => builder,
        };
        let guard = builder.init().unwrap();
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        let emitted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = emitted.clone();
        let work = tokio::spawn(async move {
            for seq in 0u64.. {
                tracing::info!(action_type = "scheduled_job_execution", seq);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seq == 50 {
                    println!("ready");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        // A child whose parent went wrong must not run forever.
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => println!("no signal came"),
        }
        work.abort();
        let _ = work.await;
        let n = emitted.load(std::sync::atomic::Ordering::SeqCst);
        let done = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(3)))
            .await
            .unwrap();
        println!(
            "emitted {n} delivered {} spooled {} complete {}",
            done.stats.actions_delivered, done.stats.actions_spooled, done.complete
        );
    });
}

struct Report {
    emitted: u64,
    delivered: u64,
    spooled: u64,
    complete: bool,
}

/// Runs test `name` of this binary as a child writing into `dir` (and the database `db`, if
/// given), SIGTERMs it once it has emitted 50 actions, and returns its report.
fn run_child(name: &str, dir: &Path, db: Option<&str>) -> Report {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, dir).stdout(Stdio::piped());
    if let Some(url) = db {
        cmd.env(CHILD_DB, url);
    }
    let mut proc = cmd.spawn().unwrap();
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut line = String::new();
    // Wait (no timer: reading blocks until the child says so) until it is busy.
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before it was ready"
        );
        // libtest may have printed "test … ... " on the same line first.
        if line.trim_end().ends_with("ready") {
            break;
        }
    }
    // `kill(1)` rather than libc::kill: the crate keeps `#![deny(unsafe_code)]` in tests too.
    assert!(
        Command::new("kill")
            .args(["-TERM", &proc.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut report = String::new();
    for l in out.lines() {
        let l = l.unwrap();
        if l.starts_with("emitted ") {
            report = l;
        }
    }
    assert!(proc.wait().unwrap().success());
    let w: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(w.len(), 8, "{report:?}");
    Report {
        emitted: w[1].parse().unwrap(),
        delivered: w[3].parse().unwrap(),
        spooled: w[5].parse().unwrap(),
        complete: w[7] == "true",
    }
}

#[test]
fn sigterm_with_the_recipe_loses_nothing() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run_child("sigterm_with_the_recipe_loses_nothing", dir.path(), None);
    assert!(r.complete && r.emitted > 50);
    assert_eq!((r.delivered, r.spooled), (r.emitted, 0));
    let rows: i64 = rusqlite::Connection::open(dir.path().join("actions.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as u64, r.emitted);
    let lines = common::day_files(dir.path())
        .iter()
        .map(|p| common::day_text(p).lines().count())
        .sum::<usize>();
    assert_eq!(
        lines as u64, r.emitted,
        "every action event is also a file line"
    );
}

#[cfg(feature = "postgres")]
#[test]
fn sigterm_with_the_database_down_spools_for_the_next_start() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let Some(db) = common::pg::TestDb::new("sigterm") else {
        return;
    };
    let proxy = common::proxy::Proxy::start(common::proxy::upstream_of(&db.url), false);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "{}?options=-c%20search_path%3D{}",
        proxy.url(&db.url),
        db.schema
    );
    let r = run_child(
        "sigterm_with_the_database_down_spools_for_the_next_start",
        dir.path(),
        Some(&url),
    );
    // Exited within its deadline, everything in the spool.
    assert!(r.complete && r.emitted > 50);
    assert_eq!((r.delivered, r.spooled), (0, r.emitted));

    // The next start (here: an action layer on the same spool, database reachable) delivers it.
    let clock = actionlog::ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let config = actionlog::PipelineConfig::default()
        .no_spool()
        .spool_dir(dir.path().join("spool"));
    let guard = common::actions::with_actions(
        db.sink(),
        &dir.path().join("dead-letter"),
        &clock,
        config,
        || {},
    );
    assert!(guard.flush());
    let s = guard.stats();
    assert_eq!(
        (s.actions_replayed, s.actions_delivered),
        (r.emitted, r.emitted)
    );
    assert_eq!(db.count("") as u64, r.emitted);
}
