//! Supabase (feature `supabase`): action records to `action_logs` (and job runs to
//! `job_executions`, ignoring runs already stored) through Supabase's REST API,
//! which is PostgREST, over reqwest with rustls — for deployments that have the project URL and
//! an API key but no direct database connection.
//!
//! A batch is one `POST {url}/rest/v1/{table}?on_conflict=id&columns=…` whose body is a JSON
//! array of objects that all have the same keys (what PostgREST needs for a bulk insert), with
//! `Prefer: return=minimal,resolution=merge-duplicates`: an upsert keyed by id. The migration's
//! `BEFORE UPDATE` trigger keeps the two idempotency rules PostgREST cannot express (an open
//! status never replaces a final one; an identical write changes nothing).
//!
//! Responses, following PostgREST's error mapping (JSON body `{code, message, details, hint}`):
//! 2xx delivered; 408, 429 (with `Retry-After`), 500, 502, 503, 504, 520, connection errors and
//! timeouts retried; 401/403 a configuration error (the key was rejected: records are kept and
//! retried, never sent elsewhere); 404 the table is missing (PGRST205: the message points at the
//! migration); other 4xx (e.g. PGRST102, PGRST204, a constraint) reject the rows, which the
//! pipeline isolates by splitting and dead-letters with PostgREST's error.
//!
//! The trace context columns (`trace_id`, `span_id`, `migrations/0006_trace_context.sql`) are
//! sent while the store has them: PostgREST's PGRST204 naming one of them marks the store as
//! without them, and the batch is sent again without the ids (reported once), so a project not
//! yet migrated keeps receiving its rows.
//!
//! The signed digests of the tamper-evident trail go to `audit_digests`
//! (`migrations/0007_audit.sql`) through `digests`: one `POST` per digest with
//! `resolution=ignore-duplicates`, so a retry stores nothing twice and a stored digest is
//! never replaced.
//!
//! The key travels only in the `apikey` and `Authorization: Bearer` headers: it is never part of
//! a message, an error or a `Debug` output.

pub(crate) mod digests;
mod errors;

use errors::postgrest_error;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    Batch, COLUMNS, FailureKind, Sink, SinkError, SinkFuture, TRACE_COLUMNS, clean_map, clean_text,
    validate_table_name,
};
use crate::error::Error;
use crate::rows::ActionRecord;
use crate::rows::{JobExecution, stored_duration};

const MIGRATION_0001: &str = "migrations/0001_action_logs.sql";
const MIGRATION_0002: &str = "migrations/0002_jobs.sql";
/// The function of `migrations/0002_jobs.sql` that keeps `scheduled_jobs` current.
const REFRESH_FUNCTION: &str = "actionlog_refresh_scheduled_jobs";

/// Default cap on one request body; larger batches are split.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;

/// Writes action records through Supabase's REST API (PostgREST).
pub struct SupabaseSink {
    client: reqwest::Client,
    /// `{url}/rest/v1/{table}?on_conflict=id&columns=…`
    endpoint: String,
    /// The project URL, for messages.
    base: String,
    table: String,
    key: String,
    timeout: Duration,
    max_request_bytes: usize,
    scheduled_jobs: bool,
    /// Whether the actions table lacks the trace columns (learnt from PostgREST's answer).
    no_trace: AtomicBool,
    /// Whether `job_executions` lacks them.
    no_trace_jobs: AtomicBool,
    /// The audit trail's digests, when kept: PostgREST has no transaction across tables, so
    /// a write's digest is stored right after its rows, and a write whose digest fails fails
    /// whole (its retry rewrites the same rows, changing nothing, and stores the digest).
    #[cfg(feature = "audit")]
    trail: crate::audit::chain::Trail,
}

/// The job run columns sent.
const JOB_COLUMNS: &str =
    "id,job_id,status,started_at,completed_at,duration_seconds,error_message,logs,metadata";

impl std::fmt::Debug for SupabaseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupabaseSink")
            .field("url", &self.base)
            .field("table", &self.table)
            .field("key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

impl SupabaseSink {
    /// A sink for the project at `url` (e.g. `https://xyz.supabase.co`) using `key`.
    ///
    /// ```no_run
    /// fn main() -> Result<(), actionlog::Error> {
    ///     let key = std::env::var("AUDIT_WRITER_JWT").unwrap_or_default();
    ///     let sink = actionlog::sink::SupabaseSink::new("https://xyz.supabase.co", &key)?;
    ///     let _guard = actionlog::builder().sink(sink).init()?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is not http(s) or an empty key (neither is repeated in
    /// the message).
    pub fn new(url: &str, key: &str) -> Result<Self, Error> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let scheme_ok = base.starts_with("https://") || base.starts_with("http://");
        if !scheme_ok || base.len() <= "https://".len() || base.contains(char::is_whitespace) {
            return Err(Error::Config(
                "SUPABASE_URL must be an http(s) URL such as https://<project>.supabase.co",
            ));
        }
        if key.trim().is_empty() {
            return Err(Error::Config("the Supabase API key is empty"));
        }
        if HeaderValue::from_str(key).is_err() {
            return Err(Error::Config(
                "the Supabase API key holds characters not allowed in an HTTP header",
            ));
        }
        let mut sink = SupabaseSink {
            client: reqwest::Client::new(),
            endpoint: String::new(),
            base,
            table: "action_logs".into(),
            key: key.to_owned(),
            timeout: Duration::from_secs(10),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            scheduled_jobs: false,
            no_trace: AtomicBool::new(false),
            no_trace_jobs: AtomicBool::new(false),
            #[cfg(feature = "audit")]
            trail: Default::default(),
        };
        sink.rebuild()?;
        Ok(sink)
    }

    /// From the environment, as Supabase's own clients read it: `SUPABASE_URL` and
    /// `SUPABASE_SERVICE_ROLE_KEY`, else `SUPABASE_KEY`.
    ///
    /// ```no_run
    /// let sink = actionlog::sink::SupabaseSink::from_env()?;
    /// # Ok::<(), actionlog::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when a variable is missing or invalid.
    pub fn from_env() -> Result<Self, Error> {
        let url =
            std::env::var("SUPABASE_URL").map_err(|_| Error::Config("SUPABASE_URL is not set"))?;
        let key = std::env::var("SUPABASE_SERVICE_ROLE_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .or_else(|| std::env::var("SUPABASE_KEY").ok())
            .ok_or(Error::Config(
                "neither SUPABASE_SERVICE_ROLE_KEY nor SUPABASE_KEY is set",
            ))?;
        Self::new(&url, &key)
    }

    /// Writes into `table` (validated as an SQL identifier; default `action_logs`).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name.
    pub fn table(mut self, table: &str) -> Result<Self, Error> {
        validate_table_name(table)?;
        self.table = table.to_owned();
        self.rebuild()?;
        Ok(self)
    }

    /// Time allowed for one request, connection included (default 10 s); past it the request
    /// counts as a transient failure and is retried (the upsert makes that safe).
    ///
    /// # Errors
    /// [`Error::Config`] if the HTTP client cannot be built.
    pub fn timeout(mut self, d: Duration) -> Result<Self, Error> {
        self.timeout = d;
        self.rebuild()?;
        Ok(self)
    }

    /// Keeps `scheduled_jobs` current after each batch of job runs, by calling the migration's
    /// `actionlog_refresh_scheduled_jobs` function over `/rest/v1/rpc/` (default off; see
    /// [`crate::job`]).
    pub fn scheduled_jobs(mut self, on: bool) -> Self {
        self.scheduled_jobs = on;
        self
    }

    /// Cap on one request body (default [`DEFAULT_MAX_REQUEST_BYTES`]); a larger batch is sent
    /// as several requests.
    pub fn max_request_bytes(mut self, n: usize) -> Self {
        self.max_request_bytes = n.max(1024);
        self
    }

    fn rebuild(&mut self) -> Result<(), Error> {
        self.endpoint = format!(
            "{}/rest/v1/{}?on_conflict=id&columns={}",
            self.base,
            self.table,
            COLUMNS.join(",")
        );
        let mut headers = HeaderMap::new();
        let mut key =
            HeaderValue::from_str(&self.key).map_err(|_| Error::Config("invalid API key"))?;
        key.set_sensitive(true);
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.key))
            .map_err(|_| Error::Config("invalid API key"))?;
        bearer.set_sensitive(true);
        headers.insert("apikey", key);
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            "Prefer",
            HeaderValue::from_static("return=minimal,resolution=merge-duplicates"),
        );
        self.client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|_| Error::Config("cannot build the HTTP client"))?;
        Ok(())
    }

    /// The body: every record with every column (the trace ids, null when a record has none,
    /// only with `trace`), NUL-cleaned (PostgreSQL refuses NUL in text and jsonb).
    fn body(batch: &[ActionRecord], trace: bool) -> Vec<u8> {
        Self::clean_body(batch.iter().map(ActionRecord::to_json), trace)
    }

    /// A JSON array of `rows`, NUL-cleaned, all with the same keys: the trace ids in every row
    /// (`trace`) or in none.
    fn clean_body(rows: impl Iterator<Item = Value>, trace: bool) -> Vec<u8> {
        let rows: Vec<Value> = rows
            .map(|mut v| {
                if let Value::Object(m) = &mut v {
                    for c in TRACE_COLUMNS {
                        if trace {
                            m.entry(c).or_insert(Value::Null);
                        } else {
                            m.remove(c);
                        }
                    }
                    for (name, field) in m.iter_mut() {
                        match field {
                            // The column is DECIMAL(10,3): send the value every store keeps.
                            Value::Number(n)
                                if name == "request_duration_seconds"
                                    || name == "duration_seconds" =>
                            {
                                if let Some(d) = n.as_f64().map(stored_duration) {
                                    if let Some(x) = serde_json::Number::from_f64(d) {
                                        *n = x;
                                    }
                                }
                            }
                            Value::String(s) if s.contains('\0') => *s = clean_text(s).into_owned(),
                            Value::Object(d) => {
                                if let std::borrow::Cow::Owned(clean) = clean_map(d) {
                                    *d = clean;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                v
            })
            .collect();
        serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec())
    }

    async fn post(&self, batch: &[ActionRecord]) -> Result<(), SinkError> {
        let trace = !self.no_trace.load(Ordering::Relaxed);
        let body = Self::body(batch, trace);
        if body.len() > self.max_request_bytes && batch.len() > 1 {
            let (a, b) = batch.split_at(batch.len() / 2);
            Box::pin(self.post(a)).await?;
            return Box::pin(self.post(b)).await;
        }
        let url = if trace {
            format!("{},{}", self.endpoint, TRACE_COLUMNS.join(","))
        } else {
            self.endpoint.clone()
        };
        match self
            .send(&url, body, None, &self.table, MIGRATION_0001)
            .await
        {
            Err(e) if trace && lacks_trace_columns(&e) => {
                self.without_trace(&self.no_trace, &self.table);
                Box::pin(self.post(batch)).await
            }
            other => other,
        }
    }

    /// Marks a table as without the trace columns, reporting it once.
    fn without_trace(&self, flag: &AtomicBool, table: &str) {
        if !flag.swap(true, Ordering::Relaxed) {
            crate::report::emit(format_args!(
                "NOTE: {} table {table}: no trace_id/span_id columns; rows are written without trace ids. Run migrations/0006_trace_context.sql in the Supabase SQL editor to store them.",
                self.base
            ));
        }
    }

    async fn post_jobs(&self, batch: &[JobExecution]) -> Result<(), SinkError> {
        let trace = !self.no_trace_jobs.load(Ordering::Relaxed);
        let body = Self::clean_body(batch.iter().map(JobExecution::to_json), trace);
        if body.len() > self.max_request_bytes && batch.len() > 1 {
            let (a, b) = batch.split_at(batch.len() / 2);
            Box::pin(self.post_jobs(a)).await?;
            return Box::pin(self.post_jobs(b)).await;
        }
        let trace_cols = if trace { ",trace_id,span_id" } else { "" };
        let url = format!(
            "{}/rest/v1/job_executions?on_conflict=id&columns={JOB_COLUMNS}{trace_cols}",
            self.base
        );
        // A run is written once, at its end: one already stored is left alone.
        let prefer = "return=minimal,resolution=ignore-duplicates";
        match self
            .send(&url, body, Some(prefer), "job_executions", MIGRATION_0002)
            .await
        {
            Err(e) if trace && lacks_trace_columns(&e) => {
                self.without_trace(&self.no_trace_jobs, "job_executions");
                return Box::pin(self.post_jobs(batch)).await;
            }
            other => other?,
        }
        if self.scheduled_jobs {
            let mut jobs: Vec<&str> = batch.iter().map(|j| j.job_id.as_str()).collect();
            jobs.sort_unstable();
            jobs.dedup();
            let url = format!("{}/rest/v1/rpc/{REFRESH_FUNCTION}", self.base);
            let body =
                serde_json::to_vec(&serde_json::json!({ "job_ids": jobs })).unwrap_or_default();
            self.send(
                &url,
                body,
                Some("return=minimal"),
                REFRESH_FUNCTION,
                MIGRATION_0002,
            )
            .await?;
        }
        Ok(())
    }

    /// One POST and the mapping of its outcome; `what` and `migration` name the missing object
    /// and its migration file when the answer is 404.
    async fn send(
        &self,
        url: &str,
        body: Vec<u8>,
        prefer: Option<&'static str>,
        what: &str,
        migration: &str,
    ) -> Result<(), SinkError> {
        let mut request = self.client.post(url).body(body);
        if let Some(p) = prefer {
            request = request.header("Prefer", p);
        }
        self.exchange(request, what, migration).await.map(drop)
    }

    /// Sends `request` and maps its outcome: the response when it is a 2xx, else the failure
    /// (with PostgREST's error and, for a 404, the migration that creates `what`).
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        migration: &str,
    ) -> Result<reqwest::Response, SinkError> {
        let response = request
            .send()
            .await
            .map_err(|e| super::http::transport_error(e, &self.base, self.timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = super::http::retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let detail = postgrest_error(&text);
        let code = status.as_u16();
        let (kind, message) = match code {
            401 | 403 => (
                FailureKind::Config,
                format!(
                    "{} rejected the API key (HTTP {code}{detail}); records are kept until the key is fixed",
                    self.base
                ),
            ),
            404 => (
                FailureKind::Config,
                format!(
                    "{} has no {what:?} (HTTP 404{detail}); run {migration} in the Supabase SQL editor",
                    self.base
                ),
            ),
            408 | 429 | 500 | 502 | 503 | 504 | 520 => (
                FailureKind::Transient,
                format!("{} answered HTTP {code}{detail}", self.base),
            ),
            c if (400..500).contains(&c) => (
                FailureKind::Rejected,
                format!("{} rejected the rows: HTTP {code}{detail}", self.base),
            ),
            _ => (
                FailureKind::Transient,
                format!("{} answered HTTP {code}{detail}", self.base),
            ),
        };
        let mut err = SinkError::new(kind, message);
        err.retry_after = retry_after;
        Err(err)
    }
}

/// Whether PostgREST refused a request for naming a trace column the table lacks (PGRST204
/// "Could not find the 'trace_id' column …", or PostgreSQL's undefined column, 42703).
fn lacks_trace_columns(e: &SinkError) -> bool {
    e.kind == FailureKind::Rejected
        && (e.message.contains("PGRST204") || e.message.contains("42703"))
        && TRACE_COLUMNS.iter().any(|c| e.message.contains(c))
}

impl Sink for SupabaseSink {
    fn name(&self) -> &'static str {
        "supabase"
    }

    fn target(&self) -> String {
        // The project URL and table; the key stays out.
        format!("{} table {}", self.base, self.table)
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        Box::pin(async move {
            self.post(batch).await?;
            #[cfg(feature = "audit")]
            {
                let trace = !self.no_trace.load(Ordering::Relaxed);
                let entries = batch
                    .iter()
                    .filter_map(|r| crate::audit::action_entry(r, trace))
                    .collect();
                self.seal(false, entries).await?;
            }
            Ok(())
        })
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        Box::pin(async move {
            self.post_jobs(batch).await?;
            #[cfg(feature = "audit")]
            {
                let trace = !self.no_trace_jobs.load(Ordering::Relaxed);
                let entries = batch
                    .iter()
                    .map(|j| crate::audit::run_entry(j, trace))
                    .collect();
                self.seal(false, entries).await?;
            }
            Ok(())
        })
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
        Box::pin(self.seal(false, Vec::new()))
    }

    #[cfg(feature = "audit")]
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(self.seal(true, Vec::new()))
    }
}

#[cfg(feature = "audit")]
impl SupabaseSink {
    /// Stores the digest of rows just written (see [`crate::audit::Chain::next`]); a digest
    /// number another writer took first is read again and sealed again.
    async fn seal(
        &mut self,
        close: bool,
        entries: Vec<crate::audit::Entry>,
    ) -> Result<(), SinkError> {
        if !self.trail.is_on() {
            return Ok(());
        }
        for _ in 0..crate::audit::Chain::FORK_RETRIES {
            if self.trail.needs_sync() {
                let newest = self.last_digest(self.trail.writer()).await?;
                self.trail
                    .sync(newest.as_ref().map(|(_, line)| line.as_str()));
            }
            let Some(sealed) = self.trail.next(close, entries.clone()) else {
                return Ok(());
            };
            let row = sealed.row();
            let insert = self.insert_digest(&row).await?;
            if self.trail.stored(sealed, insert) {
                self.trail.committed();
                return Ok(());
            }
        }
        Err(SinkError::new(
            FailureKind::Transient,
            crate::audit::chain::FORKED,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configuration_is_refused_without_echoing_secrets() {
        for url in ["", "ftp://x", "xyz.supabase.co", "https://"] {
            let err = SupabaseSink::new(url, "CANARY-KEY").unwrap_err();
            assert!(!err.to_string().contains("CANARY"), "{err}");
        }
        assert!(SupabaseSink::new("https://x.supabase.co", "  ").is_err());
        let err = SupabaseSink::new("https://x.supabase.co", "CANARY\nKEY").unwrap_err();
        assert!(!err.to_string().contains("CANARY"), "{err}");
        let sink = SupabaseSink::new("https://x.supabase.co/", "CANARY-KEY").unwrap();
        let shown = format!("{sink:?}");
        assert!(
            !shown.contains("CANARY") && shown.contains("[REDACTED]"),
            "{shown}"
        );
        assert!(sink.endpoint.starts_with(
            "https://x.supabase.co/rest/v1/action_logs?on_conflict=id&columns=id,action_type,"
        ));
    }
}
