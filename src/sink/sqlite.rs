//! The embedded default: action records in `<log_dir>/actions.db` (SQLite, WAL mode), so the
//! audit trail works on a fresh machine with no server. The file also holds the job tables
//! (`job_executions`, `scheduled_jobs`) and their two views, created on open. The table mirrors the PostgreSQL one,
//! with CHECK constraints for the same length and UUID limits, so a row one sink rejects the
//! other rejects too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::SecondsFormat;
use rusqlite::{Connection, ErrorCode, params};

use super::{
    COLUMNS, FailureKind, Sink, SinkError, SinkFuture, upsert_guard, upsert_set,
    validate_table_name,
};
use crate::Error;
use crate::action::ActionRecord;
use crate::job::JobExecution;

/// Writes action records into a SQLite database file.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    upsert: String,
    scheduled_jobs: bool,
}

impl std::fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn schema(t: &str) -> String {
    let ts = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            id TEXT PRIMARY KEY,
            action_type TEXT NOT NULL CHECK (length(action_type) BETWEEN 1 AND 50),
            user_id TEXT CHECK (length(user_id) <= 255),
            action_timestamp TEXT DEFAULT ({ts}),
            action_details TEXT CHECK (action_details IS NULL OR json_valid(action_details)),
            job_id TEXT CHECK (length(job_id) <= 100),
            job_execution_id TEXT CHECK (job_execution_id IS NULL OR (length(job_execution_id) = 36
                AND lower(job_execution_id) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-*-*-*')),
            status TEXT CHECK (length(status) <= 20),
            result_message TEXT,
            error_message TEXT,
            source TEXT CHECK (length(source) <= 50),
            ip_address TEXT CHECK (length(ip_address) <= 45),
            user_agent TEXT,
            request_duration_seconds REAL,
            created_at TEXT DEFAULT ({ts}),
            updated_at TEXT DEFAULT ({ts})
        );
        CREATE INDEX IF NOT EXISTS idx_{t}_action_type ON {t}(action_type);
        CREATE INDEX IF NOT EXISTS idx_{t}_user_id ON {t}(user_id);
        CREATE INDEX IF NOT EXISTS idx_{t}_timestamp ON {t}(action_timestamp DESC);
        CREATE INDEX IF NOT EXISTS idx_{t}_job_id ON {t}(job_id);
        CREATE INDEX IF NOT EXISTS idx_{t}_status ON {t}(status);
        CREATE TRIGGER IF NOT EXISTS {t}_updated_at AFTER UPDATE ON {t}
        FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
        BEGIN UPDATE {t} SET updated_at = {ts} WHERE id = NEW.id; END;"
    )
}

/// The job tables and views, mirroring `migrations/0002_jobs.sql`: timestamps are RFC 3339 text
/// in UTC (so they sort as text), booleans integers, JSON text.
fn jobs_schema() -> String {
    let ts = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    format!(
        "CREATE TABLE IF NOT EXISTS job_executions (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL CHECK (length(job_id) BETWEEN 1 AND 100),
            status TEXT NOT NULL CHECK (length(status) <= 20),
            started_at TEXT NOT NULL DEFAULT ({ts}),
            completed_at TEXT,
            duration_seconds REAL,
            error_message TEXT,
            logs TEXT,
            metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
            created_at TEXT DEFAULT ({ts})
        );
        CREATE INDEX IF NOT EXISTS idx_job_executions_job_id ON job_executions(job_id, started_at DESC);
        CREATE INDEX IF NOT EXISTS idx_job_executions_started_at ON job_executions(started_at DESC);
        CREATE INDEX IF NOT EXISTS idx_job_executions_status ON job_executions(status);
        CREATE TABLE IF NOT EXISTS scheduled_jobs (
            id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(6)))),
            job_id TEXT NOT NULL UNIQUE CHECK (length(job_id) BETWEEN 1 AND 100),
            job_name TEXT,
            job_function TEXT,
            schedule_type TEXT,
            schedule_value TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            last_successful_run TEXT,
            last_attempted_run TEXT,
            next_scheduled_run TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            max_consecutive_failures INTEGER NOT NULL DEFAULT 3,
            auto_retry_on_startup INTEGER NOT NULL DEFAULT 1,
            metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
            created_at TEXT DEFAULT ({ts}),
            updated_at TEXT DEFAULT ({ts})
        );
        CREATE TRIGGER IF NOT EXISTS scheduled_jobs_updated_at AFTER UPDATE ON scheduled_jobs
        FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
        BEGIN UPDATE scheduled_jobs SET updated_at = {ts} WHERE id = NEW.id; END;
        CREATE VIEW IF NOT EXISTS scheduled_jobs_status AS
        SELECT s.job_id, s.job_name, s.schedule_type, s.schedule_value, s.enabled,
            CASE
                WHEN NOT s.enabled THEN 'disabled'
                WHEN s.consecutive_failures >= s.max_consecutive_failures THEN 'failed_max_retries'
                WHEN s.next_scheduled_run <= {ts} THEN 'overdue'
                ELSE 'scheduled'
            END AS job_status,
            s.last_successful_run, s.last_attempted_run, s.next_scheduled_run,
            s.consecutive_failures, s.max_consecutive_failures,
            (SELECT e.status FROM job_executions e WHERE e.job_id = s.job_id
              ORDER BY e.started_at DESC LIMIT 1) AS last_execution_status,
            (SELECT MAX(e.started_at) FROM job_executions e WHERE e.job_id = s.job_id)
              AS last_execution_started_at,
            (SELECT e.error_message FROM job_executions e WHERE e.job_id = s.job_id
              ORDER BY e.started_at DESC LIMIT 1) AS last_execution_error
        FROM scheduled_jobs s;
        CREATE VIEW IF NOT EXISTS job_execution_summary AS
        SELECT job_id,
            COUNT(*) AS total_executions,
            COUNT(*) FILTER (WHERE status = 'success') AS successful_executions,
            COUNT(*) FILTER (WHERE status = 'failed') AS failed_executions,
            COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled_executions,
            ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'success') / COUNT(*), 2) AS success_rate,
            ROUND(AVG(duration_seconds), 3) AS avg_duration_seconds,
            MAX(started_at) AS last_execution
        FROM job_executions
        GROUP BY job_id;"
    )
}

/// Keeps one job's `scheduled_jobs` row current from `job_executions`, like the PostgreSQL
/// function `actionlog_refresh_scheduled_jobs` (derived, and a row already current is not
/// touched, so a replay changes nothing, not even `updated_at`).
const REFRESH_SCHEDULED_JOB: &str = "UPDATE scheduled_jobs SET
        last_attempted_run = x.attempted,
        last_successful_run = x.success,
        consecutive_failures = x.failures,
        next_scheduled_run = COALESCE(x.next_run, scheduled_jobs.next_scheduled_run)
    FROM (SELECT
        (SELECT MAX(started_at) FROM job_executions WHERE job_id = ?1) AS attempted,
        (SELECT MAX(started_at) FROM job_executions WHERE job_id = ?1 AND status = 'success')
            AS success,
        (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = ?1 AND e.status = 'failed'
            AND e.started_at > COALESCE((SELECT MAX(started_at) FROM job_executions
                WHERE job_id = ?1 AND status = 'success'), '')) AS failures,
        (SELECT json_extract(metadata, '$.next_scheduled_run') FROM job_executions
            WHERE job_id = ?1 AND json_extract(metadata, '$.next_scheduled_run') IS NOT NULL
            ORDER BY started_at DESC LIMIT 1) AS next_run) AS x
    WHERE scheduled_jobs.job_id = ?1 AND x.attempted IS NOT NULL
      AND (last_attempted_run IS NOT x.attempted OR last_successful_run IS NOT x.success
        OR consecutive_failures IS NOT x.failures
        OR next_scheduled_run IS NOT COALESCE(x.next_run, next_scheduled_run))";

impl SqliteSink {
    /// Opens (creating if needed) the database at `path` with the table `action_logs`.
    ///
    /// # Errors
    /// [`Error::Database`] naming the file and SQLite's reason.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_table(path, "action_logs")
    }

    /// Opens the database at `path` writing into `table` (validated as an SQL identifier).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad table name, [`Error::Database`] if the file cannot be used.
    pub fn open_table(path: impl AsRef<Path>, table: &str) -> Result<Self, Error> {
        validate_table_name(table)?;
        let path = path.as_ref().to_path_buf();
        let err = |e: rusqlite::Error| Error::Database {
            target: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::file::rolling::create_dir(dir).map_err(|e| Error::Database {
                target: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        if !path.exists() {
            // Created 0640 whatever the umask (SQLite gives its -wal and -shm files the same
            // mode): the audit trail is no more readable than the day files.
            crate::file::rolling::open_append(&path).map_err(|e| Error::Database {
                target: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(&schema(table)).map_err(err)?;
        conn.execute_batch(&jobs_schema()).map_err(err)?;
        let cols = COLUMNS.join(", ");
        let marks = (1..=COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let upsert = format!(
            "INSERT INTO {table} ({cols}) VALUES ({marks})
             ON CONFLICT (id) DO UPDATE SET {} WHERE {}",
            upsert_set("excluded"),
            upsert_guard(table, "excluded").replace("IS DISTINCT FROM", "IS NOT"),
        );
        // Prepare once now so a schema mismatch is a set-up error, not a runtime one.
        conn.prepare_cached(&upsert).map_err(err)?;
        Ok(SqliteSink {
            conn,
            path,
            upsert,
            scheduled_jobs: false,
        })
    }

    /// Keeps `scheduled_jobs` current from each batch of job runs, in the same transaction
    /// (default off; see [`crate::job`]).
    pub fn scheduled_jobs(mut self, on: bool) -> Self {
        self.scheduled_jobs = on;
        self
    }

    fn write_jobs_sync(&mut self, batch: &[JobExecution]) -> Result<(), rusqlite::Error> {
        let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO job_executions (id, job_id, status, started_at, completed_at,
                 duration_seconds, error_message, logs, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
            )?;
            for j in batch {
                let metadata = serde_json::to_string(&j.metadata).unwrap_or_else(|_| "{}".into());
                stmt.execute(params![
                    j.id.to_string(),
                    j.job_id,
                    j.status,
                    ts(&j.started_at),
                    j.completed_at.as_ref().map(ts),
                    j.duration_seconds.map(|d| (d * 1000.0).round() / 1000.0),
                    j.error_message,
                    j.logs,
                    metadata,
                ])?;
            }
            if self.scheduled_jobs {
                let mut refresh = tx.prepare_cached(REFRESH_SCHEDULED_JOB)?;
                let mut done: Vec<&str> = Vec::new();
                for j in batch {
                    if !done.contains(&j.job_id.as_str()) {
                        done.push(&j.job_id);
                        refresh.execute([&j.job_id])?;
                    }
                }
            }
        }
        tx.commit()
    }

    fn write_sync(&mut self, batch: &[ActionRecord]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&self.upsert)?;
            for r in batch {
                let details =
                    serde_json::to_string(&r.action_details).unwrap_or_else(|_| "{}".into());
                stmt.execute(params![
                    r.id.to_string(),
                    r.action_type,
                    r.user_id,
                    r.action_timestamp
                        .to_rfc3339_opts(SecondsFormat::Micros, true),
                    details,
                    r.job_id,
                    r.job_execution_id,
                    r.status,
                    r.result_message,
                    r.error_message,
                    r.source,
                    r.ip_address,
                    r.user_agent,
                    // The PostgreSQL column is DECIMAL(10,3): store the same precision.
                    r.request_duration_seconds
                        .map(|d| (d * 1000.0).round() / 1000.0),
                ])?;
            }
        }
        tx.commit()
    }
}

fn classify(e: &rusqlite::Error) -> FailureKind {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::OutOfMemory,
        ) => FailureKind::Transient,
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::CannotOpen
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::SchemaChanged,
        ) => FailureKind::Config,
        _ => FailureKind::Rejected,
    }
}

impl Sink for SqliteSink {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn write<'a>(&'a mut self, batch: &'a [ActionRecord]) -> SinkFuture<'a> {
        let result = self
            .write_sync(batch)
            .map_err(|e| SinkError::new(classify(&e), e.to_string()));
        Box::pin(std::future::ready(result))
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a [JobExecution]) -> SinkFuture<'a> {
        let result = self
            .write_jobs_sync(batch)
            .map_err(|e| SinkError::new(classify(&e), e.to_string()));
        Box::pin(std::future::ready(result))
    }
}
