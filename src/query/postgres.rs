//! The PostgreSQL store, read-only: the session is set to `default_transaction_read_only = on`
//! (so every statement runs in a read-only transaction), `statement_timeout`, and
//! `plan_cache_mode = force_custom_plan` (plans for each range's own values). The URL is
//! read as the sink reads it: libpq's `sslmode` (TLS with feature `postgres-tls`, rustls,
//! certificates checked for `verify-ca` / `verify-full`) and `sslrootcert`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use crate::rows::{ActionRecord, JobExecution};
use crate::sink::postgres::url::UrlError;

use super::scan::{self, Scan, ScannedRun};
use super::sql::{self, Dialect, Param};
use super::{Entity, Error, Filter, Jobs, Options, Page, PageQuery, Rows, Stats, Target};
use super::{hourly, rollup};

const HINT: &str = "run migrations/0001_action_logs.sql and migrations/0002_jobs.sql (psql -f), or start the app once with .migrate(true)";

/// A read-only session on a PostgreSQL database.
pub struct PgStore {
    client: Client,
    target: String,
    /// Prepared statements by SQL text (the texts are few: one per query shape), so a query
    /// is one round trip.
    prepared: std::sync::Mutex<std::collections::HashMap<String, Statement>>,
    /// Whether `stats` reads the rollups (the store has them and the options allow it).
    rollups: bool,
    /// Whether the histogram and failure groups read the hourly rollups (likewise).
    hourly: bool,
    trace: super::TraceColumns,
}

/// A session on the database at `url`, read as the sink reads it (libpq's `sslmode` and
/// `sslrootcert`, so a URL that works for the app works here), named `application` in
/// `pg_stat_activity`; and the store's name without the password. The read side and
/// retention (`crate::retention`) both open theirs here.
pub(crate) async fn open_session(
    url: &str,
    opts: &Options,
    application: &str,
) -> Result<(Client, String), Error> {
    let target = Target::Postgres(url.to_owned()).describe();
    let unreachable = |reason: String| Error::Unreachable {
        target: target.clone(),
        reason,
    };
    let cs = crate::sink::postgres::url::parse(url).map_err(|e| match e {
        UrlError::Bad(reason) => unreachable(format!("bad URL: {reason}")),
        UrlError::NoTls => unreachable(
            "TLS (sslmode=require/verify-ca/verify-full) needs the `postgres-tls` feature".into(),
        ),
    })?;
    let mut config = cs.config;
    config.connect_timeout(opts.connect_timeout);
    config.application_name(application);
    #[cfg(feature = "postgres-tls")]
    let connected = {
        let root = cs.root_cert.as_deref().map(std::path::Path::new);
        let tls =
            crate::sink::tls::connector(crate::sink::postgres::url::verify(&cs.sslmode), root)
                .map_err(|e| unreachable(format!("TLS set-up: {e}")))?;
        config.connect(tls).await
    };
    #[cfg(not(feature = "postgres-tls"))]
    let connected = config.connect(tokio_postgres::NoTls).await;
    let (client, conn) = connected.map_err(|e| {
        let refused = e
            .as_db_error()
            .is_some_and(|d| d.code().code().starts_with("28"));
        let reason = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string());
        if refused {
            Error::Refused {
                target: target.clone(),
                reason,
            }
        } else {
            unreachable(reason)
        }
    })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((client, target))
}

impl PgStore {
    pub(crate) async fn connect(url: &str, opts: &Options) -> Result<Self, Error> {
        let (client, target) = open_session(url, opts, "actionlog-query").await?;
        let unreachable = |reason: String| Error::Unreachable {
            target: target.clone(),
            reason,
        };
        let ms = opts.statement_timeout.as_millis().max(1);
        client
            .batch_execute(&format!(
                "SET default_transaction_read_only = on; SET statement_timeout = {ms}"
            ))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // Plans for the values at hand: a statement is prepared once, and after five runs the
        // server may switch to a generic plan, blind to how much of the table a time range
        // covers (on the bench store, psql with a forced generic plan: the 7-day failed actions
        // 6.6 → 156 ms, the job runs 93 → 243 ms). Planning costs about a millisecond. PostgreSQL 12+; older servers keep their default.
        let _ = client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await;
        let mut store = PgStore {
            client,
            target,
            prepared: Default::default(),
            rollups: false,
            hourly: false,
            trace: Default::default(),
        };
        let names = [
            ("table", "action_logs"),
            ("table", "job_executions"),
            ("table", "scheduled_jobs"),
            ("view", "scheduled_jobs_status"),
            ("view", "job_execution_summary"),
        ];
        for (what, name) in names {
            let row = store
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .await
                .map_err(|e| store.err(e))?;
            if !row.get::<_, bool>(0) {
                return Err(Error::MissingTable {
                    target: store.target,
                    what,
                    name: name.into(),
                    hint: HINT,
                });
            }
        }
        let has_trace = |t: &str| {
            format!(
                "(SELECT COUNT(*) = 2 FROM pg_attribute WHERE attrelid = to_regclass('{t}') \
                 AND attnum > 0 AND NOT attisdropped AND attname IN ('trace_id', 'span_id'))"
            )
        };
        let row = store
            .client
            .query_one(
                &format!(
                    "SELECT {}, {}",
                    has_trace("action_logs"),
                    has_trace("job_executions")
                ),
                &[],
            )
            .await
            .map_err(|e| store.err(e))?;
        store.trace = super::TraceColumns {
            actions: row.get(0),
            runs: row.get(1),
        };
        if opts.use_rollups {
            let row = store
                .client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
                    &[&rollup::MARKER, &hourly::MARKER],
                )
                .await
                .map_err(|e| store.err(e))?;
            store.rollups = row.get(0);
            store.hourly = row.get(1);
        }
        Ok(store)
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    fn err(&self, e: tokio_postgres::Error) -> Error {
        let reason = match e.as_db_error() {
            Some(d) if d.code().code() == "57014" => "statement timeout reached".to_owned(),
            Some(d) => d.message().to_owned(),
            None => e.to_string(),
        };
        Error::Query {
            target: self.target.clone(),
            reason,
        }
    }

    /// The prepared statement of `text`, prepared on its first use.
    async fn prepare(&self, text: &str) -> Result<Statement, Error> {
        let cached = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
            .cloned();
        if let Some(st) = cached {
            return Ok(st);
        }
        let st = self.client.prepare(text).await.map_err(|e| self.err(e))?;
        let mut map = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() < 64 {
            map.insert(text.to_owned(), st.clone());
        }
        Ok(st)
    }

    async fn rows(&self, text: &str, params: &[Param]) -> Result<Rows, Error> {
        let args: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| match p {
                Param::Text(s) => s as &(dyn ToSql + Sync),
                Param::Time(t) => t as &(dyn ToSql + Sync),
            })
            .collect();
        let st = self.prepare(text).await?;
        let columns: Vec<String> = st.columns().iter().map(|c| c.name().to_owned()).collect();
        let rows = self
            .client
            .query(&st, &args)
            .await
            .map_err(|e| self.err(e))?;
        Ok(Rows {
            columns,
            rows: rows.iter().map(row_values).collect(),
        })
    }

    pub(crate) async fn page(&self, q: &PageQuery) -> Result<Page, Error> {
        self.trace.check(&q.filter, &self.target)?;
        let s = sql::page(Dialect::Postgres, q, self.trace.has(q.filter.entity));
        let rows = self.rows(&s.text, &s.params).await?;
        Ok(super::split_page(
            rows,
            q.limit,
            q.filter.entity.time_column(),
        ))
    }

    pub(crate) async fn run_logs(&self, id: &str) -> Result<Option<String>, Error> {
        let s = sql::run_logs(Dialect::Postgres, id);
        let rows = self.rows(&s.text, &s.params).await?;
        Ok(rows
            .rows
            .first()
            .map(|r| r[0].as_str().unwrap_or_default().to_owned()))
    }

    pub(crate) async fn jobs(&self, overdue_only: bool) -> Result<Jobs, Error> {
        let (status, summary) = sql::jobs(Dialect::Postgres, overdue_only);
        Ok(Jobs {
            status: self.rows(&status, &[]).await?,
            summary: self.rows(&summary, &[]).await?,
        })
    }

    pub(crate) async fn job_status(&self) -> Result<Rows, Error> {
        let (status, _) = sql::jobs(Dialect::Postgres, false);
        self.rows(&status, &[]).await
    }

    /// Actions by type and status over `range` (see [`sql::by_type_status`]).
    pub(crate) async fn action_counts(&self, range: &Filter) -> Result<Rows, Error> {
        let s = sql::by_type_status(
            Dialect::Postgres,
            range,
            "action_logs",
            self.rollups,
            self.hourly,
        );
        self.rows(&s.text, &s.params).await
    }

    pub(crate) async fn stats(&self, range: &Filter) -> Result<Stats, Error> {
        let mut out = Stats::default();
        let sections = sql::stats(
            Dialect::Postgres,
            range,
            ["action_logs", "job_executions"],
            self.rollups,
            self.hourly,
        );
        for (name, s) in sections {
            out.sections
                .push((name, self.rows(&s.text, &s.params).await?));
        }
        Ok(out)
    }

    /// The dashboard's histogram (see `dashboard.rs`).
    pub(crate) async fn histogram(&self, f: &Filter, b: super::Bucket) -> Result<Rows, Error> {
        let s = super::dashboard::histogram(Dialect::Postgres, f, b, self.hourly);
        self.rows(&s.text, &s.params).await
    }

    /// The dashboard's failure groups (see `dashboard.rs`).
    pub(crate) async fn failure_groups(&self, f: &Filter) -> Result<Rows, Error> {
        let s = super::dashboard::failure_groups(Dialect::Postgres, f, self.hourly);
        self.rows(&s.text, &s.params).await
    }

    pub(crate) async fn newest(&self) -> Result<Rows, Error> {
        self.rows(sql::NEWEST, &[]).await
    }

    /// One page of a scan of `e`'s table, as the driver's rows.
    async fn scan(&self, scan: Scan, e: Entity) -> Result<Vec<Row>, Error> {
        let st = self
            .prepare(&scan.sql(Dialect::Postgres, e, self.trace.has(e)))
            .await?;
        let limit = scan.limit as i64;
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(4);
        if let Some(from) = &scan.from {
            args.push(from);
        }
        if let Some((t, id)) = &scan.after {
            args.push(t);
            args.push(id);
        }
        args.push(&limit);
        self.client.query(&st, &args).await.map_err(|e| self.err(e))
    }

    /// See [`super::Store::scan_actions`].
    pub(crate) async fn scan_actions(&self, scan: Scan) -> Result<Vec<ActionRecord>, Error> {
        let trace = self.trace.actions;
        let rows = self.scan(scan, Entity::Actions).await?;
        rows.iter()
            .map(|r| {
                let pg = |e| self.err(e);
                let id: Uuid = r.try_get(0).map_err(pg)?;
                let bad = |what: String| scan::bad_row(&self.target, Entity::Actions, &id, &what);
                let text = |i: usize| r.try_get::<_, Option<String>>(i).map_err(pg);
                let mut a =
                    ActionRecord::new(id, r.try_get(1).map_err(pg)?, r.try_get(3).map_err(pg)?, "");
                a.user_id = text(2)?;
                a.action_details = scan::json_map(r.try_get(4).map_err(pg)?).map_err(bad)?;
                a.job_id = text(5)?;
                a.job_execution_id = text(6)?;
                a.status = text(7)?.unwrap_or_default();
                a.result_message = text(8)?;
                a.error_message = text(9)?;
                a.source = text(10)?;
                a.ip_address = text(11)?;
                a.user_agent = text(12)?;
                a.request_duration_seconds = scan::decimal(text(13)?).map_err(bad)?;
                if trace {
                    a.trace_id = text(14)?;
                    a.span_id = text(15)?;
                }
                a.first_write = false;
                Ok(a)
            })
            .collect()
    }

    /// See [`super::Store::scan_runs`].
    pub(crate) async fn scan_runs(&self, scan: Scan) -> Result<Vec<ScannedRun>, Error> {
        let trace = self.trace.runs;
        let rows = self.scan(scan, Entity::Runs).await?;
        rows.iter()
            .map(|r| {
                let pg = |e| self.err(e);
                let id: Uuid = r.try_get(0).map_err(pg)?;
                let bad = |what: String| scan::bad_row(&self.target, Entity::Runs, &id, &what);
                let text = |i: usize| r.try_get::<_, Option<String>>(i).map_err(pg);
                let job_id: String = r.try_get(1).map_err(pg)?;
                let status: String = r.try_get(2).map_err(pg)?;
                let mut j = JobExecution::new(id, &job_id, &status, r.try_get(3).map_err(pg)?);
                j.completed_at = r.try_get(4).map_err(pg)?;
                j.duration_seconds = scan::decimal(text(5)?).map_err(bad)?;
                j.error_message = text(6)?;
                let logs = text(7)?;
                let logs_null = logs.is_none();
                j.logs = logs.unwrap_or_default();
                j.metadata = scan::json_map(r.try_get(8).map_err(pg)?).map_err(bad)?;
                if trace {
                    j.trace_id = text(9)?;
                    j.span_id = text(10)?;
                }
                Ok(ScannedRun { run: j, logs_null })
            })
            .collect()
    }

    /// See [`super::Store::digests`].
    pub(crate) async fn digests(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<String>>, Error> {
        let there: bool = self
            .client
            .query_one("SELECT to_regclass('audit_digests') IS NOT NULL", &[])
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        if !there {
            return Ok(None);
        }
        let rows = match &since {
            Some(t) => {
                let st = self
                    .prepare("SELECT writer, seq, digest FROM audit_digests WHERE made_at >= $1")
                    .await?;
                self.client.query(&st, &[t]).await
            }
            None => {
                let st = self
                    .prepare("SELECT writer, seq, digest FROM audit_digests")
                    .await?;
                self.client.query(&st, &[]).await
            }
        }
        .map_err(|e| self.err(e))?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|e| self.err(e))?;
        Ok(Some(scan::ordered(rows)))
    }
}

/// A time as the SQLite store writes it, so every store prints the same text.
fn time_text(t: &DateTime<Utc>) -> String {
    super::postgres_time(t)
}

fn row_values(r: &Row) -> Vec<Value> {
    (0..r.len())
        .map(|i| {
            let t = r.columns()[i].type_();
            let v: Option<Value> = match *t {
                Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => r
                    .try_get::<_, Option<String>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::INT8 => r
                    .try_get::<_, Option<i64>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::INT4 => r
                    .try_get::<_, Option<i32>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::INT2 => r
                    .try_get::<_, Option<i16>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::FLOAT8 => r
                    .try_get::<_, Option<f64>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::FLOAT4 => r
                    .try_get::<_, Option<f32>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::BOOL => r
                    .try_get::<_, Option<bool>>(i)
                    .ok()
                    .flatten()
                    .map(Value::from),
                Type::JSON | Type::JSONB => r.try_get::<_, Option<Value>>(i).ok().flatten(),
                Type::UUID => r
                    .try_get::<_, Option<uuid::Uuid>>(i)
                    .ok()
                    .flatten()
                    .map(|u| Value::from(u.to_string())),
                Type::TIMESTAMPTZ => r
                    .try_get::<_, Option<DateTime<Utc>>>(i)
                    .ok()
                    .flatten()
                    .map(|t| Value::from(time_text(&t))),
                _ => None,
            };
            v.unwrap_or(Value::Null)
        })
        .collect()
}
