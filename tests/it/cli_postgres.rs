//! `actionlog` over PostgreSQL (the real server, a schema of its own): the tracker example
//! writes through `DATABASE_URL`, then `stats`, `jobs`, `actions` and `runs` must agree with
//! the reference SQL run verbatim with psql, and a full session of every subcommand must write
//! nothing (every row and its `xmin`, i.e. the transaction that last wrote it, unchanged; no
//! object created).
#![cfg(all(feature = "cli", feature = "postgres"))]

use crate::common;
use crate::common::cli;
use crate::common::reference_queries;

use common::pg::TestDb;

/// Every row of the three tables with the transaction that wrote it, and the schema's objects.
fn fingerprint(db: &TestDb) -> String {
    db.psql(
        "SELECT (SELECT md5(string_agg(t::text || t.xmin::text, ',' ORDER BY t.id)) FROM action_logs t)
             || (SELECT md5(string_agg(t::text || t.xmin::text, ',' ORDER BY t.id)) FROM job_executions t)
             || (SELECT md5(string_agg(t::text || t.xmin::text, ',' ORDER BY t.id)) FROM scheduled_jobs t)
             || (SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace)",
    )
}

#[test]
fn over_the_tracker_database_the_command_agrees_with_the_reference_sql_and_writes_nothing() {
    let Some(db) = TestDb::new("cli_pg") else {
        return;
    };
    let url = format!("{}?options=-c%20search_path%3D{}", db.url, db.schema);
    let env = [("DATABASE_URL", url.as_str())];
    let work = cli::run_tracker(&env);
    let before = fingerprint(&db);

    let reference = |sql: &str| -> Vec<Vec<String>> {
        db.psql_rows(sql)
            .into_iter()
            .map(|r| r.split('|').map(str::to_owned).collect())
            .collect()
    };
    reference_queries::assert_agrees_with_reference(work.path(), &env, &reference);
    reference_queries::every_subcommand(work.path(), &env);

    assert_eq!(
        fingerprint(&db),
        before,
        "the command wrote to the database"
    );
}
