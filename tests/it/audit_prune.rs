//! Retention over a signed trail: a prune records its cutoffs in a signed digest before it
//! deletes anything, so `verify` stays clean — rows pruned, run logs trimmed, and digests that
//! covered only pruned rows deleted with them, the writer's chain going on after them. A store
//! that keeps digests is not pruned without the key.
#![cfg(all(feature = "audit", feature = "retention", feature = "sqlite"))]

use std::time::Duration;

use crate::common;

use actionlog::audit::{Audit, SigningKey};
use actionlog::query::Target;
use actionlog::retention::{Error, Prune};
use actionlog::sink::SqliteSink;
use common::audit::{assert_clean, problems, verify, write_trail};
use rusqlite::Connection;

fn prune(
    db: &std::path::Path,
    digests: &std::path::Path,
    key: Option<&SigningKey>,
    now: chrono::DateTime<chrono::Utc>,
    older_than: Duration,
    run_logs: Option<Duration>,
) -> Result<actionlog::retention::Pruned, Error> {
    let mut b = Prune::builder(Target::Sqlite(db.to_path_buf()))
        .older_than(older_than)
        .batch_size(5)
        .digest_dir(digests)
        .clock(actionlog::ManualClock::at(now));
    if let Some(key) = key {
        b = b.audit(Audit::new(key.clone()));
    }
    if let Some(age) = run_logs {
        b = b.run_logs_older_than(age);
    }
    let p = b.build().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(p.run())
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn prune_then_verify_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (db, digests) = (dir.path().join("actions.db"), dir.path().join("digests"));
    let key = SigningKey::generate().unwrap();
    write_trail(
        SqliteSink::open(&db).unwrap(),
        dir.path(),
        &key,
        "web-1",
        30,
    );
    let before = count(&db, "SELECT count(*) FROM action_logs");
    // The workload's actions run from 14:30:45 to about 14:31:17, its runs start at about
    // 14:31:17, 14:32:17, 14:33:17 and 14:34:17: actions before 14:31:00 go, and the logs of
    // the runs before 14:32:30.
    let now = common::utc("2025-11-03T14:33:00Z");
    let pruned = prune(
        &db,
        &digests,
        Some(&key),
        now,
        Duration::from_secs(120),
        Some(Duration::from_secs(30)),
    )
    .unwrap();
    assert!(pruned.actions.rows > 5, "{pruned:?}");
    assert!(pruned.run_logs.rows >= 1, "{pruned:?}");
    assert!(count(&db, "SELECT count(*) FROM action_logs") < before);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit_digests WHERE kind = 'prune'"
        ),
        1
    );
    let r = verify(
        &Target::Sqlite(db.clone()),
        &key.public(),
        std::slice::from_ref(&digests),
    );
    assert_clean(&r);
    assert!(r.pruned > 5, "{r:?}");
    assert!(r.writers.contains(&"actionlog-prune".to_owned()), "{r:?}");

    // A row deleted by hand after the prune is still named.
    let id: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT id FROM action_logs WHERE status = 'completed' ORDER BY action_timestamp DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM action_logs WHERE id = ?1", [&id])
        .unwrap();
    let r = verify(&Target::Sqlite(db.clone()), &key.public(), &[digests]);
    assert_eq!(problems(&r).len(), 1, "{:#?}", problems(&r));
    assert!(problems(&r)[0].contains(&id), "{:#?}", problems(&r));
}

#[test]
fn digests_of_pruned_rows_go_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (db, digests) = (dir.path().join("actions.db"), dir.path().join("digests"));
    let key = SigningKey::generate().unwrap();
    write_trail(
        SqliteSink::open(&db).unwrap(),
        dir.path(),
        &key,
        "web-1",
        20,
    );
    let digests_before = count(&db, "SELECT count(*) FROM audit_digests");
    // Everything is older than the cutoff, the digests included.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let pruned = prune(
        &db,
        &digests,
        Some(&key),
        later,
        Duration::from_secs(3600),
        None,
    )
    .unwrap();
    assert_eq!(pruned.digests.rows as i64, digests_before, "{pruned:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM action_logs"), 0);
    let r = verify(
        &Target::Sqlite(db.clone()),
        &key.public(),
        std::slice::from_ref(&digests),
    );
    assert_clean_or_empty(&r);

    // The writer starts again: its chain goes on from its digest file, after the digests the
    // prune let go, and the whole verifies.
    write_trail(
        SqliteSink::open(&db).unwrap(),
        dir.path(),
        &key,
        "web-1",
        10,
    );
    let r = verify(&Target::Sqlite(db.clone()), &key.public(), &[digests]);
    assert_clean(&r);
}

/// Clean with nothing left to verify: the digests that covered the rows went with them, and
/// the prune digest says where the chain may start again.
fn assert_clean_or_empty(r: &actionlog::audit::Report) {
    assert!(r.is_clean(), "{:#?}", problems(r));
    assert_eq!((r.rows, r.digests), (0, 1), "{r:?}");
}

#[test]
fn a_signed_store_is_not_pruned_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (db, digests) = (dir.path().join("actions.db"), dir.path().join("digests"));
    let key = SigningKey::generate().unwrap();
    write_trail(
        SqliteSink::open(&db).unwrap(),
        dir.path(),
        &key,
        "web-1",
        10,
    );
    let rows = count(&db, "SELECT count(*) FROM action_logs");
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let e = prune(&db, &digests, None, later, Duration::from_secs(3600), None).unwrap_err();
    assert!(matches!(e, Error::Unsigned { .. }), "{e}");
    assert!(e.is_bad_input());
    assert_eq!(count(&db, "SELECT count(*) FROM action_logs"), rows);
}
