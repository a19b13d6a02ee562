//! SQLite: the file opened read-write but never created, the store given the guarded delete
//! triggers if it lacks them (as the sink does when it opens a store), and each batch one
//! `BEGIN IMMEDIATE` transaction on tokio's blocking threads (a batch may wait for another
//! writer's lock, up to the statement timeout).
//!
//! An action batch inserts the marker row, deletes, and deletes the marker, in its one
//! transaction: the rollups' delete triggers see the marker and leave the counts alone. No
//! other connection ever sees the row (one writer at a time; readers see committed data).

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use super::{Error, Job};
use crate::query::{self, Options};

/// The actions table the read side and retention know.
const TABLE: &str = "action_logs";

/// What makes the tables, as the read side says it.
const HINT: &str = "the SQLite sink creates it when a program using actionlog first opens the file (e.g. `cargo run --example tracker`)";

/// A read-write connection to an actions database file.
pub(super) struct Pruner {
    conn: Arc<Mutex<Connection>>,
    target: String,
    /// Whether the store has `audit_digests`.
    digests: bool,
}

/// A time as the sinks store it, so text order is time order.
fn text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn failed(target: &str, e: rusqlite::Error) -> query::Error {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    query::Error::Query {
        target: target.to_owned(),
        reason: if busy {
            "another connection held the write lock past the statement timeout".into()
        } else {
            e.to_string()
        },
    }
}

/// Runs `f` on a blocking thread, where waiting for SQLite's lock holds no runtime thread.
async fn blocking<T: Send + 'static>(
    target: &str,
    f: impl FnOnce() -> Result<T, query::Error> + Send + 'static,
) -> Result<T, query::Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(query::Error::Query {
            target: target.to_owned(),
            reason: format!("the prune's thread ended early: {e}"),
        })
    })
}

impl Pruner {
    pub(super) async fn open(path: &Path, opts: &Options) -> Result<Self, Error> {
        let target = path.display().to_string();
        if !path.is_file() {
            return Err(query::Error::NotFound { target }.into());
        }
        let (path, timeout, t) = (path.to_owned(), opts.statement_timeout, target.clone());
        let (conn, digests) = blocking(&target, move || {
            let unreachable = |e: rusqlite::Error| query::Error::Unreachable {
                target: t.clone(),
                reason: e.to_string(),
            };
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(unreachable)?;
            conn.busy_timeout(timeout).map_err(unreachable)?;
            let has = |name: &str| -> Result<bool, query::Error> {
                conn.query_row(
                    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .map_err(unreachable)
            };
            for name in [TABLE, "job_executions"] {
                if !has(name)? {
                    return Err(query::Error::MissingTable {
                        target: t.clone(),
                        what: "table",
                        name: name.into(),
                        hint: HINT,
                    });
                }
            }
            let digests = has("audit_digests")?;
            crate::sink::sqlite::guard_rollups(&conn, TABLE).map_err(|e| failed(&t, e))?;
            Ok((conn, digests))
        })
        .await?;
        Ok(Pruner {
            conn: Arc::new(Mutex::new(conn)),
            target,
            digests,
        })
    }

    pub(super) async fn batch(&mut self, job: &Job, limit: usize) -> Result<u64, Error> {
        if matches!(job, Job::Digests { .. }) && !self.digests {
            return Ok(0);
        }
        let (conn, target, job) = (self.conn.clone(), self.target.clone(), job.clone());
        let t = target.clone();
        Ok(blocking(&target, move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            batch(&mut conn, &job, limit as i64).map_err(|e| failed(&t, e))
        })
        .await?)
    }

    pub(super) async fn count(&mut self, job: &Job) -> Result<u64, Error> {
        if matches!(job, Job::Digests { .. }) && !self.digests {
            return Ok(0);
        }
        let (conn, target, job) = (self.conn.clone(), self.target.clone(), job.clone());
        let t = target.clone();
        Ok(blocking(&target, move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            count(&conn, &job).map_err(|e| failed(&t, e))
        })
        .await?)
    }
}

/// One batch in its own write transaction; the rows it changed.
fn batch(conn: &mut Connection, job: &Job, limit: i64) -> Result<u64, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = match job {
        Job::Actions(before) => {
            let marker = crate::sink::sqlite::pruning_table(TABLE);
            // OR REPLACE: a marker row left by hand would otherwise fail every prune; it goes
            // with this one's.
            tx.execute(
                &format!("INSERT OR REPLACE INTO {marker} (one) VALUES (1)"),
                [],
            )?;
            let n = tx.execute(
                &format!(
                    "DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE}
                     WHERE action_timestamp < ?1 ORDER BY action_timestamp LIMIT ?2)"
                ),
                params![text(before), limit],
            )?;
            tx.execute(&format!("DELETE FROM {marker}"), [])?;
            n
        }
        Job::Runs(before) => tx.execute(
            "DELETE FROM job_executions WHERE id IN (SELECT id FROM job_executions
             WHERE started_at < ?1 ORDER BY started_at LIMIT ?2)",
            params![text(before), limit],
        )?,
        Job::RunLogs { before, .. } => tx.execute(
            "UPDATE job_executions SET logs = NULL WHERE id IN (SELECT id FROM job_executions
             WHERE started_at < ?1 AND logs IS NOT NULL ORDER BY started_at LIMIT ?2)",
            params![text(before), limit],
        )?,
        Job::Digests { writer, up_to } => tx.execute(
            "DELETE FROM audit_digests WHERE writer = ?1 AND seq IN (SELECT seq FROM audit_digests
             WHERE writer = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
            params![writer, up_to, limit],
        )?,
    };
    tx.commit()?;
    Ok(n as u64)
}

/// How many rows `job` would change.
fn count(conn: &Connection, job: &Job) -> Result<u64, rusqlite::Error> {
    let n: i64 = match job {
        Job::Actions(before) => conn.query_row(
            &format!("SELECT COUNT(*) FROM {TABLE} WHERE action_timestamp < ?1"),
            [text(before)],
            |r| r.get(0),
        )?,
        Job::Runs(before) => conn.query_row(
            "SELECT COUNT(*) FROM job_executions WHERE started_at < ?1",
            [text(before)],
            |r| r.get(0),
        )?,
        Job::RunLogs { from, before } => conn.query_row(
            "SELECT COUNT(*) FROM job_executions
             WHERE started_at >= ?1 AND started_at < ?2 AND logs IS NOT NULL",
            [text(from), text(before)],
            |r| r.get(0),
        )?,
        Job::Digests { writer, up_to } => conn.query_row(
            "SELECT COUNT(*) FROM audit_digests WHERE writer = ?1 AND seq <= ?2",
            params![writer, up_to],
            |r| r.get(0),
        )?,
    };
    Ok(n.max(0) as u64)
}
