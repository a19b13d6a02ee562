//! The audit trail over the real PostgreSQL: two writers on one database, at the same time,
//! each keeping its own chain, verify clean together (the rows read back through `jsonb`,
//! `numeric` and `uuid` hash as they were written); a change through SQL is named.
#![cfg(all(feature = "audit", feature = "query", feature = "postgres"))]

use crate::common;

use actionlog::audit::{Finding, SigningKey};
use common::audit::{assert_clean, deleted, modified, problems, verify, write_trail};
use common::pg::TestDb;

#[test]
fn two_writers_on_one_postgres_each_keep_a_chain_and_verify() {
    let Some(db) = TestDb::new("audit_two_writers") else {
        return;
    };
    let key = SigningKey::generate().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::thread::scope(|s| {
        for (dir, name) in [(a.path(), "web-1"), (b.path(), "worker-1")] {
            let (sink, key) = (db.sink(), key.clone());
            s.spawn(move || write_trail(sink, dir, &key, name, 40));
        }
    });
    let dirs = [a.path().join("digests"), b.path().join("digests")];
    let r = verify(&db.query_target(), &key.public(), &dirs);
    assert_clean(&r);
    assert_eq!(r.writers, vec!["web-1".to_owned(), "worker-1".to_owned()]);
    // Two workloads of 40 actions (some left open) and five runs' worth of rows each.
    assert_eq!(r.verified + r.open, r.rows);
    assert_eq!(r.rows, 2 * (40 + 1 + 4), "{r:?}");

    // Each writer's chain alone, against its own files: the other's digests are then not in
    // the files given, and that is said.
    let only_a = verify(&db.query_target(), &key.public(), &dirs[..1]);
    assert!(
        only_a.findings.iter().any(|f| matches!(
            f,
            Finding::MissingDigest { writer, .. } if writer == "worker-1"
        )),
        "{:#?}",
        problems(&only_a)
    );

    // A change through SQL is named, whichever writer's row it is.
    let rows = db.query(
        "SELECT id::text FROM action_logs WHERE status = 'completed' ORDER BY action_timestamp, id",
    );
    let first: String = rows[0].get(0);
    let last: String = rows[rows.len() - 1].get(0);
    db.query(&format!(
        "UPDATE action_logs SET action_details = action_details || '{{\"n\": 999}}' WHERE id = '{first}'"
    ));
    db.query(&format!("DELETE FROM action_logs WHERE id = '{last}'"));
    let r = verify(&db.query_target(), &key.public(), &dirs);
    assert_eq!(
        modified(&r)
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>(),
        vec![first],
        "{:#?}",
        problems(&r)
    );
    assert_eq!(
        deleted(&r)
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>(),
        vec![last],
        "{:#?}",
        problems(&r)
    );
}
