//! Connecting: the connection (with TLS when the feature is on), the per-session set-up
//! (search path, migration under an advisory lock, the staging table, the prepared upsert),
//! and what each driver error means for delivery ([`FailureKind`]).

use std::future::Future;
use std::pin::Pin;

use tokio_postgres::Client;
#[cfg(not(feature = "postgres-tls"))]
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::load::{STAGE, STAGE_TYPES, upsert_sql};
use super::url::quote_ident;
use super::{LoadStrategy, PostgresSink};
use crate::sink::{FailureKind, SinkError, columns};

impl PostgresSink {
    /// Opens a connection, with TLS when the feature is on; the second half drives it.
    async fn open(
        &self,
    ) -> Result<(Client, Pin<Box<dyn Future<Output = ()> + Send>>), tokio_postgres::Error> {
        #[cfg(feature = "postgres-tls")]
        let (client, connection) = self.config.connect(self.tls.connector.clone()).await?;
        #[cfg(not(feature = "postgres-tls"))]
        let (client, connection) = self.config.connect(NoTls).await?;
        Ok((
            client,
            Box::pin(async move {
                let _ = connection.await;
            }),
        ))
    }

    async fn connect(&mut self) -> Result<(), SinkError> {
        let (client, connection) =
            match tokio::time::timeout(self.connect_timeout, self.open()).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => return Err(self.error(&e)),
                Err(_) => {
                    return Err(SinkError::new(
                        FailureKind::Transient,
                        format!(
                            "connecting to {} timed out after {:?}",
                            self.target, self.connect_timeout
                        ),
                    ));
                }
            };
        // Ends when the client is dropped or the server goes away; the next write notices.
        tokio::spawn(connection);
        let mut setup = String::new();
        if let Some(s) = &self.schema {
            if self.migrate {
                setup.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};", quote_ident(s)));
            }
            setup.push_str(&format!("SET search_path TO {};", quote_ident(s)));
        }
        if self.migrate {
            // One migrator at a time across processes; the SQL itself is idempotent.
            setup.push_str("BEGIN; SELECT pg_advisory_xact_lock(7265786);");
            setup.push_str(&self.migration_sql());
            setup.push_str("COMMIT;");
        }
        if self.strategy == LoadStrategy::StagedCopy {
            // Session-local and emptied at every commit: no WAL, no indexes, no cleanup.
            let cols = columns(true)
                .iter()
                .zip(STAGE_TYPES.iter())
                .map(|(c, ty)| format!("{c} {}", ty.name()))
                .collect::<Vec<_>>()
                .join(", ");
            setup.push_str(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {} ({cols}) ON COMMIT DELETE ROWS;",
                STAGE.trim_start_matches("pg_temp.")
            ));
        }
        if !setup.is_empty() {
            client
                .batch_execute(&setup)
                .await
                .map_err(|e| self.error(&e))?;
        }
        self.trace_columns = super::load::has_trace_columns(&client, &self.table)
            .await
            .map_err(|e| self.error(&e))?;
        self.trace_jobs = super::load::has_trace_columns(&client, "job_executions")
            .await
            .map_err(|e| self.error(&e))?;
        if !self.trace_columns && !self.trace_reported {
            self.trace_reported = true;
            crate::report::emit(format_args!(
                "NOTE: {} table {}: no trace_id/span_id columns; rows are written without trace ids. Apply migrations/0006_trace_context.sql (or migrate) to store them.",
                self.target, self.table
            ));
        }
        let stmt = client
            .prepare(&upsert_sql(&self.table, self.strategy, self.trace_columns))
            .await
            .map_err(|e| self.error(&e))?;
        // A table made by hand with other types (schema drift): binary COPY straight into it
        // would fail for every row, so only the staged path (whose upsert casts) is used.
        let drift = super::load::drift(&client, &self.table)
            .await
            .map_err(|e| self.error(&e))?;
        self.direct_copy = drift.is_empty();
        if !drift.is_empty() && !self.drift_reported {
            self.drift_reported = true;
            let cols = drift
                .iter()
                .map(|(c, is, want)| format!("{c} is {is}, not {want}"))
                .collect::<Vec<_>>()
                .join("; ");
            let fix = drift
                .iter()
                .map(|(c, _, want)| {
                    let want = if want == "numeric" {
                        "DECIMAL(10,3)"
                    } else {
                        want
                    };
                    format!("ALTER TABLE {} ALTER COLUMN {c} TYPE {want};", self.table)
                })
                .collect::<Vec<_>>()
                .join(" ");
            crate::report::emit(format_args!(
                "WARNING: {} table {}: {cols}; rows are written through the upsert's casts, not binary COPY (slower). Migrate to restore the fast path: {fix}",
                self.target, self.table
            ));
        }
        self.conn = Some((client, stmt));
        Ok(())
    }

    /// Connects unless a live connection is there.
    pub(super) async fn ready(&mut self) -> Result<(), SinkError> {
        if self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.conn = None;
            self.connect().await?;
        }
        Ok(())
    }

    /// Maps the outcome of one bounded database step, dropping the connection unless the
    /// server merely refused the data.
    pub(super) fn outcome(
        &mut self,
        r: Result<Result<(), tokio_postgres::Error>, tokio::time::error::Elapsed>,
        rows: usize,
    ) -> Result<(), SinkError> {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let err = self.error(&e);
                if err.kind != FailureKind::Rejected {
                    self.conn = None;
                }
                Err(err)
            }
            Err(_) => {
                self.conn = None;
                Err(SinkError::new(
                    FailureKind::Transient,
                    format!(
                        "batch of {rows} rows timed out after {:?}",
                        self.statement_timeout
                    ),
                ))
            }
        }
    }

    /// Classifies a driver error; the message names the server, never the password.
    fn error(&self, e: &tokio_postgres::Error) -> SinkError {
        let kind = classify(e);
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({}): {}", self.target, db.code().code(), db.message()),
            None => {
                // The driver's own text is terse ("error performing TLS handshake"): add the
                // causes, which say what actually failed (refused, reset, bad certificate).
                let mut text = format!("{}: {e}", self.target);
                let mut cause = std::error::Error::source(e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                text
            }
        };
        SinkError::new(kind, message)
    }
}

/// Which failures are worth retrying, by SQLSTATE class.
fn classify(e: &tokio_postgres::Error) -> FailureKind {
    let Some(code) = e.code() else {
        // No SQLSTATE: I/O, closed connection, protocol: the network's fault.
        return FailureKind::Transient;
    };
    let c = code.code();
    if c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources
        || c.starts_with("57") // operator intervention: admin shutdown, cannot connect now, query canceled
        || c.starts_with("58") // system error (I/O)
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        FailureKind::Transient
    } else if c.starts_with("28") // authentication
        || c.starts_with("3D") // database does not exist
        || c.starts_with("3F") // schema does not exist
        || c.starts_with("42")
    // undefined table/column, permission denied
    {
        FailureKind::Config
    } else {
        FailureKind::Rejected
    }
}
