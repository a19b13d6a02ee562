//! Where action records go is said in one line at start — store kind, database and table,
//! and the variable that chose it, never a password — and `ACTIONLOG_DATABASE_URL` comes
//! before `DATABASE_URL`, which is often the application's own database. Each case is a child
//! process (`init` once per process, its environment its own).

use crate::common;

use std::path::Path;

#[cfg(feature = "postgres")]
use common::pg::TestDb;

const CHILD: &str = "ACTIONLOG_STORE_CHOICE_CHILD";

/// Child mode: `init` with the defaults (plus `migrate`), one action, guard dropped.
fn child(dir: &str) {
    let guard = actionlog::builder()
        .log_dir(dir)
        .console(false)
        .signals(false)
        .migrate(true)
        .init()
        .unwrap();
    tracing::info!(action_type = "store_choice_probe", user_id = "ana");
    drop(guard);
}

/// Runs test `name` as a child with `env`; returns its stderr lines from actionlog.
fn run(name: &str, dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, dir);
    for var in [
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the child failed:\n{stderr}");
    // With the `opentelemetry` feature, `init`'s subscriber (without an OpenTelemetry layer)
    // is also reported; that line is not about the store.
    stderr
        .lines()
        .filter(|l| l.starts_with("actionlog:") && !l.contains("`opentelemetry` feature"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_sqlite_store_is_named_at_start() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let lines = run("the_sqlite_store_is_named_at_start", dir.path(), &[]);
    let db = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("actions.db");
    assert_eq!(
        lines,
        vec![format!(
            "actionlog: action records and job runs go to sqlite {} table action_logs",
            db.display()
        )]
    );
}

/// `base` with a password and this schema on its search path.
#[cfg(feature = "postgres")]
fn url_with(base: &str, password: &str, schema: &str) -> String {
    let with_password = base.replacen("://root@", &format!("://root:{password}@"), 1);
    assert_ne!(with_password, base, "the test URL names user root: {base}");
    format!("{with_password}?options=-c%20search_path%3D{schema}")
}

#[test]
#[cfg(feature = "postgres")]
fn actionlog_database_url_comes_before_database_url() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let Some(db) = TestDb::new("store_choice") else {
        return;
    };
    let audit = url_with(&db.url, "canary-audit-password", &db.schema);
    // The application's own database: somewhere else entirely (nothing listens there).
    let app = "postgres://app:canary-app-password@127.0.0.1:1/app";
    let dir = tempfile::tempdir().unwrap();
    let lines = run(
        "actionlog_database_url_comes_before_database_url",
        dir.path(),
        &[("ACTIONLOG_DATABASE_URL", &audit), ("DATABASE_URL", app)],
    );
    assert_eq!(
        lines,
        vec![format!(
            "actionlog: action records and job runs go to postgres root@test table {}.action_logs (from ACTIONLOG_DATABASE_URL)",
            db.schema
        )]
    );
    assert_eq!(db.count("WHERE action_type = 'store_choice_probe'"), 1);
    assert!(!dir.path().join("actions.db").exists());
}

#[test]
#[cfg(feature = "postgres")]
fn database_url_alone_is_named_as_the_source() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let Some(db) = TestDb::new("store_choice_db") else {
        return;
    };
    let url = url_with(&db.url, "canary-password", &db.schema);
    let dir = tempfile::tempdir().unwrap();
    let lines = run(
        "database_url_alone_is_named_as_the_source",
        dir.path(),
        &[("DATABASE_URL", &url)],
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].ends_with("(from DATABASE_URL)"), "{lines:?}");
    assert!(!lines[0].contains("canary"), "{lines:?}");
    assert_eq!(db.count("WHERE action_type = 'store_choice_probe'"), 1);
}
