//! The audit trail over SQLite, end to end: a workload written with signed digests verifies
//! clean, and each kind of tampering — a changed column, the newest row deleted, a middle row
//! deleted, a forged row, rows reordered, a run's log changed, a digest deleted, the digest
//! file replaced, the wrong key — is detected and named.

#![cfg(all(feature = "audit", feature = "query", feature = "sqlite"))]

use std::path::{Path, PathBuf};

use crate::common;

use actionlog::audit::{Finding, MissingFrom, SigningKey};
use actionlog::query::Target;
use actionlog::sink::SqliteSink;
use common::audit::{
    assert_clean, deleted, inserted, modified, problems, reordered, verify, write_trail,
};
use rusqlite::Connection;
use uuid::Uuid;

struct Trail {
    dir: tempfile::TempDir,
    key: SigningKey,
}

impl Trail {
    /// 30 actions and four job runs, written with digests.
    fn new() -> Trail {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        let sink = SqliteSink::open(dir.path().join("actions.db")).unwrap();
        write_trail(sink, dir.path(), &key, "web-1", 30);
        Trail { dir, key }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("actions.db")
    }

    fn digests(&self) -> PathBuf {
        self.dir.path().join("digests")
    }

    fn sql(&self, sql: &str) {
        Connection::open(self.db())
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    /// Final action ids, oldest first.
    fn final_ids(&self) -> Vec<Uuid> {
        let c = Connection::open(self.db()).unwrap();
        let mut s = c
            .prepare(
                "SELECT id FROM action_logs WHERE status NOT IN ('initiated', 'in_progress')
                 ORDER BY action_timestamp, id",
            )
            .unwrap();
        s.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|s| Uuid::parse_str(&s.unwrap()).unwrap())
            .collect()
    }

    fn report(&self) -> actionlog::audit::Report {
        verify(
            &Target::Sqlite(self.db()),
            &self.key.public(),
            &[self.digests()],
        )
    }
}

fn digest_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    v.sort();
    v
}

#[test]
fn an_untouched_trail_verifies_clean() {
    let t = Trail::new();
    let r = t.report();
    assert_clean(&r);
    // 30 actions, four of them left open, and the action inside a job run; four runs.
    assert_eq!((r.rows, r.open, r.verified), (35, 4, 31), "{r:?}");
    assert!(r.files_checked);
    assert_eq!(r.writers, vec!["web-1".to_owned()]);
    // The digest files hold the same lines as the store, and are private.
    let files = digest_files(&t.digests());
    assert!(!files.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o077 & !0o040, 0, "mode {mode:o}");
    }
}

#[test]
fn a_changed_column_is_named() {
    let t = Trail::new();
    let id = t.final_ids()[3];
    t.sql(&format!(
        "UPDATE action_logs SET user_id = 'someone-else' WHERE id = '{id}'"
    ));
    let r = t.report();
    assert_eq!(modified(&r), vec![id], "{:#?}", problems(&r));
    assert!(!r.is_clean());
}

#[test]
fn the_newest_row_deleted_is_named() {
    let t = Trail::new();
    let newest = *t.final_ids().last().unwrap();
    t.sql(&format!("DELETE FROM action_logs WHERE id = '{newest}'"));
    let r = t.report();
    assert_eq!(deleted(&r), vec![newest], "{:#?}", problems(&r));
}

#[test]
fn a_middle_row_deleted_is_named() {
    let t = Trail::new();
    let ids = t.final_ids();
    let middle = ids[ids.len() / 2];
    t.sql(&format!("DELETE FROM action_logs WHERE id = '{middle}'"));
    let r = t.report();
    assert_eq!(deleted(&r), vec![middle], "{:#?}", problems(&r));
    assert_eq!(problems(&r).len(), 1, "{:#?}", problems(&r));
}

#[test]
fn a_forged_row_is_named() {
    let t = Trail::new();
    let forged = Uuid::now_v7();
    t.sql(&format!(
        "INSERT INTO action_logs (id, action_type, user_id, action_timestamp, action_details, status)
         VALUES ('{forged}', 'export', 'user-1', '2025-11-03T14:30:50.000000Z', '{{}}', 'completed')"
    ));
    let r = t.report();
    assert_eq!(inserted(&r), vec![forged], "{:#?}", problems(&r));
}

#[test]
fn reordered_rows_are_named() {
    let t = Trail::new();
    let ids = t.final_ids();
    let (a, b) = (ids[2], ids[9]);
    // Each takes the other's time: the same rows, in another order.
    let c = Connection::open(t.db()).unwrap();
    let time = |id: Uuid| -> String {
        c.query_row(
            "SELECT action_timestamp FROM action_logs WHERE id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (ta, tb) = (time(a), time(b));
    for (id, at) in [(a, &tb), (b, &ta)] {
        c.execute(
            "UPDATE action_logs SET action_timestamp = ?1 WHERE id = ?2",
            [at, &id.to_string()],
        )
        .unwrap();
    }
    let r = t.report();
    let mut named = reordered(&r);
    named.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(named, want, "{:#?}", problems(&r));
    assert!(modified(&r).is_empty());
}

#[test]
fn a_run_log_changed_is_named_and_the_rest_of_the_run_still_verifies() {
    let t = Trail::new();
    let c = Connection::open(t.db()).unwrap();
    let id: String = c
        .query_row(
            "SELECT id FROM job_executions ORDER BY started_at LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE job_executions SET logs = logs || 'forged line' WHERE id = ?1",
        [&id],
    )
    .unwrap();
    let r = t.report();
    let found: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f,
                Finding::Modified {
                    logs_only: true,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", problems(&r));
    assert_eq!(problems(&r).len(), 1, "{:#?}", problems(&r));
}

#[test]
fn a_digest_deleted_from_the_store_is_named_from_the_file() {
    let t = Trail::new();
    t.sql("DELETE FROM audit_digests WHERE seq = 2");
    let r = t.report();
    assert!(
        r.findings.iter().any(|f| matches!(
            f,
            Finding::MissingDigest {
                from: 2,
                to: 2,
                missing_from: MissingFrom::Store,
                ..
            }
        )),
        "{:#?}",
        problems(&r)
    );
    // The file's copy still covers the rows: nothing else is reported.
    assert_eq!(problems(&r).len(), 1, "{:#?}", problems(&r));
}

#[test]
fn a_replaced_digest_file_is_detected() {
    let t = Trail::new();
    // Another trail, signed with another key, under the same writer name: its file takes the
    // place of the real one.
    let other = Trail::new();
    let files = digest_files(&t.digests());
    let forged = digest_files(&other.digests());
    std::fs::copy(&forged[0], &files[0]).unwrap();
    let r = t.report();
    assert!(
        r.findings
            .iter()
            .any(|f| matches!(f, Finding::BadSignature { .. })),
        "{:#?}",
        problems(&r)
    );
    assert!(
        r.findings.iter().any(|f| matches!(
            f,
            Finding::DigestsDiffer { .. }
                | Finding::MissingDigest {
                    missing_from: MissingFrom::Files,
                    ..
                }
        )),
        "{:#?}",
        problems(&r)
    );
}

#[test]
fn the_wrong_key_fails_every_digest() {
    let t = Trail::new();
    let wrong = SigningKey::generate().unwrap();
    let r = verify(&Target::Sqlite(t.db()), &wrong.public(), &[t.digests()]);
    let bad = r
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::BadSignature { .. }))
        .count();
    assert!(bad as u64 >= r.digests && bad > 0, "{:#?}", problems(&r));
    assert!(!r.is_clean());
    // Nothing is taken as covered on a signature that is not good.
    assert_eq!(r.verified, 0);
}

#[test]
fn a_digest_rewritten_in_the_store_breaks_its_signature() {
    let t = Trail::new();
    // Rewrite one digest to drop its first entry, as an attacker with the database would.
    let c = Connection::open(t.db()).unwrap();
    let line: String = c
        .query_row(
            "SELECT digest FROM audit_digests WHERE kind = 'rows' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let start = line.find("\"entries\":[[").unwrap() + "\"entries\":[".len();
    let end = line[start..].find("],[").unwrap() + start + 2;
    let tampered = format!("{}{}", &line[..start], &line[end..]);
    c.execute(
        "UPDATE audit_digests SET digest = ?1 WHERE digest = ?2",
        [&tampered, &line],
    )
    .unwrap();
    let r = verify(&Target::Sqlite(t.db()), &t.key.public(), &[]);
    assert!(
        r.findings
            .iter()
            .any(|f| matches!(f, Finding::BadSignature { .. })),
        "{:#?}",
        problems(&r)
    );
}

/// While nothing is written the writer makes an idle digest every interval; a chain that ends
/// without its closing digest and long ago is reported stale (a warning: the writer may have
/// crashed, or the newest digests were removed from every copy).
#[test]
fn idle_digests_keep_the_chain_alive_and_an_unclosed_chain_goes_stale() {
    use actionlog::audit::Audit;
    use tracing_subscriber::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let db = dir.path().join("actions.db");
    let (layer, guard) = actionlog::ActionLayer::builder(SqliteSink::open(&db).unwrap())
        .log_dir(dir.path())
        .audit(
            Audit::new(key.clone())
                .writer("idle-1")
                .interval(std::time::Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(layer.with_filter(actionlog::ActionFilter));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(action_type = "export", status = "completed");
    });
    assert!(guard.flush());
    let idle = || -> i64 {
        Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_digests WHERE kind = 'idle'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    common::wait_until(
        "two idle digests",
        std::time::Duration::from_secs(30),
        || idle() >= 2,
    );
    drop(guard);
    let target = Target::Sqlite(db.clone());
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let r = common::audit::verify_at(&target, &key.public(), &[], later);
    assert_clean(&r);
    assert!(
        !r.findings
            .iter()
            .any(|f| matches!(f, Finding::Stale { .. })),
        "a closed chain is not stale: {:?}",
        r.findings
    );
    // Without its closing digest (a crash, or the tail removed), the chain is stale an hour on.
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM audit_digests WHERE kind = 'close'", [])
        .unwrap();
    let r = common::audit::verify_at(&target, &key.public(), &[], later);
    assert!(
        r.findings
            .iter()
            .any(|f| matches!(f, Finding::Stale { writer, .. } if writer == "idle-1")),
        "{:?}",
        r.findings
    );
}

/// A link planted in place of today's digest file is never written through: the rows and
/// their digests still reach the store, the link's target is untouched, and verifying against
/// that directory refuses the link rather than reading through it.
#[cfg(unix)]
#[test]
fn a_link_in_the_digest_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let digests = dir.path().join("digests");
    std::fs::create_dir_all(&digests).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "untouched\n").unwrap();
    let today = chrono::Utc::now()
        .format("digests-%Y-%m-%d.jsonl")
        .to_string();
    std::os::unix::fs::symlink(&victim, digests.join(&today)).unwrap();
    let key = SigningKey::generate().unwrap();
    let db = dir.path().join("actions.db");
    write_trail(SqliteSink::open(&db).unwrap(), dir.path(), &key, "web-1", 8);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    // The store's copy is whole.
    let r = verify(&Target::Sqlite(db.clone()), &key.public(), &[]);
    assert_clean(&r);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(async {
            let store = actionlog::query::Store::open(&Target::Sqlite(db), &Default::default())
                .await
                .unwrap();
            actionlog::query::verify_trail(
                &store,
                &actionlog::audit::VerifyOptions {
                    key: key.public(),
                    since: None,
                    digest_dirs: vec![digests],
                    now: chrono::Utc::now(),
                },
            )
            .await
        })
        .unwrap_err();
    assert!(e.to_string().contains(&today), "{e}");
}

/// `since` checks the digests made from then on and the rows they cover: a later write's
/// rows verify, and a change to a row only an earlier digest covers is outside the window.
#[test]
fn since_checks_the_window_only() {
    let t = Trail::new();
    let first = t.final_ids();
    let since = chrono::Utc::now();
    // A second run of the same writer, its chain going on.
    let sink = SqliteSink::open(t.db()).unwrap();
    write_trail(sink, t.dir.path(), &t.key, "web-1", 12);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let check = |since| {
        rt.block_on(async {
            let store = actionlog::query::Store::open(&Target::Sqlite(t.db()), &Default::default())
                .await
                .unwrap();
            actionlog::query::verify_trail(
                &store,
                &actionlog::audit::VerifyOptions {
                    key: t.key.public(),
                    since,
                    digest_dirs: vec![t.digests()],
                    now: chrono::Utc::now(),
                },
            )
            .await
            .unwrap()
        })
    };
    let r = check(Some(since));
    assert!(r.is_clean(), "{:#?}", problems(&r));
    // 12 actions, one left open, the action inside a run, four runs.
    assert_eq!(r.verified, 11 + 1 + 4, "{r:?}");
    t.sql(&format!(
        "UPDATE action_logs SET result_message = 'older change' WHERE id = '{}'",
        first[0]
    ));
    assert!(check(Some(since)).is_clean());
    assert_eq!(modified(&check(None)), vec![first[0]]);
}
