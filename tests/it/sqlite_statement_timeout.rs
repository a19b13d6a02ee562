//! The SQLite store's statement timeout, a progress handler set around each statement: a
//! statement still running at its deadline fails with the timeout as its reason, and the store
//! keeps answering the statements that finish in time.
#![cfg(all(feature = "query", feature = "sqlite"))]

use std::time::Duration;

use actionlog::query::{Entity, Error, Filter, Options, Store, Target};

/// Far more rows than the handler's period of virtual-machine steps, so a full scan is sure to
/// reach the handler.
const ROWS: usize = 20_000;

#[test]
fn a_statement_past_its_deadline_is_interrupted_and_the_store_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    drop(actionlog::sink::SqliteSink::open(&db).unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
             INSERT INTO action_logs (id, action_type, status, action_timestamp)
             SELECT printf('00000000-0000-7000-8000-%012d', i), 'scan', 'completed',
                    '2026-11-01T00:00:00.000000Z' FROM n;"
        ))
        .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A deadline already past when each statement starts; full scans instead of the rollups.
    let opts = Options {
        statement_timeout: Duration::ZERO,
        use_rollups: false,
        ..Options::default()
    };
    let store = rt
        .block_on(Store::open(&Target::Sqlite(db.clone()), &opts))
        .unwrap();

    match rt.block_on(store.stats(&Filter::new(Entity::Actions))) {
        Err(Error::Query { reason, .. }) => {
            assert!(reason.contains("statement timeout"), "{reason}")
        }
        other => panic!("expected the statement timeout, got {other:?}"),
    }

    // A statement that finishes within the handler's period (a key lookup in an empty
    // table) never reaches it: the same store still answers.
    assert_eq!(rt.block_on(store.run_logs("no-such-run")).unwrap(), None);

    // And with time enough, the full scan completes.
    let patient = rt
        .block_on(Store::open(&Target::Sqlite(db), &Options::default()))
        .unwrap();
    let stats = rt
        .block_on(patient.stats(&Filter::new(Entity::Actions)))
        .unwrap();
    assert!(!stats.sections.is_empty());
}
