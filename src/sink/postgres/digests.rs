//! The signed digests (`audit_digests`, `migrations/0007_audit.sql`) from the writer's side:
//! storing one inside the write's own transaction, so it commits or rolls back with the rows it
//! covers, and reading the newest of a writer's chain when the sink starts. The table comes
//! with the sink's migration ([`super::PostgresSink::migrate`]) like the others; without it
//! these fail with PostgreSQL's undefined table (42P01).

// The sinks' digest step calls these; until it does, only the tests do.
#![allow(dead_code)]

use tokio_postgres::{GenericClient, Transaction};

use crate::rows::{DIGEST_KINDS, DigestInsert, DigestRow};

const INSERT: &str = "INSERT INTO audit_digests (writer, seq, made_at, kind, digest) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (writer, seq) DO NOTHING";

/// [`INSERT`] without its conflict clause.
const PLAIN_INSERT: &str = "INSERT INTO audit_digests (writer, seq, made_at, kind, digest) \
    VALUES ($1, $2, $3, $4, $5)";

/// Stores `d` unless its `(writer, seq)` is there already; see [`DigestInsert`] for what a
/// stored one means (the same text: a retry; another: a fork). Nothing is ever replaced. Two
/// statements only when the key was there; `made_at` is kept to the microsecond.
pub(crate) async fn insert_digest(
    tx: &Transaction<'_>,
    d: &DigestRow,
) -> Result<DigestInsert, tokio_postgres::Error> {
    debug_assert!(DIGEST_KINDS.contains(&d.kind), "unknown kind {}", d.kind);
    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&d.writer, &d.seq, &d.made_at, &d.kind, &d.digest];
    if tx.execute(INSERT, &values).await? == 1 {
        return Ok(DigestInsert::Inserted);
    }
    let stored = tx
        .query_opt(
            "SELECT digest FROM audit_digests WHERE writer = $1 AND seq = $2",
            &[&d.writer, &d.seq],
        )
        .await?;
    match stored {
        Some(row) => Ok(DigestInsert::existing(&d.digest, row.try_get(0)?)),
        // Deleted by another transaction between the two statements: a plain insert stores
        // it, or fails with PostgreSQL's own unique violation if it came back again.
        None => {
            tx.execute(PLAIN_INSERT, &values).await?;
            Ok(DigestInsert::Inserted)
        }
    }
}

/// The newest digest of `writer`'s chain, `(seq, digest)`, or `None` if it has none; over a
/// client or a transaction.
pub(crate) async fn last_digest<C: GenericClient + Sync>(
    client: &C,
    writer: &str,
) -> Result<Option<(i64, String)>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT seq, digest FROM audit_digests WHERE writer = $1 ORDER BY seq DESC LIMIT 1",
            &[&writer],
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
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

    /// A client on the test database (`ACTIONLOG_TEST_DATABASE_URL`, as the integration tests
    /// read it) in a fresh schema with the migration applied, or `None` (skipped, loudly)
    /// when no server is reachable outside CI.
    async fn database(name: &str) -> Option<(tokio_postgres::Client, String)> {
        let url = std::env::var("ACTIONLOG_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
        let (client, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok(pair) => pair,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true and the test database is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED {name}: test database unreachable: {e}");
                return None;
            }
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let schema = format!("al_unit_{name}_{}", std::process::id());
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
                 SET search_path TO {schema}; {}; {}",
                super::super::AUDIT_MIGRATION,
                super::super::AUDIT_MIGRATION,
            ))
            .await
            .unwrap();
        Some((client, schema))
    }

    #[tokio::test]
    async fn insert_retry_fork_and_newest() {
        let Some((mut client, schema)) = database("digests").await else {
            return;
        };
        assert_eq!(last_digest(&client, "w1").await.unwrap(), None);
        let tx = client.transaction().await.unwrap();
        for (w, seq, text) in [
            ("w1", 1, "{\"a\":1}"),
            ("w1", 2, "{\"a\":2}"),
            ("w2", 7, "b"),
        ] {
            assert_eq!(
                insert_digest(&tx, &row(w, seq, text)).await.unwrap(),
                DigestInsert::Inserted
            );
        }
        assert_eq!(
            last_digest(&tx, "w1").await.unwrap(),
            Some((2, "{\"a\":2}".into()))
        );
        tx.commit().await.unwrap();

        let tx = client.transaction().await.unwrap();
        assert_eq!(
            insert_digest(&tx, &row("w1", 2, "{\"a\":2}"))
                .await
                .unwrap(),
            DigestInsert::AlreadyStored
        );
        assert_eq!(
            insert_digest(&tx, &row("w1", 2, "{\"a\":\"other\"}"))
                .await
                .unwrap(),
            DigestInsert::Fork {
                stored: "{\"a\":2}".into()
            }
        );
        // Stored in a transaction that rolls back: gone with it.
        insert_digest(&tx, &row("w3", 1, "x")).await.unwrap();
        drop(tx);
        assert_eq!(last_digest(&client, "w3").await.unwrap(), None);
        assert_eq!(
            last_digest(&client, "w2").await.unwrap(),
            Some((7, "b".into()))
        );
        let r = client
            .query_one(
                "SELECT COUNT(*), to_char(MIN(made_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') \
                 FROM audit_digests",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.get::<_, i64>(0), 3);
        assert_eq!(r.get::<_, String>(1), "2026-01-01 00:00:00.123456");
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
