//! The Supabase store: PostgREST `GET`s only — tables and the two views with PostgREST
//! filters, the aggregates through `GET /rest/v1/rpc/actionlog_stats` (a `STABLE` function
//! from `migrations/0003_query.sql`, since PostgREST has aggregates off by default; PostgREST
//! runs a `GET` on a function in a read-only transaction), and the dashboard's histogram and
//! failure groups through `actionlog_histogram` and `actionlog_failure_groups`
//! (`migrations/0005_hourly_rollups.sql`), for a time range without conditions. Every condition is one item of an
//! `and=(…)` tree with its value double-quoted and percent-encoded; the key travels only in
//! the `apikey` and `Authorization` headers.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::scan::{self, Scan, ScannedRun};
use super::shapes::{STATS_COLUMNS, STATUS_COLUMNS, SUMMARY_COLUMNS, columns};
use super::{
    Cursor, Entity, Error, Field, Filter, Jobs, MAX_ROWS, Op, Options, Page, PageQuery, Rows,
    SECTION_ROWS, Stats, Target,
};
use crate::rows::{ActionRecord, JobExecution};
use crate::sink::http::percent_encode as enc;

const HINT: &str =
    "run migrations/0001_action_logs.sql and migrations/0002_jobs.sql in the Supabase SQL editor";
const HINT_STATS: &str = "run migrations/0003_query.sql in the Supabase SQL editor";
const HINT_DASHBOARD: &str = "run migrations/0005_hourly_rollups.sql in the Supabase SQL editor";
const HINT_AUDIT: &str = "run migrations/0007_audit.sql in the Supabase SQL editor";

/// Reads a Supabase project through its REST API.
pub struct SupabaseStore {
    http: reqwest::Client,
    base: String,
    key: String,
    target: String,
    trace: super::TraceColumns,
}

/// A value double-quoted for a PostgREST logic tree (`\` and `"` escaped).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A POSIX regular expression matching `s` literally (every ASCII punctuation escaped).
fn literal_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() && c != ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// PostgREST writes timestamps as PostgreSQL's JSON does (`…+00:00`, trailing zeros cut):
/// normalise them to the text every store prints.
fn normalise(column: &str, v: Value) -> Value {
    let is_time = column.ends_with("_at")
        || column.ends_with("_run")
        || matches!(
            column,
            "action_timestamp" | "last_execution" | "newest" | "first_seen" | "last_seen"
        );
    match (&v, is_time) {
        (Value::String(s), true) => DateTime::parse_from_rfc3339(s)
            .map(|t| Value::from(super::postgres_time(&t.with_timezone(&Utc))))
            .unwrap_or(v),
        _ => v,
    }
}

fn to_rows(cols: &[&str], v: Value) -> Rows {
    let list = match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    Rows {
        columns: cols.iter().map(|c| c.to_string()).collect(),
        rows: list
            .into_iter()
            .map(|mut o| {
                cols.iter()
                    .map(|c| normalise(c, o.get_mut(*c).map(Value::take).unwrap_or_default()))
                    .collect()
            })
            .collect(),
    }
}

/// The `since` and `until` arguments of an aggregate function for `f`'s range.
fn range_args(f: &Filter) -> Vec<String> {
    let arg = |k: &str, t: &DateTime<Utc>| format!("{k}={}", enc(&t.to_rfc3339()));
    let since = f.since.as_ref().map(|t| arg("since", t));
    since
        .into_iter()
        .chain(f.until.as_ref().map(|t| arg("until", t)))
        .collect()
}

/// The `and=(…)` items for a filter.
fn conditions(f: &Filter, out: &mut Vec<String>) {
    for c in &f.conds {
        let lhs = match &c.field {
            // PostgREST filters cannot cast the JSON column to text: the search covers the
            // text columns.
            Field::Text => {
                let re = quoted(&literal_regex(&c.value));
                let any: Vec<String> = f
                    .entity
                    .text_columns()
                    .iter()
                    .filter(|col| **col != f.entity.json_column())
                    .map(|col| format!("{col}.match.{re}"))
                    .collect();
                out.push(format!("or({})", any.join(",")));
                continue;
            }
            Field::Column(col) => col.to_string(),
            Field::Json(k) => format!("{}->>{k}", f.entity.json_column()),
        };
        let v = quoted(&c.value);
        out.push(match c.op {
            Op::Eq => format!("{lhs}.eq.{v}"),
            Op::Ne => format!("or({lhs}.neq.{v},{lhs}.is.null)"),
            Op::Contains => format!("{lhs}.match.{}", quoted(&literal_regex(&c.value))),
        });
    }
    let time = f.entity.time_column();
    if let Some(t) = &f.since {
        out.push(format!("{time}.gte.{}", quoted(&t.to_rfc3339())));
    }
    if let Some(t) = &f.until {
        out.push(format!("{time}.lt.{}", quoted(&t.to_rfc3339())));
    }
}

impl SupabaseStore {
    pub(crate) async fn open(url: &str, key: &str, opts: &Options) -> Result<Self, Error> {
        let target = Target::Supabase {
            url: url.to_owned(),
            key: String::new(),
        }
        .describe();
        let http = reqwest::Client::builder()
            .timeout(opts.statement_timeout)
            .connect_timeout(opts.connect_timeout)
            .build()
            .map_err(|e| Error::Unreachable {
                target: target.clone(),
                reason: e.to_string(),
            })?;
        let mut store = SupabaseStore {
            http,
            base: format!("{}/rest/v1", url.trim_end_matches('/')),
            key: key.to_owned(),
            target,
            trace: Default::default(),
        };
        for t in [
            "action_logs",
            "job_executions",
            "scheduled_jobs",
            "scheduled_jobs_status",
            "job_execution_summary",
        ] {
            store.get(t, "select=*&limit=0", Some(HINT)).await?;
        }
        // PostgREST refuses a select of a column the table lacks: a store made before the
        // trace columns is read without them.
        let probe = "select=trace_id,span_id&limit=0";
        store.trace.actions = store.get("action_logs", probe, None).await.is_ok();
        store.trace.runs = store.get("job_executions", probe, None).await.is_ok();
        Ok(store)
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// `GET {base}/{path}?{query}`; the answer's JSON.
    async fn get(
        &self,
        path: &str,
        query: &str,
        hint: Option<&'static str>,
    ) -> Result<Value, Error> {
        let url = format!("{}/{path}?{query}", self.base);
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.key))
            .map_err(|_| Error::BadFilter("the Supabase key is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut apikey = reqwest::header::HeaderValue::from_str(&self.key)
            .map_err(|_| Error::BadFilter("the Supabase key is not a valid header value".into()))?;
        apikey.set_sensitive(true);
        let resp = self
            .http
            .get(&url)
            .header("apikey", apikey)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                target: self.target.clone(),
                reason: if e.is_timeout() {
                    "timed out".into()
                } else {
                    "connection failed".into()
                },
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match status {
            200..=299 => Ok(body),
            401 | 403 => Err(Error::Refused {
                target: self.target.clone(),
                reason: format!("HTTP {status}: {message}"),
            }),
            404 => Err(Error::MissingTable {
                target: self.target.clone(),
                what: if path.starts_with("rpc/") {
                    "function"
                } else {
                    "table"
                },
                name: path.trim_start_matches("rpc/").to_owned(),
                hint: hint.unwrap_or(HINT),
            }),
            _ => Err(Error::Query {
                target: self.target.clone(),
                reason: format!("HTTP {status}: {message}"),
            }),
        }
    }

    pub(crate) async fn page(&self, q: &PageQuery) -> Result<Page, Error> {
        let e = q.filter.entity;
        self.trace.check(&q.filter, &self.target)?;
        let cols = columns(e, self.trace.has(e));
        let time = e.time_column();
        let mut items = Vec::new();
        conditions(&q.filter, &mut items);
        if let Some(Cursor { time: t, id }) = &q.before {
            items.push(format!(
                "or({time}.lt.{t},and({time}.eq.{t},id.lt.{id}))",
                t = quoted(t),
                id = quoted(id)
            ));
        }
        let limit = q.limit.clamp(1, MAX_ROWS);
        let mut query = format!(
            "select={}&order={time}.desc,id.desc&limit={}",
            cols.join(","),
            limit + 1
        );
        if !items.is_empty() {
            query.push_str(&format!("&and={}", enc(&format!("({})", items.join(",")))));
        }
        let v = self.get(e.table(), &query, None).await?;
        Ok(super::split_page(to_rows(&cols, v), limit, time))
    }

    pub(crate) async fn run_logs(&self, id: &str) -> Result<Option<String>, Error> {
        let v = self
            .get(
                "job_executions",
                &format!("select=logs&id=eq.{}&limit=1", enc(id)),
                None,
            )
            .await?;
        Ok(v.get(0).map(|r| {
            r.get("logs")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }))
    }

    pub(crate) async fn jobs(&self, overdue_only: bool) -> Result<Jobs, Error> {
        let status = self.status_rows(overdue_only).await?;
        let q = format!(
            "select={}&order=last_execution.desc,job_id&limit={SECTION_ROWS}",
            SUMMARY_COLUMNS.join(",")
        );
        let summary = to_rows(
            SUMMARY_COLUMNS,
            self.get("job_execution_summary", &q, None).await?,
        );
        Ok(Jobs { status, summary })
    }

    async fn status_rows(&self, overdue_only: bool) -> Result<Rows, Error> {
        let mut q = format!(
            "select={}&order=job_id&limit={SECTION_ROWS}",
            STATUS_COLUMNS.join(",")
        );
        if overdue_only {
            q.push_str("&job_status=in.(overdue,failed_max_retries)");
        }
        Ok(to_rows(
            STATUS_COLUMNS,
            self.get("scheduled_jobs_status", &q, None).await?,
        ))
    }

    pub(crate) async fn job_status(&self) -> Result<Rows, Error> {
        self.status_rows(false).await
    }

    /// Actions by type and status over `range`: the `actions_by_type_status` section of
    /// `actionlog_stats` (PostgREST has no `GROUP BY`; over the rollups once
    /// `migrations/0004_rollups.sql` has run).
    pub(crate) async fn action_counts(&self, range: &Filter) -> Result<Rows, Error> {
        let stats = self.stats(range).await?;
        Ok(stats
            .sections
            .into_iter()
            .find(|(n, _)| *n == "actions_by_type_status")
            .map(|(_, r)| r)
            .unwrap_or_default())
    }

    pub(crate) async fn stats(&self, range: &Filter) -> Result<Stats, Error> {
        let args = range_args(range);
        let mut v = self
            .get("rpc/actionlog_stats", &args.join("&"), Some(HINT_STATS))
            .await?;
        let mut out = Stats::default();
        for (name, cols) in STATS_COLUMNS {
            let section = v.get_mut(*name).map(Value::take).unwrap_or_default();
            out.sections.push((name, to_rows(cols, section)));
        }
        Ok(out)
    }

    /// The dashboard's histogram through `actionlog_histogram`, for a time range only: its
    /// arguments are the range and the bucket, the filter's conditions have no way in.
    pub(crate) async fn histogram(&self, f: &Filter, b: super::Bucket) -> Result<Rows, Error> {
        self.range_only(f)?;
        let mut args = range_args(f);
        args.push(format!("bucket={}", enc(b.unit())));
        let v = self
            .get(
                "rpc/actionlog_histogram",
                &args.join("&"),
                Some(HINT_DASHBOARD),
            )
            .await?;
        Ok(to_rows(&["bucket", "status", "count"], v))
    }

    /// The dashboard's failure groups through `actionlog_failure_groups`, likewise.
    pub(crate) async fn failure_groups(&self, f: &Filter) -> Result<Rows, Error> {
        self.range_only(f)?;
        let v = self
            .get(
                "rpc/actionlog_failure_groups",
                &range_args(f).join("&"),
                Some(HINT_DASHBOARD),
            )
            .await?;
        Ok(to_rows(
            &["error_message", "count", "first_seen", "last_seen"],
            v,
        ))
    }

    fn range_only(&self, f: &Filter) -> Result<(), Error> {
        if f.conds.is_empty() {
            return Ok(());
        }
        Err(Error::Query {
            target: self.target.clone(),
            reason: "over Supabase's REST API this aggregate takes a time range only, \
                     without conditions (use SQLite or PostgreSQL)"
                .into(),
        })
    }

    pub(crate) async fn newest(&self) -> Result<Rows, Error> {
        let mut rows = Rows {
            columns: vec!["table_name".into(), "newest".into()],
            rows: Vec::new(),
        };
        for e in [Entity::Actions, Entity::Runs] {
            let t = e.time_column();
            let v = self
                .get(
                    e.table(),
                    &format!("select={t}&order={t}.desc.nullslast&limit=1"),
                    None,
                )
                .await?;
            let newest = v.get(0).and_then(|r| r.get(t)).cloned().unwrap_or_default();
            rows.rows
                .push(vec![Value::from(e.table()), normalise("newest", newest)]);
        }
        Ok(rows)
    }
}

/// The audit trail's reads (`scan.rs`).
impl SupabaseStore {
    /// One page of a scan of `e`'s table: PostgREST pages by the same key (a logic tree on
    /// `(time, id)`), asked again from the last row it gave while it gives rows and the page
    /// is short — so a server whose `max-rows` is below the limit still fills the page, and
    /// the end costs one request that returns nothing.
    async fn scan<T>(
        &self,
        scan: Scan,
        e: Entity,
        read: impl Fn(Value) -> Result<T, Error>,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Result<Vec<T>, Error> {
        let cols = match e {
            Entity::Actions => scan::action_columns(false, self.trace.actions),
            Entity::Runs => scan::run_columns(false, self.trace.runs),
        };
        let time = e.time_column();
        let mut out = Vec::with_capacity(scan.limit);
        let mut after = scan.after;
        while out.len() < scan.limit {
            let mut items = vec![format!("{time}.not.is.null")];
            if let Some(from) = &scan.from {
                items.push(format!(
                    "{time}.gte.{}",
                    quoted(&super::postgres_time(from))
                ));
            }
            if let Some((t, id)) = &after {
                items.push(format!(
                    "or({time}.gt.{t},and({time}.eq.{t},id.gt.{id}))",
                    t = quoted(&super::postgres_time(t)),
                    id = quoted(&id.to_string())
                ));
            }
            let query = format!(
                "select={}&order={time}.asc,id.asc&limit={}&and={}",
                cols.join(","),
                scan.limit - out.len(),
                enc(&format!("({})", items.join(",")))
            );
            let Value::Array(rows) = self.get(e.table(), &query, None).await? else {
                return Err(self.not_rows(e.table()));
            };
            if rows.is_empty() {
                break;
            }
            for row in rows {
                out.push(read(row)?);
            }
            after = out.last().map(&key);
        }
        out.truncate(scan.limit);
        Ok(out)
    }

    fn not_rows(&self, table: &str) -> Error {
        Error::Query {
            target: self.target.clone(),
            reason: format!("the answer for {table} is not a JSON array of rows"),
        }
    }

    /// See [`super::Store::scan_actions`].
    pub(crate) async fn scan_actions(&self, scan: Scan) -> Result<Vec<ActionRecord>, Error> {
        let trace = self.trace.actions;
        self.scan(
            scan,
            Entity::Actions,
            |v| {
                let mut o = Object::new(self, Entity::Actions, v)?;
                let at = o.time("action_timestamp")?;
                let mut a = ActionRecord::new(o.id, o.required("action_type")?, at, "");
                a.user_id = o.text("user_id")?;
                a.action_details = o.json("action_details")?;
                a.job_id = o.text("job_id")?;
                a.job_execution_id = o.text("job_execution_id")?;
                a.status = o.text("status")?.unwrap_or_default();
                a.result_message = o.text("result_message")?;
                a.error_message = o.text("error_message")?;
                a.source = o.text("source")?;
                a.ip_address = o.text("ip_address")?;
                a.user_agent = o.text("user_agent")?;
                a.request_duration_seconds = o.number("request_duration_seconds")?;
                if trace {
                    a.trace_id = o.text("trace_id")?;
                    a.span_id = o.text("span_id")?;
                }
                a.first_write = false;
                Ok(a)
            },
            |a| (a.action_timestamp, a.id),
        )
        .await
    }

    /// See [`super::Store::scan_runs`].
    pub(crate) async fn scan_runs(&self, scan: Scan) -> Result<Vec<ScannedRun>, Error> {
        let trace = self.trace.runs;
        self.scan(
            scan,
            Entity::Runs,
            |v| {
                let mut o = Object::new(self, Entity::Runs, v)?;
                let started = o.time("started_at")?;
                let job_id = o.required("job_id")?;
                let status = o.required("status")?;
                let mut j = JobExecution::new(o.id, &job_id, &status, started);
                j.completed_at = match o.text("completed_at")? {
                    Some(t) => Some(scan::time(&t).map_err(|w| o.bad(w))?),
                    None => None,
                };
                j.duration_seconds = o.number("duration_seconds")?;
                j.error_message = o.text("error_message")?;
                let logs = o.text("logs")?;
                let logs_null = logs.is_none();
                j.logs = logs.unwrap_or_default();
                j.metadata = o.json("metadata")?;
                if trace {
                    j.trace_id = o.text("trace_id")?;
                    j.span_id = o.text("span_id")?;
                }
                Ok(ScannedRun { run: j, logs_null })
            },
            |r| (r.run.started_at, r.run.id),
        )
        .await
    }

    /// See [`super::Store::digests`]: read in pages of [`MAX_ROWS`] by `(writer, seq)`; a 404
    /// (no such table) is `None`.
    pub(crate) async fn digests(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<String>>, Error> {
        let mut rows: Vec<(String, i64, String)> = Vec::new();
        loop {
            let mut items = Vec::new();
            if let Some(t) = &since {
                items.push(format!("made_at.gte.{}", quoted(&super::postgres_time(t))));
            }
            if let Some((w, seq, _)) = rows.last() {
                items.push(format!(
                    "or(writer.gt.{w},and(writer.eq.{w},seq.gt.{seq}))",
                    w = quoted(w)
                ));
            }
            let mut query =
                format!("select=writer,seq,digest&order=writer.asc,seq.asc&limit={MAX_ROWS}");
            if !items.is_empty() {
                query.push_str(&format!("&and={}", enc(&format!("({})", items.join(",")))));
            }
            let page = match self.get("audit_digests", &query, Some(HINT_AUDIT)).await {
                Err(Error::MissingTable { .. }) => return Ok(None),
                other => other?,
            };
            let Value::Array(page) = page else {
                return Err(self.not_rows("audit_digests"));
            };
            if page.is_empty() {
                break;
            }
            for r in page {
                let field = |k: &str| r.get(k).cloned().unwrap_or_default();
                match (field("writer"), field("seq").as_i64(), field("digest")) {
                    (Value::String(w), Some(seq), Value::String(d)) => rows.push((w, seq, d)),
                    _ => return Err(self.not_rows("audit_digests")),
                }
            }
        }
        Ok(Some(scan::ordered(rows)))
    }
}

/// One row of a scan as PostgREST gives it (a JSON object), its columns taken one by one;
/// errors name the row.
struct Object<'a> {
    store: &'a SupabaseStore,
    entity: Entity,
    id: Uuid,
    map: serde_json::Map<String, Value>,
}

impl<'a> Object<'a> {
    fn new(store: &'a SupabaseStore, entity: Entity, v: Value) -> Result<Self, Error> {
        let Value::Object(map) = v else {
            return Err(store.not_rows(entity.table()));
        };
        let id = map
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| scan::bad_row(&store.target, entity, &"(no id)", "has no UUID id"))?;
        Ok(Object {
            store,
            entity,
            id,
            map,
        })
    }

    fn bad(&self, what: String) -> Error {
        scan::bad_row(&self.store.target, self.entity, &self.id, &what)
    }

    /// A text column (a UUID or a time too, as PostgREST writes them); `None` for NULL.
    fn text(&mut self, k: &str) -> Result<Option<String>, Error> {
        match self.map.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(format!("{k} is not text: {other}"))),
        }
    }

    fn required(&mut self, k: &str) -> Result<String, Error> {
        self.text(k)?
            .ok_or_else(|| self.bad(format!("{k} is NULL")))
    }

    fn time(&mut self, k: &str) -> Result<DateTime<Utc>, Error> {
        let t = self.required(k)?;
        scan::time(&t).map_err(|w| self.bad(format!("{k} {w}")))
    }

    /// A NUMERIC column: PostgREST writes it as a JSON number, read as the nearest `f64`.
    fn number(&mut self, k: &str) -> Result<Option<f64>, Error> {
        match self.map.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.bad(format!("{k} is not a number: {other}"))),
        }
    }

    fn json(&mut self, k: &str) -> Result<serde_json::Map<String, Value>, Error> {
        scan::json_map(self.map.remove(k)).map_err(|w| self.bad(format!("{k} {w}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_encoded() {
        let mut f = Filter::new(Entity::Actions);
        f.push("user_id=a,b\")").unwrap();
        f.push("error_message~1.5*").unwrap();
        let mut items = Vec::new();
        conditions(&f, &mut items);
        assert_eq!(items[0], r#"user_id.eq."a,b\")""#);
        assert_eq!(items[1], r#"error_message.match."1\\.5\\*""#);
        assert!(!enc(&items.join(",")).contains([',', '"', '(', ')', '*']));
    }
}
