//! PostgreSQL. By default ([`LoadStrategy::StagedCopy`]) a batch goes in with binary `COPY`, in
//! one transaction: first writes straight into the table, the rest through a session-local
//! staging table and one `INSERT … SELECT … ON CONFLICT (id) DO UPDATE … WHERE …`;
//! [`LoadStrategy::Unnest`] sends one `INSERT … SELECT … FROM UNNEST($1::uuid[], …)` instead.
//! Parameters only, never SQL built from values. The connection is made lazily on the worker's
//! runtime and remade after any connection-level failure, so a database that is down at start
//! does not fail `init`.
//!
//! One file per part: `url` (the connection string, `sslmode`, what messages may show),
//! `connect` (connecting, set-up, error classification), `load` (the load paths), `digests`
//! (the signed digests of `audit_digests`, stored in the write's own transaction).

mod connect;
pub(crate) mod digests;
mod load;
mod trail;
pub(crate) mod url;

use std::time::Duration;

use tokio_postgres::{Client, Statement};

use super::{Batch, Sink, SinkError, SinkFuture, validate_table_name};
use crate::error::Error;
use crate::rows::{ActionRecord, JobExecution};
use url::describe;

/// The migration creating `action_logs`, as shipped in `migrations/0001_action_logs.sql`.
pub const MIGRATION: &str = include_str!("../../../migrations/0001_action_logs.sql");

/// The migration creating the job tables, their views and the `scheduled_jobs` refresh
/// function, as shipped in `migrations/0002_jobs.sql`.
pub const JOBS_MIGRATION: &str = include_str!("../../../migrations/0002_jobs.sql");

/// The migration adding the per-day rollups that the read side's `stats` sums, kept by
/// statement-level triggers, as shipped in `migrations/0004_rollups.sql`.
pub const ROLLUPS_MIGRATION: &str = include_str!("../../../migrations/0004_rollups.sql");

/// The migration adding the per-hour rollups that the dashboard's histogram and failure
/// groups read, as shipped in `migrations/0005_hourly_rollups.sql` (after 0004, with it).
pub const HOURLY_ROLLUPS_MIGRATION: &str =
    include_str!("../../../migrations/0005_hourly_rollups.sql");

/// The migration adding the trace context columns (`trace_id`, `span_id`) to `action_logs` and
/// `job_executions`, as shipped in `migrations/0006_trace_context.sql` (after 0001 and 0002).
pub const TRACE_MIGRATION: &str = include_str!("../../../migrations/0006_trace_context.sql");

/// The migration adding the signed digests' table `audit_digests`, as shipped in
/// `migrations/0007_audit.sql` (on its own: it needs no other).
pub const AUDIT_MIGRATION: &str = include_str!("../../../migrations/0007_audit.sql");

/// The migration that lets a prune (`actionlog::retention`) keep the rollups: their DELETE
/// triggers skip a prune's batches, `actionlog_prune` (one batch for Supabase's REST API),
/// and the index of runs with logs, as shipped in `migrations/0008_retention.sql` (after the
/// rollups' migrations).
pub const RETENTION_MIGRATION: &str = include_str!("../../../migrations/0008_retention.sql");

/// How a batch is loaded; both are one transaction and the same idempotent upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadStrategy {
    /// Binary `COPY`: first writes straight into the table, the rest into a session-local
    /// staging table and then one `INSERT … SELECT … ON CONFLICT` from it (the default: fastest
    /// in `benches/pg_sink.rs`).
    #[default]
    StagedCopy,
    /// One `INSERT … SELECT … FROM UNNEST($1::uuid[], …) ON CONFLICT` with array parameters.
    Unnest,
}

/// Writes action records into PostgreSQL.
pub struct PostgresSink {
    config: tokio_postgres::Config,
    /// `postgres://user@host:port/db` without the password, for messages.
    target: String,
    schema: Option<String>,
    table: String,
    migrate: bool,
    rollups: bool,
    scheduled_jobs: bool,
    connect_timeout: Duration,
    statement_timeout: Duration,
    strategy: LoadStrategy,
    #[cfg(feature = "postgres-tls")]
    tls: Tls,
    conn: Option<(Client, Statement)>,
    /// Whether the table's column types are the migration's, so binary COPY may go straight
    /// into it (checked at each connect).
    direct_copy: bool,
    /// Whether a schema drift was reported (once per sink).
    drift_reported: bool,
    /// Whether the actions table has the trace context columns (checked at each connect): a
    /// store without them is written without the ids.
    trace_columns: bool,
    /// Whether `job_executions` has them.
    trace_jobs: bool,
    /// Whether missing trace columns were reported (once per sink).
    trace_reported: bool,
    /// The audit trail's digests, when kept.
    trail: trail::Trail,
}

/// TLS settings of a sink (feature `postgres-tls`).
#[cfg(feature = "postgres-tls")]
#[derive(Clone)]
struct Tls {
    verify: super::tls::Verify,
    root_cert: Option<std::path::PathBuf>,
    connector: tokio_postgres_rustls::MakeRustlsConnect,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("migrate", &self.migrate)
            .finish_non_exhaustive()
    }
}

impl PostgresSink {
    /// A sink for the database at `url` (`postgres://user:pass@host:port/db?…`), writing into
    /// `action_logs`. Nothing is connected yet.
    ///
    /// ```no_run
    /// fn main() -> Result<(), actionlog::Error> {
    ///     let sink = actionlog::sink::PostgresSink::new("postgres://app@db.internal/audit")?
    ///         .table("audit_log")?
    ///         .migrate(true);
    ///     let _guard = actionlog::builder().sink(sink).init()?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::Database`] if the URL does not parse (the message never repeats the URL).
    pub fn new(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Database {
            target: "(the configured database URL)".into(),
            reason,
        };
        // libpq's `verify-ca` / `verify-full` and `sslrootcert` are unknown to tokio-postgres:
        // `url::parse` takes them out, and they are applied here.
        let url::ConnString {
            mut config,
            sslmode,
            root_cert,
        } = url::parse(url).map_err(|e| match e {
            url::UrlError::Bad(reason) => bad(reason),
            url::UrlError::NoTls => Error::Config(
                "TLS (sslmode=require/verify-ca/verify-full) needs actionlog's `postgres-tls` feature",
            ),
        })?;
        if config.get_application_name().is_none() {
            config.application_name("actionlog");
        }
        #[cfg(not(feature = "postgres-tls"))]
        let _ = (sslmode, root_cert);
        #[cfg(feature = "postgres-tls")]
        let tls = {
            let verify = url::verify(&sslmode);
            let root_cert = root_cert.map(std::path::PathBuf::from);
            let connector = super::tls::connector(verify, root_cert.as_deref()).map_err(bad)?;
            Tls {
                verify,
                root_cert,
                connector,
            }
        };
        Ok(PostgresSink {
            target: describe(&config),
            config,
            schema: None,
            table: "action_logs".into(),
            migrate: false,
            rollups: true,
            scheduled_jobs: false,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            strategy: LoadStrategy::default(),
            #[cfg(feature = "postgres-tls")]
            tls,
            conn: None,
            direct_copy: true,
            drift_reported: false,
            trace_columns: true,
            trace_jobs: true,
            trace_reported: false,
            trail: trail::Trail::default(),
        })
    }

    /// Trusts only the certificates in this PEM file (like libpq's `sslrootcert`) instead of the
    /// Mozilla roots, for `sslmode=verify-ca` / `verify-full` against a private CA.
    ///
    /// # Errors
    /// [`Error::Database`] if the file cannot be read or holds no usable certificate.
    #[cfg(feature = "postgres-tls")]
    pub fn tls_root_cert(mut self, pem: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = pem.as_ref().to_path_buf();
        self.tls.connector =
            super::tls::connector(self.tls.verify, Some(&path)).map_err(|reason| {
                Error::Database {
                    target: self.target.clone(),
                    reason,
                }
            })?;
        self.tls.root_cert = Some(path);
        Ok(self)
    }

    /// Writes into `table` (validated as an SQL identifier; default `action_logs`).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name.
    pub fn table(mut self, table: &str) -> Result<Self, Error> {
        validate_table_name(table)?;
        self.table = table.to_owned();
        Ok(self)
    }

    /// Works inside `schema` (created when migrating): every connection sets its `search_path`.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name.
    pub fn schema(mut self, schema: &str) -> Result<Self, Error> {
        validate_table_name(schema)?;
        self.schema = Some(schema.to_owned());
        Ok(self)
    }

    /// Applies the migration (idempotently) on the first connection (default off).
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// Whether the migration includes the read side's per-day rollups and indexes
    /// and per-hour rollups (`migrations/0004_rollups.sql` and `0005_hourly_rollups.sql`;
    /// default on). They make `actionlog stats` and the
    /// dashboard's overview read days instead of rows, and cost every write (their triggers
    /// run in the writer's transaction: `BENCHMARKS.md` measures how much). Off leaves a store
    /// without them as it is (drop their triggers by hand to remove existing ones); the read
    /// side then scans, with the same results.
    pub fn rollups(mut self, on: bool) -> Self {
        self.rollups = on;
        self
    }

    /// Keeps `scheduled_jobs` current from each batch of job runs, in the same transaction
    /// (default off; see [`crate::job`]).
    pub fn scheduled_jobs(mut self, on: bool) -> Self {
        self.scheduled_jobs = on;
        self
    }

    /// How long connecting may take before it counts as a transient failure (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one batch may take (default 30 s); past it the connection is dropped and the
    /// batch retried (the upsert makes that safe).
    pub fn statement_timeout(mut self, d: Duration) -> Self {
        self.statement_timeout = d;
        self
    }

    /// How batches are loaded (default [`LoadStrategy::StagedCopy`]).
    pub fn load_strategy(mut self, s: LoadStrategy) -> Self {
        self.strategy = s;
        self
    }

    /// The migration SQL for this sink's table name, the job tables', the trace context
    /// columns', the signed digests' table, then (unless [`Self::rollups`] is off) the
    /// rollups', then retention's (which guards the rollups' delete triggers, when there are
    /// rollups).
    pub fn migration_sql(&self) -> String {
        let rollups = if self.rollups {
            format!("{ROLLUPS_MIGRATION}\n{HOURLY_ROLLUPS_MIGRATION}")
                .replace("action_logs", &self.table)
        } else {
            String::new()
        };
        format!(
            "{}\n{JOBS_MIGRATION}\n{}\n{AUDIT_MIGRATION}\n{rollups}\n{}",
            MIGRATION.replace("action_logs", &self.table),
            TRACE_MIGRATION.replace("action_logs", &self.table),
            RETENTION_MIGRATION.replace("action_logs", &self.table),
        )
    }

    async fn write_job_batch(&mut self, batch: &[JobExecution]) -> Result<(), SinkError> {
        self.ready().await?;
        let refresh = self.scheduled_jobs;
        let timeout = self.statement_timeout;
        let trace = self.trace_jobs;
        let (client, _) = self.conn.as_mut().expect("connected above");
        let trail = &mut self.trail;
        let load = load::load_jobs(client, batch, refresh, trace, trail);
        let r = tokio::time::timeout(timeout, load).await;
        let r = self.outcome(r, batch.len());
        if r.is_ok() {
            self.trail.committed();
        }
        r
    }

    /// A digest without rows, in a transaction of its own: an idle one if due, or the closing
    /// one (`close`).
    #[cfg(feature = "audit")]
    async fn digest_only(&mut self, close: bool) -> Result<(), SinkError> {
        if !self.trail.is_on() {
            return Ok(());
        }
        self.ready().await?;
        let timeout = self.statement_timeout;
        let (client, _) = self.conn.as_mut().expect("connected above");
        let trail = &mut self.trail;
        let work = async {
            let tx = client.transaction().await?;
            trail.seal(&tx, trail::Covered::Nothing { close }).await?;
            tx.commit().await
        };
        let r = tokio::time::timeout(timeout, work).await;
        let r = self.outcome(r, 0);
        if r.is_ok() {
            self.trail.committed();
        }
        r
    }

    async fn write_batch(&mut self, batch: &[ActionRecord]) -> Result<(), SinkError> {
        self.ready().await?;
        let strategy = self.strategy;
        let timeout = self.statement_timeout;
        let trace = self.trace_columns;
        let table_copy = format!(
            "COPY {} ({}) FROM STDIN BINARY",
            self.table,
            super::columns(trace).join(", ")
        );
        let direct = self.direct_copy;
        let (client, stmt) = self.conn.as_mut().expect("connected above");
        let trail = &mut self.trail;
        let load = async {
            match strategy {
                LoadStrategy::Unnest => load::load_unnest(client, stmt, batch, trace, trail).await,
                LoadStrategy::StagedCopy => {
                    load::load_copy(client, stmt, &table_copy, batch, direct, trace, trail).await
                }
            }
        };
        let r = tokio::time::timeout(timeout, load).await;
        let r = self.outcome(r, batch.len());
        if r.is_ok() {
            self.trail.committed();
        }
        r
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn target(&self) -> String {
        // User, database, schema and table — not the host and port: the same database is often
        // reached under another address after a failover, through a pooler or a proxy, and
        // segments must not be stranded by that. Never the password.
        // The schema as set, or as the URL's `options=-c search_path=…` sets it: one store
        // either way.
        let from_options = self.config.get_options().and_then(|o| {
            let (_, rest) = o.split_once("search_path=")?;
            rest.split([' ', ',']).next().map(str::to_owned)
        });
        let table = match self.schema.clone().or(from_options) {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        };
        format!(
            "{}@{} table {table}",
            self.config.get_user().unwrap_or(""),
            self.config.get_dbname().unwrap_or(""),
        )
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(self.write_batch(batch))
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        Box::pin(self.write_job_batch(batch))
    }

    #[cfg(feature = "audit")]
    fn keep_digests(&mut self, chain: crate::audit::Chain) -> bool {
        self.trail.keep(chain);
        true
    }

    #[cfg(feature = "audit")]
    fn tick_every(&self) -> Option<Duration> {
        // Twice per interval: an idle digest comes at most half an interval late.
        self.trail.interval().map(|d| d / 2)
    }

    #[cfg(feature = "audit")]
    fn tick(&mut self) -> SinkFuture<'_> {
        Box::pin(self.digest_only(false))
    }

    #[cfg(feature = "audit")]
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(self.digest_only(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_in_messages_or_debug() {
        let sink =
            PostgresSink::new("postgres://writer:CANARY-s3cret@db.example:6543/app").unwrap();
        let shown = format!("{sink:?} {}", sink.target);
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("writer@db.example:6543/app"), "{shown}");
        let err = PostgresSink::new("postgres://writer:CANARY-s3cret@db.example:notaport/app")
            .unwrap_err();
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }

    #[test]
    fn rollups_follow_the_table_name_and_can_be_left_out() {
        let sink = PostgresSink::new("postgres://h/db")
            .unwrap()
            .table("audit_log")
            .unwrap();
        let sql = sink.migration_sql();
        assert!(sql.contains("CREATE TABLE audit_log_daily_status"), "{sql}");
        assert!(
            sql.contains("CREATE TABLE audit_log_hourly_failures"),
            "{sql}"
        );
        assert!(!sql.contains("action_logs_daily") && !sql.contains("action_logs_hourly"));
        let sql = sink.rollups(false).migration_sql();
        assert!(!sql.contains("_daily_status") && sql.contains("scheduled_jobs"));
        assert!(!sql.contains("_hourly_status"));
        assert!(sql.contains("ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS trace_id TEXT"));
        assert!(sql.contains("ALTER TABLE job_executions ADD COLUMN IF NOT EXISTS span_id TEXT"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS audit_digests ("));
        assert!(sql.contains("tgname = 'audit_log_rollup_delete'"));
        assert!(sql.contains("DELETE FROM audit_log a USING b"));
    }
}
