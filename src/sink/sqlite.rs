//! The embedded default: action records in `<log_dir>/actions.db` (SQLite, WAL mode), so the
//! audit trail works on a fresh machine with no server. The table mirrors the PostgreSQL one,
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

/// Writes action records into a SQLite database file.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    upsert: String,
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
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(&schema(table)).map_err(err)?;
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
        Ok(SqliteSink { conn, path, upsert })
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
}
