//! Supabase's REST API (PostgREST), which has no bounded `DELETE` and cannot set
//! `actionlog.pruning` for a request:
//! - actions: `POST /rest/v1/rpc/actionlog_prune` (`migrations/0008_retention.sql`), one
//!   bounded batch with the setting on, in the one transaction PostgREST makes per call;
//! - runs, run logs and digests (no rollups there): a `GET` of the oldest ids, then a
//!   `DELETE` (or a `PATCH` setting `logs` to null) of those ids — each request one
//!   transaction of at most [`REST_ID_BATCH`] rows, the ids travelling in the URL;
//! - a dry run: `GET`s with `Prefer: count=exact`, the count read from `Content-Range`.
//!
//! Opening calls `actionlog_prune` once with a time before every row (it deletes nothing): a
//! project without the function, or whose rollup triggers are not guarded, is refused before
//! anything is deleted. The key travels only in the `apikey` and `Authorization` headers.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::{Error, Job, REST_ID_BATCH};
use crate::query::{self, Options, Target};
use crate::sink::http::percent_encode as enc;

/// What makes the tables.
const HINT: &str =
    "run migrations/0001_action_logs.sql and migrations/0002_jobs.sql in the Supabase SQL editor";
/// What makes `actionlog_prune` and guards the rollups.
const PRUNE_HINT: &str = "run migrations/0008_retention.sql in the Supabase SQL editor";

/// A Supabase project's REST API, for pruning.
pub(super) struct Pruner {
    http: reqwest::Client,
    /// `{url}/rest/v1`.
    base: String,
    auth: HeaderValue,
    apikey: HeaderValue,
    target: String,
    /// Whether the project has `audit_digests`, once a request has said.
    digests: Option<bool>,
}

/// A successful answer: the total of its `Content-Range`, if any, and its JSON.
struct Answer {
    total: Option<u64>,
    body: Value,
}

fn text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// PostgREST's `in.(…)` list of plain values (ids and numbers need no quoting).
fn list(values: &[String]) -> String {
    enc(&format!("({})", values.join(",")))
}

impl Pruner {
    pub(super) fn open(url: &str, key: &str, opts: &Options) -> Result<Self, Error> {
        let target = Target::Supabase {
            url: url.to_owned(),
            key: String::new(),
        }
        .describe();
        let bad_key =
            || query::Error::BadFilter("the Supabase key is not a valid header value".into());
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| bad_key())?;
        auth.set_sensitive(true);
        let mut apikey = HeaderValue::from_str(key).map_err(|_| bad_key())?;
        apikey.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(opts.statement_timeout)
            .connect_timeout(opts.connect_timeout)
            .build()
            .map_err(|e| query::Error::Unreachable {
                target: target.clone(),
                reason: e.to_string(),
            })?;
        Ok(Pruner {
            http,
            base: format!("{}/rest/v1", url.trim_end_matches('/')),
            auth,
            apikey,
            target,
            digests: None,
        })
    }

    /// One request; `prefer` the `Prefer` header, `body` JSON for POST and PATCH.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        prefer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let mut req = self
            .http
            .request(method, format!("{}/{path}?{query}", self.base))
            .header("apikey", self.apikey.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if let Some(p) = prefer {
            req = req.header("Prefer", p);
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| query::Error::Unreachable {
            target: self.target.clone(),
            reason: if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            },
        })?;
        let status = resp.status().as_u16();
        // `0-9/1234` or `*/1234`.
        let total = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, n)| n.parse().ok());
        let body: Value =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(Answer { total, body });
        }
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let message = field("message");
        let rpc = path.strip_prefix("rpc/");
        Err(match status {
            401 | 403 => query::Error::Refused {
                target: self.target.clone(),
                reason: format!("HTTP {status}: {message}"),
            }
            .into(),
            404 => query::Error::MissingTable {
                target: self.target.clone(),
                what: if rpc.is_some() { "function" } else { "table" },
                name: rpc.unwrap_or(path).to_owned(),
                hint: if rpc.is_some() { PRUNE_HINT } else { HINT },
            }
            .into(),
            // `actionlog_prune` refusing unguarded triggers (object_not_in_prerequisite_state).
            _ if field("code") == "55000" => Error::Unguarded {
                target: self.target.clone(),
                hint: PRUNE_HINT,
            },
            _ => query::Error::Query {
                target: self.target.clone(),
                reason: format!("HTTP {status}: {message}"),
            }
            .into(),
        })
    }

    /// `actionlog_prune(before, batch)`: the actions it deleted.
    async fn prune_actions(&self, before: &str, batch: usize) -> Result<u64, Error> {
        let a = self
            .send(
                Method::POST,
                "rpc/actionlog_prune",
                "",
                None,
                Some(&json!({"before": before, "batch": batch})),
            )
            .await?;
        Ok(a.body.as_u64().unwrap_or(0))
    }

    /// Checks, before anything is deleted, that `actionlog_prune` is there and the rollups
    /// are guarded: a call that can delete nothing.
    pub(super) async fn check(&self) -> Result<(), Error> {
        self.prune_actions("-infinity", 1).await.map(|_| ())
    }

    /// Whether `audit_digests` is there (a 404 says it is not), asked once.
    async fn has_digests(&mut self) -> Result<bool, Error> {
        if let Some(d) = self.digests {
            return Ok(d);
        }
        let d = match self
            .send(
                Method::GET,
                "audit_digests",
                "select=seq&limit=0",
                None,
                None,
            )
            .await
        {
            Ok(_) => true,
            Err(Error::Store(query::Error::MissingTable { .. })) => false,
            Err(e) => return Err(e),
        };
        self.digests = Some(d);
        Ok(d)
    }

    /// The table, key column and filters of `job` (PostgREST query items).
    fn filters(job: &Job) -> (&'static str, &'static str, Vec<String>) {
        match job {
            Job::Actions(before) => (
                "action_logs",
                "id",
                vec![format!("action_timestamp=lt.{}", enc(&text(before)))],
            ),
            Job::Runs(before) => (
                "job_executions",
                "id",
                vec![format!("started_at=lt.{}", enc(&text(before)))],
            ),
            Job::RunLogs { before, .. } => (
                "job_executions",
                "id",
                vec![
                    format!("started_at=lt.{}", enc(&text(before))),
                    "logs=not.is.null".into(),
                ],
            ),
            Job::Digests { writer, up_to } => (
                "audit_digests",
                "seq",
                vec![
                    format!("writer=eq.{}", enc(writer)),
                    format!("seq=lte.{up_to}"),
                ],
            ),
        }
    }

    pub(super) async fn batch(&mut self, job: &Job, limit: usize) -> Result<u64, Error> {
        if let Job::Actions(before) = job {
            return self.prune_actions(&text(before), limit).await;
        }
        if matches!(job, Job::Digests { .. }) && !self.has_digests().await? {
            return Ok(0);
        }
        let (table, key, filters) = Self::filters(job);
        let time = match job {
            Job::Digests { .. } => "",
            _ => "started_at,",
        };
        let q = format!(
            "select={key}&{}&order={time}{key}&limit={}",
            filters.join("&"),
            limit.min(REST_ID_BATCH)
        );
        let rows = self.send(Method::GET, table, &q, None, None).await?.body;
        let keys: Vec<String> = rows
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|r| match r.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        // The ids, with the job's own filters again: a row changed since the GET is left.
        let q = format!(
            "select={key}&{key}=in.{}&{}",
            list(&keys),
            filters.join("&")
        );
        let prefer = Some("return=representation");
        let changed = match job {
            Job::RunLogs { .. } => {
                self.send(
                    Method::PATCH,
                    table,
                    &q,
                    prefer,
                    Some(&json!({"logs": null})),
                )
                .await?
            }
            _ => self.send(Method::DELETE, table, &q, prefer, None).await?,
        };
        Ok(changed.body.as_array().map_or(0, |a| a.len() as u64))
    }

    pub(super) async fn count(&mut self, job: &Job) -> Result<u64, Error> {
        if matches!(job, Job::Digests { .. }) && !self.has_digests().await? {
            return Ok(0);
        }
        let (table, key, mut filters) = Self::filters(job);
        if let Job::RunLogs { from, .. } = job {
            filters.push(format!("started_at=gte.{}", enc(&text(from))));
        }
        let q = format!("select={key}&{}&limit=1", filters.join("&"));
        let a = self
            .send(Method::GET, table, &q, Some("count=exact"), None)
            .await?;
        a.total.ok_or_else(|| {
            query::Error::Query {
                target: self.target.clone(),
                reason: "the answer gave no count (Content-Range)".into(),
            }
            .into()
        })
    }
}
