//! Keyset pagination: following the printed cursor walks every row once — no overlap, no
//! gap — newest first with the id breaking ties between rows of the same timestamp, with and
//! without a filter, in SQLite, PostgreSQL and through the PostgREST double.
#![cfg(feature = "cli")]

use crate::common;
use crate::common::cli;

fn check(dir: &std::path::Path, env: &[(&str, &str)]) {
    let pages = cli::all_pages(dir, &[], 10, env);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    let all: Vec<String> = pages.concat();
    assert_eq!(all, cli::newest_first(0..25), "overlap or gap");

    // Two pages under a filter: the cursor carries over the filter's rows only.
    let pages = cli::all_pages(dir, &["status=completed"], 9, env);
    assert_eq!(pages.len(), 2, "18 rows, 9 a page");
    assert_eq!(
        pages.concat(),
        cli::newest_first((0..25).filter(|i| i % 4 != 0))
    );
    // A page boundary inside a run of equal timestamps (rows 9..12 share one).
    let pages = cli::all_pages(dir, &["user_id=user1"], 5, env);
    assert_eq!(
        pages.concat(),
        cli::newest_first((0..25).filter(|i| i % 2 == 1))
    );
}

#[test]
fn sqlite_pages_have_no_overlap_and_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    cli::sqlite_store(dir.path(), &cli::actions_sql(25));
    check(dir.path(), &[]);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_pages_have_no_overlap_and_no_gap() {
    let Some(db) = common::pg::TestDb::new("cli_pages") else {
        return;
    };
    for m in ["0001_action_logs.sql", "0002_jobs.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    db.psql(&cli::actions_sql(25));
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let dir = tempfile::tempdir().unwrap();
    check(dir.path(), &[("DATABASE_URL", url.as_str())]);
}

#[cfg(all(feature = "postgres", feature = "supabase"))]
#[test]
fn supabase_pages_have_no_overlap_and_no_gap() {
    let Some(db) = common::pg::TestDb::new("cli_pages_sb") else {
        return;
    };
    for m in ["0001_action_logs.sql", "0002_jobs.sql", "0003_query.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    db.psql(&cli::actions_sql(25));
    let double = common::postgrest::Double::start(&db.url, &db.schema, "k");
    let dir = tempfile::tempdir().unwrap();
    check(
        dir.path(),
        &[("SUPABASE_URL", double.url.as_str()), ("SUPABASE_KEY", "k")],
    );
    assert!(double.violations().is_empty(), "{:?}", double.violations());
}
