//! The signed digests (`audit_digests`) from the writer's side: storing one inside the write's
//! own transaction, and reading the newest of a writer's chain when the sink starts.
//!
//! Both take a [`Connection`]; a [`rusqlite::Transaction`] is one (it dereferences to its
//! connection), so the digest commits or rolls back with the rows it covers.

// The sinks' digest step calls these; until it does, only the tests do.
#![allow(dead_code)]

use chrono::SecondsFormat;
use rusqlite::{Connection, OptionalExtension, params};

use crate::rows::{DIGEST_KINDS, DigestInsert, DigestRow};

/// Stores `d` unless its `(writer, seq)` is there already; see [`DigestInsert`] for what a
/// stored one means (the same text: a retry; another: a fork). Nothing is ever replaced.
/// `made_at` is stored as RFC 3339 UTC text with microseconds, like every time of the store.
pub(crate) fn insert_digest(conn: &Connection, d: &DigestRow) -> rusqlite::Result<DigestInsert> {
    debug_assert!(DIGEST_KINDS.contains(&d.kind), "unknown kind {}", d.kind);
    let made_at = d.made_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let values = params![d.writer, d.seq, made_at, d.kind, d.digest];
    let inserted = conn
        .prepare_cached(
            "INSERT INTO audit_digests (writer, seq, made_at, kind, digest)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (writer, seq) DO NOTHING",
        )?
        .execute(values)?;
    if inserted == 1 {
        return Ok(DigestInsert::Inserted);
    }
    let stored: Option<String> = conn
        .prepare_cached("SELECT digest FROM audit_digests WHERE writer = ?1 AND seq = ?2")?
        .query_row(params![d.writer, d.seq], |r| r.get(0))
        .optional()?;
    match stored {
        Some(stored) => Ok(DigestInsert::existing(&d.digest, stored)),
        // Deleted between the two statements (only possible outside a transaction): a plain
        // insert stores it, or fails with SQLite's own error if it came back again.
        None => {
            conn.prepare_cached(
                "INSERT INTO audit_digests (writer, seq, made_at, kind, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(values)?;
            Ok(DigestInsert::Inserted)
        }
    }
}

/// The newest digest of `writer`'s chain, `(seq, digest)`, or `None` if it has none.
pub(crate) fn last_digest(
    conn: &Connection,
    writer: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached(
        "SELECT seq, digest FROM audit_digests WHERE writer = ?1 ORDER BY seq DESC LIMIT 1",
    )?
    .query_row([writer], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn row(writer: &str, seq: i64, digest: &str) -> DigestRow {
        DigestRow {
            writer: writer.into(),
            seq,
            made_at: Utc.timestamp_opt(1_767_225_600, 123_456_789).unwrap(),
            kind: "rows",
            digest: digest.into(),
        }
    }

    #[test]
    fn insert_retry_fork_and_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("a.db")).unwrap();
        super::super::schema::ensure(&conn, "action_logs").unwrap();
        assert_eq!(last_digest(&conn, "w1").unwrap(), None);

        let tx = conn.transaction().unwrap();
        assert_eq!(
            insert_digest(&tx, &row("w1", 1, "{\"a\":1}")).unwrap(),
            DigestInsert::Inserted
        );
        assert_eq!(
            insert_digest(&tx, &row("w1", 2, "{\"a\":2}")).unwrap(),
            DigestInsert::Inserted
        );
        assert_eq!(
            insert_digest(&tx, &row("w2", 7, "{\"b\":7}")).unwrap(),
            DigestInsert::Inserted
        );
        tx.commit().unwrap();

        // A retry of the same digest changes nothing.
        assert_eq!(
            insert_digest(&conn, &row("w1", 2, "{\"a\":2}")).unwrap(),
            DigestInsert::AlreadyStored
        );
        // Another text under a stored key is a fork, and the stored one stays.
        assert_eq!(
            insert_digest(&conn, &row("w1", 2, "{\"a\":\"other\"}")).unwrap(),
            DigestInsert::Fork {
                stored: "{\"a\":2}".into()
            }
        );
        assert_eq!(
            last_digest(&conn, "w1").unwrap(),
            Some((2, "{\"a\":2}".into()))
        );
        assert_eq!(
            last_digest(&conn, "w2").unwrap(),
            Some((7, "{\"b\":7}".into()))
        );
        let (n, made_at): (i64, String) = conn
            .query_row(
                "SELECT COUNT(*), MIN(made_at) FROM audit_digests",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(made_at, "2026-01-01T00:00:00.123456Z");
    }

    /// A digest stored in a transaction that rolls back is gone with the rows it covered.
    #[test]
    fn a_rolled_back_digest_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("a.db")).unwrap();
        super::super::schema::ensure(&conn, "action_logs").unwrap();
        let tx = conn.transaction().unwrap();
        insert_digest(&tx, &row("w", 1, "x")).unwrap();
        drop(tx);
        assert_eq!(last_digest(&conn, "w").unwrap(), None);
    }
}
