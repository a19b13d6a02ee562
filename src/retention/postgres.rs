//! PostgreSQL: one session (the URL read as the sink and the read side read it), each batch a
//! transaction of its own with `actionlog.pruning` set for it alone (`SET LOCAL`), so the
//! rollups' guarded delete triggers (`migrations/0008_retention.sql`) skip it, and every
//! statement bounded by the statement timeout.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{Error, Job};
use crate::query::{self, Options};

const HINT: &str = "run migrations/0001_action_logs.sql and migrations/0002_jobs.sql (psql -f), or start the app once with .migrate(true)";

/// What guards the rollups' delete triggers.
const GUARD_HINT: &str = "run migrations/0008_retention.sql (psql -f), or start the app once with .migrate(true), then prune again";

/// A writable session on a PostgreSQL database.
pub(super) struct Pruner {
    client: Client,
    target: String,
    /// Whether the store has `audit_digests`.
    digests: bool,
}

/// A statement that failed, as the read side says it.
fn failed(target: &str, e: tokio_postgres::Error) -> Error {
    let reason = match e.as_db_error() {
        Some(d) if d.code().code() == "57014" => "statement timeout reached".to_owned(),
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    };
    query::Error::Query {
        target: target.to_owned(),
        reason,
    }
    .into()
}

impl Pruner {
    pub(super) async fn open(url: &str, opts: &Options) -> Result<Self, Error> {
        let (client, target) = query::postgres::open_session(url, opts, "actionlog-prune").await?;
        let ms = opts.statement_timeout.as_millis().max(1);
        let mut p = Pruner {
            client,
            target,
            digests: false,
        };
        p.client
            .batch_execute(&format!("SET statement_timeout = {ms}"))
            .await
            .map_err(|e| p.err(e))?;
        for name in ["action_logs", "job_executions"] {
            let there: bool = p
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .await
                .map_err(|e| p.err(e))?
                .get(0);
            if !there {
                return Err(query::Error::MissingTable {
                    target: p.target,
                    what: "table",
                    name: name.into(),
                    hint: HINT,
                }
                .into());
            }
        }
        // A rollup trigger without its WHEN (0004 / 0005 without 0008, or run again after
        // it) would take every pruned row out of the statistics: refuse before deleting.
        let row = p
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('action_logs')
                     AND tgname IN ('action_logs_rollup_delete', 'action_logs_hourly_delete')
                     AND tgqual IS NULL),
                 to_regclass('audit_digests') IS NOT NULL",
                &[],
            )
            .await
            .map_err(|e| p.err(e))?;
        if row.get::<_, bool>(0) {
            return Err(Error::Unguarded {
                target: p.target,
                hint: GUARD_HINT,
            });
        }
        p.digests = row.get(1);
        Ok(p)
    }

    fn err(&self, e: tokio_postgres::Error) -> Error {
        failed(&self.target, e)
    }

    pub(super) async fn batch(&mut self, job: &Job, limit: usize) -> Result<u64, Error> {
        if matches!(job, Job::Digests { .. }) && !self.digests {
            return Ok(0);
        }
        let limit = limit as i64;
        // The batch is chosen once, in a MATERIALIZED CTE: as an `IN (SELECT … LIMIT n)` the
        // planner may rescan the subquery once per row of a nested loop, and with the rows
        // this statement already deleted no longer there to lock, each rescan would pick
        // further rows — a "batch" of many times n. SKIP LOCKED: a row a writer holds right
        // now (an action being finished) is left for a later batch or prune, so neither waits
        // for the other.
        let (sql, args): (&str, Vec<&(dyn ToSql + Sync)>) = match job {
            Job::Actions(before) => (
                "WITH b AS MATERIALIZED (SELECT id FROM action_logs WHERE action_timestamp < $1
                 ORDER BY action_timestamp LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM action_logs a USING b WHERE a.id = b.id",
                vec![before, &limit],
            ),
            Job::Runs(before) => (
                "WITH b AS MATERIALIZED (SELECT id FROM job_executions WHERE started_at < $1
                 ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM job_executions j USING b WHERE j.id = b.id",
                vec![before, &limit],
            ),
            Job::RunLogs { before, .. } => (
                "WITH b AS MATERIALIZED (SELECT id FROM job_executions
                 WHERE started_at < $1 AND logs IS NOT NULL
                 ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 UPDATE job_executions j SET logs = NULL FROM b WHERE j.id = b.id",
                vec![before, &limit],
            ),
            Job::Digests { writer, up_to } => (
                "WITH b AS MATERIALIZED (SELECT writer, seq FROM audit_digests
                 WHERE writer = $1 AND seq <= $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)
                 DELETE FROM audit_digests d USING b WHERE d.writer = b.writer AND d.seq = b.seq",
                vec![writer, up_to, &limit],
            ),
        };
        // The session and the store's name borrowed apart: the transaction holds the first.
        let Pruner { client, target, .. } = self;
        let r = async {
            let tx = client.transaction().await?;
            // For this transaction only: the commit (or a rollback) ends it, so nothing else
            // on this session, or any other, escapes the rollups.
            tx.batch_execute("SET LOCAL actionlog.pruning = 'on'")
                .await?;
            let n = tx.execute(sql, &args).await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(n)
        }
        .await;
        r.map_err(|e| failed(target, e))
    }

    pub(super) async fn count(&mut self, job: &Job) -> Result<u64, Error> {
        if matches!(job, Job::Digests { .. }) && !self.digests {
            return Ok(0);
        }
        let (sql, args): (&str, Vec<&(dyn ToSql + Sync)>) = match job {
            Job::Actions(before) => (
                "SELECT COUNT(*) FROM action_logs WHERE action_timestamp < $1",
                vec![before],
            ),
            Job::Runs(before) => (
                "SELECT COUNT(*) FROM job_executions WHERE started_at < $1",
                vec![before],
            ),
            Job::RunLogs { from, before } => (
                "SELECT COUNT(*) FROM job_executions
                 WHERE started_at >= $1 AND started_at < $2 AND logs IS NOT NULL",
                vec![from, before],
            ),
            Job::Digests { writer, up_to } => (
                "SELECT COUNT(*) FROM audit_digests WHERE writer = $1 AND seq <= $2",
                vec![writer, up_to],
            ),
        };
        let n: i64 = self
            .client
            .query_one(sql, &args)
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(n.max(0) as u64)
    }
}
