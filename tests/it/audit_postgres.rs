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

/// A transaction that committed rows and their digest, whose `COMMIT` reply was lost: the sink
/// sees a failure, reads its chain's newest digest back from the store before sealing again
/// (copying it to the digest file, which never got it), and the retry's digest follows it —
/// one unbroken chain, the store and the files alike, verifying clean.
#[test]
fn a_lost_commit_reply_leaves_one_unbroken_chain() {
    use actionlog::audit::Audit;
    use actionlog::{ActionFilter, ActionLayer, PipelineConfig};
    use common::proxy::{Proxy, upstream_of};
    use common::wait_until;
    use std::time::Duration;
    use tracing_subscriber::prelude::*;

    let Some(db) = TestDb::new("audit_commit_cut") else {
        return;
    };
    let deadline = Duration::from_secs(30);
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let proxy = Proxy::start(upstream_of(&db.url), true);
    let (layer, guard) = ActionLayer::builder(db.sink_at(&proxy.plain_url(&db.url)))
        .pipeline(
            PipelineConfig::default()
                .no_spool()
                .linger(Duration::from_secs(3600))
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(200)),
        )
        .log_dir(dir.path())
        .audit(Audit::new(key.clone()).writer("web-1"))
        .flush_deadline(deadline)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(ActionFilter));
    tracing::subscriber::with_default(subscriber, || {
        // Connect (and migrate) first, so the fault hits the batch's own COMMIT.
        tracing::info!(action_type = "export", seq = -1);
        assert!(guard.flush());
        proxy.cut_after_next_commit();
        for i in 0..50 {
            tracing::info!(action_type = "export", seq = i);
        }
        std::thread::scope(|s| {
            let flusher = s.spawn(|| guard.flush());
            wait_until("the proxy to swallow a commit reply", deadline, || {
                proxy.cuts() >= 1
            });
            wait_until("the worker to see the failure", deadline, || {
                guard.stats().actions_retried >= 1
            });
            proxy.set_enabled(true);
            assert!(
                flusher.join().unwrap(),
                "the flush completes once the path is back"
            );
        });
    });
    drop(guard);
    assert_eq!(proxy.cuts(), 1);
    let digests = [dir.path().join("digests")];
    let r = verify(&db.query_target(), &key.public(), &digests);
    assert_clean(&r);
    assert_eq!(r.verified, 51, "{r:?}");
    // Every digest of the store is in the file, in one chain 1..n.
    let stored: i64 = db.query("SELECT count(*) FROM audit_digests")[0].get(0);
    let max: i64 = db.query("SELECT max(seq) FROM audit_digests")[0].get(0);
    assert_eq!(stored, max);
    let in_files: usize = std::fs::read_dir(&digests[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(in_files as i64, stored);
}
