//! Bad input and unusable stores: each is one line on stderr and exit code 2; an unknown
//! column or operator lists the valid columns; a missing SQLite file is not created; a store
//! without the tables says what creates them; an unreachable database or a refused user names
//! the target without its password.
#![cfg(feature = "cli")]

use crate::common;
use crate::common::cli;

use std::path::Path;

/// Runs `args`, expects exit 2 and one line on stderr; returns that line.
fn fails(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = cli::run(dir, args, env);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed rows");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn unknown_columns_operators_and_times_list_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    cli::sqlite_store(dir.path(), "");
    let e = fails(dir.path(), &["actions", "colour=red"], &[]);
    for c in [
        "action_type",
        "status",
        "user_id",
        "job_execution_id",
        "details.KEY",
    ] {
        assert!(e.contains(c), "{e}");
    }
    let e = fails(dir.path(), &["actions", "status>failed"], &[]);
    assert!(e.contains("operator") && e.contains("action_type"), "{e}");
    fails(dir.path(), &["actions", "status!failed"], &[]);
    fails(dir.path(), &["actions", "details.a-b=1"], &[]);
    let e = fails(dir.path(), &["runs", "action_type=x"], &[]);
    assert!(e.contains("metadata.KEY"), "{e}");
    let e = fails(dir.path(), &["actions", "--since", "yesterday"], &[]);
    assert!(e.contains("6h"), "{e}");
    fails(dir.path(), &["stats", "--since=-3d"], &[]);
    fails(dir.path(), &["actions", "--before", "not-a-cursor"], &[]);
    fails(dir.path(), &["tail", "--level", "LOUD"], &[]);
    // clap's own errors (with their usage lines) use 2 as well.
    for args in [&["actions", "--format", "xml"][..], &["frobnicate"]] {
        assert_eq!(cli::run(dir.path(), args, &[]).status.code(), Some(2));
    }
}

#[test]
fn a_missing_store_is_reported_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let e = fails(dir.path(), &["actions"], &[]);
    assert!(
        e.contains("logs/actions.db") && e.contains("nothing was created"),
        "{e}"
    );
    let e = fails(dir.path(), &["--db", "elsewhere/a.db", "stats"], &[]);
    assert!(e.contains("elsewhere/a.db"), "{e}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was created"
    );
    fails(dir.path(), &["tail"], &[]);
}

#[test]
fn a_store_without_the_tables_says_what_creates_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x TEXT)")
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let e = fails(dir.path(), &["--db", "other.db", "jobs"], &[]);
    assert!(
        e.contains("action_logs") && e.contains("SQLite sink"),
        "{e}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[cfg(feature = "postgres")]
#[test]
fn an_unreachable_or_refusing_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let e = fails(
        dir.path(),
        &["stats"],
        &[(
            "DATABASE_URL",
            "postgres://reader:CANARY-pw@127.0.0.1:1/actions",
        )],
    );
    assert!(e.contains("postgres://reader@127.0.0.1:1/actions"), "{e}");
    assert!(!e.contains("CANARY"), "{e}");
    let url = cli_url_with_user("no_such_role_51fb");
    let e = fails(dir.path(), &["jobs"], &[("DATABASE_URL", url.as_str())]);
    assert!(
        e.contains("no_such_role_51fb") && !e.contains("CANARY"),
        "{e}"
    );
}

/// The test server's URL with another user and a password.
#[cfg(feature = "postgres")]
fn cli_url_with_user(user: &str) -> String {
    let base = common::pg::base_url();
    let rest = base
        .split_once('@')
        .map(|(_, r)| r)
        .unwrap_or("127.0.0.1:5432/test");
    format!("postgres://{user}:CANARY-pw@{rest}")
}

#[cfg(feature = "postgres")]
#[test]
fn a_database_without_the_tables_names_the_migrations() {
    let Some(db) = common::pg::TestDb::new("cli_bad") else {
        return;
    };
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let dir = tempfile::tempdir().unwrap();
    let e = fails(dir.path(), &["actions"], &[("DATABASE_URL", url.as_str())]);
    assert!(e.contains("migrations/0001_action_logs.sql"), "{e}");
}

#[cfg(all(feature = "postgres", feature = "supabase"))]
#[test]
fn supabase_without_the_stats_function_names_its_migration_and_never_the_key() {
    let Some(db) = common::pg::TestDb::new("cli_bad_sb") else {
        return;
    };
    for m in ["0001_action_logs.sql", "0002_jobs.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    let double = common::postgrest::Double::start(&db.url, &db.schema, "CANARY-key");
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SUPABASE_URL", double.url.as_str()),
        ("SUPABASE_KEY", "CANARY-key"),
    ];
    let e = fails(dir.path(), &["stats"], &env);
    assert!(
        e.contains("migrations/0003_query.sql") && !e.contains("CANARY"),
        "{e}"
    );
    // The rest works without it.
    cli::json(dir.path(), &["actions"], &env);
    let e = fails(
        dir.path(),
        &["actions"],
        &[
            ("SUPABASE_URL", "http://127.0.0.1:1"),
            ("SUPABASE_KEY", "CANARY-key"),
        ],
    );
    assert!(
        e.contains("http://127.0.0.1:1") && !e.contains("CANARY"),
        "{e}"
    );
    let e = fails(
        dir.path(),
        &["actions"],
        &[("SUPABASE_URL", double.url.as_str())],
    );
    assert!(e.contains("SUPABASE_KEY"), "{e}");
}
