//! `actionlog` over Supabase, through the PostgREST contract double (`common::postgrest`, GETs
//! on tables and views with PostgREST's filters and `GET /rest/v1/rpc/actionlog_stats`,
//! writing into the real PostgreSQL): the tracker example delivers through the REST API, then
//! `stats`, `jobs`, `actions` and `runs` — reading through the REST API only — must agree
//! with the reference SQL run with psql on the database behind it; every request the command
//! makes must be one PostgREST accepts, none of them a write, and the key never shows.
#![cfg(all(feature = "cli", feature = "supabase", feature = "postgres"))]

use crate::common;
use crate::common::cli;
use crate::common::reference_queries;

use common::pg::TestDb;

#[test]
fn through_the_rest_api_the_command_agrees_with_the_reference_sql_and_writes_nothing() {
    let Some(db) = TestDb::new("cli_sb") else {
        return;
    };
    for m in ["0001_action_logs.sql", "0002_jobs.sql", "0003_query.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    let key = "CANARY-cli-key-51fb";
    let double = common::postgrest::Double::start(&db.url, &db.schema, key);
    let env = [("SUPABASE_URL", double.url.as_str()), ("SUPABASE_KEY", key)];
    let work = cli::run_tracker(&env);
    let writes = db.psql("SELECT count(*) FROM action_logs");
    let requests = double.requests();

    let reference = |sql: &str| -> Vec<Vec<String>> {
        db.psql_rows(sql)
            .into_iter()
            .map(|r| r.split('|').map(str::to_owned).collect())
            .collect()
    };
    reference_queries::assert_agrees_with_reference(work.path(), &env, &reference);
    reference_queries::every_subcommand(work.path(), &env);
    assert!(double.requests() > requests);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    assert_eq!(db.psql("SELECT count(*) FROM action_logs"), writes);

    // A rejected key: one line naming the project, never the key, exit 2.
    let out = cli::run(
        work.path(),
        &["stats"],
        &[
            ("SUPABASE_URL", double.url.as_str()),
            ("SUPABASE_KEY", "wrong-CANARY"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&double.url) && !err.contains("CANARY"),
        "{err}"
    );
}
