//! The shutdown recipe of `examples/graceful_shutdown.rs` under a real SIGTERM: a child process
//! (this test binary, re-run in child mode) emits actions until it is signalled, then shuts the
//! guard down; with a healthy database every action it emitted is a row, and every line is in
//! its day file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD: &str = "ACTIONLOG_SIGTERM_CHILD";

/// Child mode: the recipe itself.
fn child(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let guard = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .panic_hook(false)
            .init()
            .unwrap();
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
        let done = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5)))
            .await
            .unwrap();
        println!(
            "emitted {n} delivered {} complete {}",
            done.stats.actions_delivered, done.complete
        );
    });
}

#[test]
fn sigterm_with_the_recipe_loses_nothing() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigterm_with_the_recipe_loses_nothing",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut line = String::new();
    // Wait (no timer: reading blocks until the child says so) until it has emitted 50 actions.
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
    let pid = proc.id() as i32;
    // `kill(1)` rather than libc::kill: the crate keeps `#![deny(unsafe_code)]` in tests too.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
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
    let parts: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(parts.len(), 6, "{report:?}");
    let (emitted, delivered): (u64, u64) = (parts[1].parse().unwrap(), parts[3].parse().unwrap());
    assert_eq!(parts[5], "true", "{report}");
    assert!(emitted > 50);
    assert_eq!(delivered, emitted, "{report}");
    let rows: i64 = rusqlite::Connection::open(dir.path().join("actions.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM action_logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as u64, emitted);
    let lines = common::day_files(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum::<usize>();
    assert_eq!(
        lines as u64, emitted,
        "every action event is also a file line"
    );
}
