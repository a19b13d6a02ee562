//! Built without the embedded store (`default-features = false, features = ["postgres"]`) and
//! with no database URL, action records have nowhere to go: `init` still succeeds (logging
//! never fails the app) but says so on stderr, naming what would give them a store. This
//! build is not the test suite's (which has every feature): `.ci/run` runs this file with
//! `cargo test --no-default-features --features postgres --test no_store`.
#![cfg(all(
    feature = "postgres",
    not(feature = "sqlite"),
    not(feature = "supabase")
))]

use std::process::Command;

const CHILD: &str = "ACTIONLOG_NO_STORE_CHILD";

#[test]
fn no_store_is_said_at_start() {
    if let Ok(dir) = std::env::var(CHILD) {
        let guard = actionlog::builder()
            .log_dir(dir)
            .console(false)
            .signals(false)
            .init()
            .unwrap();
        tracing::info!(action_type = "nowhere");
        drop(guard);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "no_store_is_said_at_start", "--nocapture"])
        .env(CHILD, dir.path());
    for var in ["ACTIONLOG_DATABASE_URL", "DATABASE_URL", "SUPABASE_URL"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("actionlog:"))
        .collect();
    assert_eq!(ours.len(), 1, "{stderr}");
    assert!(
        ours[0].starts_with(
            "actionlog: action records and job runs are not recorded: no store is configured"
        ),
        "{stderr}"
    );
    assert!(ours[0].contains("ACTIONLOG_DATABASE_URL"), "{stderr}");
}
