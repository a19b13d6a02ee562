//! PostgreSQL: a batch goes in as one statement,
//! `INSERT … SELECT … FROM UNNEST($1::uuid[], …) ON CONFLICT (id) DO UPDATE … WHERE …`
//! (one round trip, one plan, parameters only). The connection is made lazily on the worker's
//! runtime and remade after any connection-level failure, so a database that is down at start
//! does not fail `init`.

use std::time::Duration;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
#[cfg(not(feature = "postgres-tls"))]
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, Json, ToSql, Type};
use tokio_postgres::{Client, Statement, Transaction};
use uuid::Uuid;

use super::{
    COLUMNS, FailureKind, Sink, SinkError, SinkFuture, clean_map, clean_text, upsert_guard,
    upsert_set, validate_table_name,
};
use crate::error::Error;
use crate::rows::ActionRecord;
use crate::rows::JobExecution;

/// The migration creating `action_logs`, as shipped in `migrations/0001_action_logs.sql`.
pub const MIGRATION: &str = include_str!("../../migrations/0001_action_logs.sql");

/// The migration creating the job tables, their views and the `scheduled_jobs` refresh
/// function, as shipped in `migrations/0002_jobs.sql`.
pub const JOBS_MIGRATION: &str = include_str!("../../migrations/0002_jobs.sql");

/// One batch of job runs, ignoring runs already stored (a run is written once, at its end).
const INSERT_JOBS: &str = "INSERT INTO job_executions \
    (id, job_id, status, started_at, completed_at, duration_seconds, error_message, logs, metadata) \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
    $5::timestamptz[], $6::float8[], $7::text[], $8::text[], $9::jsonb[]) \
    ON CONFLICT (id) DO NOTHING";

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
    scheduled_jobs: bool,
    connect_timeout: Duration,
    statement_timeout: Duration,
    strategy: LoadStrategy,
    #[cfg(feature = "postgres-tls")]
    tls: Tls,
    conn: Option<(Client, Statement)>,
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

/// The URL's user, hosts, ports and database, never its password.
fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl PostgresSink {
    /// A sink for the database at `url` (`postgres://user:pass@host:port/db?…`), writing into
    /// `action_logs`. Nothing is connected yet.
    ///
    /// # Errors
    /// [`Error::Database`] if the URL does not parse (the message never repeats the URL).
    pub fn new(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Database {
            target: "(the configured database URL)".into(),
            reason,
        };
        // libpq's `verify-ca` / `verify-full` and `sslrootcert` are unknown to tokio-postgres:
        // take them out and apply them ourselves.
        let (url, sslmode) = take_param(url, "sslmode");
        let (url, root_cert) = take_param(&url, "sslrootcert");
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        let mode = sslmode.as_deref().unwrap_or("prefer");
        config.ssl_mode(match mode {
            "disable" => tokio_postgres::config::SslMode::Disable,
            "allow" | "prefer" => tokio_postgres::config::SslMode::Prefer,
            "require" | "verify-ca" | "verify-full" => tokio_postgres::config::SslMode::Require,
            other => return Err(bad(format!("unknown sslmode {other:?}"))),
        });
        if config.get_application_name().is_none() {
            config.application_name("actionlog");
        }
        #[cfg(not(feature = "postgres-tls"))]
        if matches!(mode, "require" | "verify-ca" | "verify-full") || root_cert.is_some() {
            return Err(Error::Config(
                "TLS (sslmode=require/verify-ca/verify-full) needs actionlog's `postgres-tls` feature",
            ));
        }
        #[cfg(feature = "postgres-tls")]
        let tls = {
            use super::tls::Verify;
            let verify = match mode {
                "verify-full" => Verify::Full,
                "verify-ca" => Verify::Ca,
                _ => Verify::None,
            };
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
            scheduled_jobs: false,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            strategy: LoadStrategy::default(),
            #[cfg(feature = "postgres-tls")]
            tls,
            conn: None,
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

    /// The migration SQL for this sink's table name, then the job tables'.
    pub fn migration_sql(&self) -> String {
        format!(
            "{}\n{JOBS_MIGRATION}",
            MIGRATION.replace("action_logs", &self.table)
        )
    }

    fn upsert_sql(&self) -> String {
        let t = &self.table;
        let cols = COLUMNS.join(", ");
        let select = COLUMNS
            .iter()
            .map(|c| {
                if *c == "job_execution_id" {
                    "u.job_execution_id::uuid".to_owned()
                } else {
                    format!("u.{c}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let from = match self.strategy {
            LoadStrategy::Unnest => {
                let params = STAGE_TYPES
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| format!("${}::{}[]", i + 1, ty.name()))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("UNNEST({params}) AS u({cols})")
            }
            LoadStrategy::StagedCopy => format!("{STAGE} AS u"),
        };
        format!(
            "INSERT INTO {t} AS t ({cols}) SELECT {select} FROM {from} \
             ON CONFLICT (id) DO UPDATE SET {} WHERE {}",
            upsert_set("EXCLUDED"),
            upsert_guard("t", "EXCLUDED")
        )
    }

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
            let cols = COLUMNS
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
        let stmt = client
            .prepare(&self.upsert_sql())
            .await
            .map_err(|e| self.error(&e))?;
        self.conn = Some((client, stmt));
        Ok(())
    }

    /// Connects unless a live connection is there.
    async fn ready(&mut self) -> Result<(), SinkError> {
        if self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.conn = None;
            self.connect().await?;
        }
        Ok(())
    }

    /// Maps the outcome of one bounded database step, dropping the connection unless the
    /// server merely refused the data.
    fn outcome(
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

    async fn write_job_batch(&mut self, batch: &[JobExecution]) -> Result<(), SinkError> {
        self.ready().await?;
        let refresh = self.scheduled_jobs;
        let timeout = self.statement_timeout;
        let (client, _) = self.conn.as_mut().expect("connected above");
        let load = async {
            let tx = client.transaction().await?;
            let ids: Vec<Uuid> = batch.iter().map(|j| j.id).collect();
            let job_ids: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.job_id)).collect();
            let statuses: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.status)).collect();
            let started: Vec<DateTime<Utc>> = batch.iter().map(|j| j.started_at).collect();
            let completed: Vec<Option<DateTime<Utc>>> =
                batch.iter().map(|j| j.completed_at).collect();
            let durations: Vec<Option<f64>> = batch.iter().map(|j| j.duration_seconds).collect();
            let errors: Vec<Option<Cow<'_, str>>> = batch
                .iter()
                .map(|j| j.error_message.as_deref().map(clean_text))
                .collect();
            let logs: Vec<Cow<'_, str>> = batch.iter().map(|j| clean_text(&j.logs)).collect();
            let metadata: Vec<Json<Cow<'_, Map<String, Value>>>> =
                batch.iter().map(|j| Json(clean_map(&j.metadata))).collect();
            tx.execute(
                INSERT_JOBS,
                &[
                    &ids, &job_ids, &statuses, &started, &completed, &durations, &errors, &logs,
                    &metadata,
                ],
            )
            .await?;
            if refresh {
                let mut jobs: Vec<&str> = batch.iter().map(|j| j.job_id.as_str()).collect();
                jobs.sort_unstable();
                jobs.dedup();
                tx.execute(
                    "SELECT actionlog_refresh_scheduled_jobs($1::text[])",
                    &[&jobs],
                )
                .await?;
            }
            tx.commit().await
        };
        let r = tokio::time::timeout(timeout, load).await;
        self.outcome(r, batch.len())
    }

    async fn write_batch(&mut self, batch: &[ActionRecord]) -> Result<(), SinkError> {
        self.ready().await?;
        let strategy = self.strategy;
        let timeout = self.statement_timeout;
        let table_copy = format!(
            "COPY {} ({}) FROM STDIN BINARY",
            self.table,
            COLUMNS.join(", ")
        );
        let (client, stmt) = self.conn.as_mut().expect("connected above");
        let load = async {
            match strategy {
                LoadStrategy::Unnest => load_unnest(client, stmt, batch).await,
                LoadStrategy::StagedCopy => load_copy(client, stmt, &table_copy, batch).await,
            }
        };
        let r = tokio::time::timeout(timeout, load).await;
        self.outcome(r, batch.len())
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

/// The staging table (session-local).
const STAGE: &str = "pg_temp.actionlog_stage";

/// The PostgreSQL type of each of [`COLUMNS`] as loaded (the job run id stays text until the
/// final cast, so a malformed one is rejected row by row, not at load time).
const STAGE_TYPES: [Type; 14] = [
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
];

/// One record's values in [`COLUMNS`] order, NUL-cleaned, borrowing where nothing needed cleaning.
struct Row<'a> {
    texts: [Option<Cow<'a, str>>; 10],
    details: Json<Cow<'a, Map<String, Value>>>,
}

impl<'a> Row<'a> {
    fn new(r: &'a ActionRecord) -> Self {
        let t = |s: Option<&'a str>| s.map(clean_text);
        let details = clean_map(&r.action_details);
        Row {
            texts: [
                t(Some(&r.action_type)),
                t(r.user_id.as_deref()),
                t(r.job_id.as_deref()),
                t(r.job_execution_id.as_deref()),
                t(Some(&r.status)),
                t(r.result_message.as_deref()),
                t(r.error_message.as_deref()),
                t(r.source.as_deref()),
                t(r.ip_address.as_deref()),
                t(r.user_agent.as_deref()),
            ],
            details: Json(details),
        }
    }
}

/// The table's own column types, for binary COPY straight into it.
const TABLE_TYPES: [Type; 14] = [
    Type::UUID,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::TIMESTAMPTZ,
    Type::JSONB,
    Type::VARCHAR,
    Type::UUID,
    Type::VARCHAR,
    Type::TEXT,
    Type::TEXT,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::TEXT,
    Type::NUMERIC,
];

/// A duration for the `DECIMAL(10,3)` column, encoded in NUMERIC's binary form (base-10000
/// digit groups), rounded to milliseconds like the column.
#[derive(Debug)]
struct Numeric3(f64);

/// The largest magnitude `DECIMAL(10,3)` holds.
const NUMERIC3_MAX: f64 = 9_999_999.999;

impl ToSql for Numeric3 {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let millis = (self.0 * 1000.0).round();
        if !millis.is_finite() || millis.abs() > NUMERIC3_MAX * 1000.0 {
            return Err("duration out of DECIMAL(10,3) range".into());
        }
        let v = millis.abs() as u64;
        let (int, frac) = (v / 1000, (v % 1000) * 10);
        let mut groups: Vec<i16> = Vec::new();
        let mut i = int;
        while i > 0 {
            groups.insert(0, (i % 10_000) as i16);
            i /= 10_000;
        }
        let weight = groups.len() as i16 - 1;
        if frac != 0 {
            groups.push(frac as i16);
        }
        let weight = if int == 0 {
            if frac != 0 { -1 } else { 0 }
        } else {
            weight
        };
        out.put_i16(groups.len() as i16);
        out.put_i16(weight);
        out.put_u16(if millis < 0.0 && v != 0 { 0x4000 } else { 0 });
        out.put_u16(3);
        for g in groups {
            out.put_i16(g);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Can `r` be appended straight into the table? Only first writes whose values the table's
/// binary types can carry as they are; anything else takes the upsert, where PostgreSQL's own
/// casts reject bad values row by row.
fn direct(r: &ActionRecord) -> bool {
    r.first_write
        && r.job_execution_id
            .as_deref()
            .is_none_or(|s| Uuid::parse_str(s).is_ok())
        && r.request_duration_seconds
            .is_none_or(|d| d.is_finite() && d.abs() <= NUMERIC3_MAX)
}

/// Streams `rows` through binary COPY, into the table (`into_table`) or the staging table.
async fn copy_rows(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[&ActionRecord],
    into_table: bool,
) -> Result<(), tokio_postgres::Error> {
    let types: &[Type] = if into_table {
        &TABLE_TYPES
    } else {
        &STAGE_TYPES
    };
    let sink = tx.copy_in(sql).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, types));
    for r in rows {
        let row = Row::new(r);
        let [
            action_type,
            user_id,
            job_id,
            job_execution_id,
            status,
            result_message,
            error_message,
            source,
            ip,
            ua,
        ] = &row.texts;
        let exec_uuid: Option<Uuid> = r
            .job_execution_id
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok());
        let numeric = r.request_duration_seconds.map(Numeric3);
        let values: [&(dyn ToSql + Sync); 14] = [
            &r.id,
            action_type,
            user_id,
            &r.action_timestamp,
            &row.details,
            job_id,
            if into_table {
                &exec_uuid
            } else {
                job_execution_id
            },
            status,
            result_message,
            error_message,
            source,
            ip,
            ua,
            if into_table {
                &numeric
            } else {
                &r.request_duration_seconds
            },
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The default load: first writes are appended with binary COPY straight into the table (as
/// fast as a raw COPY); the rest are COPYed into the staging table and upserted from it, all in
/// one transaction. If a "first write" exists after all (a replay, or a retry after a commit
/// whose reply was lost), the unique violation sends the whole batch down the upsert path.
async fn load_copy(
    client: &mut Client,
    insert: &Statement,
    table_copy: &str,
    batch: &[ActionRecord],
) -> Result<(), tokio_postgres::Error> {
    let stage_copy = format!("COPY {STAGE} FROM STDIN BINARY");
    let (fresh, rest): (Vec<&ActionRecord>, Vec<&ActionRecord>) =
        batch.iter().partition(|r| direct(r));
    if !fresh.is_empty() {
        let tx = client.transaction().await?;
        match copy_rows(&tx, table_copy, &fresh, true).await {
            Ok(()) => {
                if !rest.is_empty() {
                    copy_rows(&tx, &stage_copy, &rest, false).await?;
                    tx.execute(insert, &[]).await?;
                }
                return tx.commit().await;
            }
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => tx.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    let all: Vec<&ActionRecord> = batch.iter().collect();
    let tx = client.transaction().await?;
    copy_rows(&tx, &stage_copy, &all, false).await?;
    tx.execute(insert, &[]).await?;
    tx.commit().await
}

async fn load_unnest(
    client: &mut Client,
    insert: &Statement,
    batch: &[ActionRecord],
) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<Row<'_>> = batch.iter().map(Row::new).collect();
    let ids: Vec<Uuid> = batch.iter().map(|r| r.id).collect();
    let ts: Vec<DateTime<Utc>> = batch.iter().map(|r| r.action_timestamp).collect();
    let details: Vec<&Json<Cow<'_, Map<String, Value>>>> =
        rows.iter().map(|r| &r.details).collect();
    let col =
        |i: usize| -> Vec<&Option<Cow<'_, str>>> { rows.iter().map(|r| &r.texts[i]).collect() };
    let (action_type, user_id, job_id, job_execution_id, status) =
        (col(0), col(1), col(2), col(3), col(4));
    let (result_message, error_message, source, ip, ua) = (col(5), col(6), col(7), col(8), col(9));
    let duration: Vec<Option<f64>> = batch.iter().map(|r| r.request_duration_seconds).collect();
    let params: [&(dyn ToSql + Sync); 14] = [
        &ids,
        &action_type,
        &user_id,
        &ts,
        &details,
        &job_id,
        &job_execution_id,
        &status,
        &result_message,
        &error_message,
        &source,
        &ip,
        &ua,
        &duration,
    ];
    client.execute(insert, &params).await.map(|_| ())
}

/// Removes `key` from a connection string, in URL form (`…?a=1&key=v`) or key/value form
/// (`host=h key=v`); returns the rest and the value.
fn take_param(url: &str, key: &str) -> (String, Option<String>) {
    let prefix = format!("{key}=");
    let mut value = None;
    let mut keep = |p: &&str| match p.strip_prefix(prefix.as_str()) {
        Some(v) => {
            value = Some(v.to_owned());
            false
        }
        None => true,
    };
    let rest = if url.contains("://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let kept: Vec<&str> = query.split('&').filter(&mut keep).collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        url.split_whitespace()
            .filter(&mut keep)
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, value)
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

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn write<'a>(&'a mut self, batch: &'a [ActionRecord]) -> SinkFuture<'a> {
        Box::pin(self.write_batch(batch))
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a [JobExecution]) -> SinkFuture<'a> {
        Box::pin(self.write_job_batch(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_param_from_both_forms() {
        assert_eq!(
            take_param(
                "postgres://u@h/db?sslmode=verify-full&connect_timeout=3",
                "sslmode"
            ),
            (
                "postgres://u@h/db?connect_timeout=3".to_owned(),
                Some("verify-full".to_owned())
            )
        );
        assert_eq!(
            take_param("postgres://u@h/db?sslmode=require", "sslmode"),
            ("postgres://u@h/db".to_owned(), Some("require".to_owned()))
        );
        assert_eq!(
            take_param("postgres://u@h/db", "sslmode"),
            ("postgres://u@h/db".to_owned(), None)
        );
        assert_eq!(
            take_param("host=h sslrootcert=/ca.pem user=u", "sslrootcert"),
            ("host=h user=u".to_owned(), Some("/ca.pem".to_owned()))
        );
    }

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
}
