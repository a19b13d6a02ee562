//! Job executions: the seed's `job_executions` row, built from job-execution spans by
//! [`JobLayer`], with the run's log lines captured into its `logs` column.
//!
//! The convention:
//! - A span named `job_execution` with a `job_id` field is one run of that job. When it closes it
//!   yields one `job_executions` row: `success`, or `failed` when an ERROR event happened inside it
//!   (its `error` field or message becomes `error_message`), an `error` field was recorded on it
//!   or its `status` field says `failed`; `cancelled` when the run was dropped before it finished
//!   (see [`run`]) or `status = "cancelled"` was recorded. A run a panic unwound out of is
//!   `failed` with the error `panicked` (with actionlog's panic hook, the panic's own ERROR
//!   event comes first and gives the message).
//! - Every event inside the run that the log filter lets through is kept in `logs`, one plain
//!   console-format line each (no colour codes), up to [`DEFAULT_MAX_LOG_BYTES`] (configurable),
//!   then a `…[truncated N bytes]` marker.
//! - The run's id (a UUID v7) is given to everything inside it: an action span or event inside
//!   the run gets it as `job_execution_id` (and the run's `job_id`).
//! - The span's other fields are the row's `metadata`. A `next_scheduled_run` field (RFC 3339)
//!   is kept there normalised, and tells the `scheduled_jobs` upkeep when the job runs next.
//!
//! Rows go through the same bounded channel, batching, retries, spool and dead-letter file as
//! action records, and are counted in the same [`crate::Stats`] counters. Writes are idempotent:
//! a run is written once, at close, and a replayed row is ignored.
//!
//! The `scheduled_jobs` upkeep (sinks' `scheduled_jobs(true)`, [`crate::Builder::scheduled_jobs`])
//! derives, for jobs that have a `scheduled_jobs` row, `last_attempted_run`,
//! `last_successful_run` and `consecutive_failures` (failed runs since the last success) from
//! `job_executions`, and `next_scheduled_run` from the newest run that supplied one. Derived
//! rather than incremented, so replays and retries cannot count a run twice.

mod layer;
mod run;

pub(crate) use layer::run_id;
pub use layer::{JobFilter, JobLayer};
pub use run::{run, try_run};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The span name that marks a job execution.
pub const SPAN_NAME: &str = "job_execution";

/// Default cap on a run's captured `logs` (256 KiB).
pub const DEFAULT_MAX_LOG_BYTES: usize = 256 * 1024;

/// One `job_executions` row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobExecution {
    /// Row id: a UUID v7 made when the run started; nested actions carry it as
    /// `job_execution_id`.
    pub id: Uuid,
    /// The job, e.g. `data_collection`.
    pub job_id: String,
    /// `success`, `failed` or `cancelled`.
    pub status: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// Wall time of the run.
    pub duration_seconds: Option<f64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// The run's log lines, newline-separated.
    pub logs: String,
    /// The span's other fields.
    pub metadata: Map<String, Value>,
}

impl JobExecution {
    /// A run of `job_id` with only its id, status and start time set: for sinks' tests.
    pub fn new(id: Uuid, job_id: &str, status: &str, started_at: DateTime<Utc>) -> Self {
        JobExecution {
            id,
            job_id: job_id.to_owned(),
            status: status.to_owned(),
            started_at,
            completed_at: None,
            duration_seconds: None,
            error_message: None,
            logs: String::new(),
            metadata: Map::new(),
        }
    }

    /// The `next_scheduled_run` the run supplied, if it did.
    pub fn next_scheduled_run(&self) -> Option<DateTime<Utc>> {
        self.metadata
            .get("next_scheduled_run")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// The row as a JSON object with the table's column names (dead letters, spool, PostgREST).
    pub fn to_json(&self) -> Value {
        let ts = |t: &DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true));
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.to_string()));
        m.insert("job_id".into(), Value::String(self.job_id.clone()));
        m.insert("status".into(), Value::String(self.status.clone()));
        m.insert("started_at".into(), ts(&self.started_at));
        m.insert(
            "completed_at".into(),
            self.completed_at.as_ref().map_or(Value::Null, ts),
        );
        m.insert(
            "duration_seconds".into(),
            self.duration_seconds
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
        );
        m.insert(
            "error_message".into(),
            self.error_message
                .as_ref()
                .map_or(Value::Null, |s| Value::String(s.clone())),
        );
        m.insert("logs".into(), Value::String(self.logs.clone()));
        m.insert("metadata".into(), Value::Object(self.metadata.clone()));
        Value::Object(m)
    }

    /// The row [`Self::to_json`] wrote, or `None` if `v` is not one.
    pub fn from_json(v: &Value) -> Option<JobExecution> {
        let m = v.as_object()?;
        let time = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let mut j = JobExecution::new(
            Uuid::parse_str(m.get("id")?.as_str()?).ok()?,
            m.get("job_id")?.as_str()?,
            m.get("status")?.as_str()?,
            time("started_at")?,
        );
        j.completed_at = time("completed_at");
        j.duration_seconds = m.get("duration_seconds").and_then(Value::as_f64);
        j.error_message = m
            .get("error_message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        j.logs = m
            .get("logs")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        j.metadata = m
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Some(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let mut j = JobExecution::new(Uuid::now_v7(), "data_collection", "failed", Utc::now());
        j.completed_at = Some(Utc::now());
        j.duration_seconds = Some(1.5);
        j.error_message = Some("boom".into());
        j.logs = "a\nb".into();
        j.metadata
            .insert("next_scheduled_run".into(), "2026-01-02T03:04:05Z".into());
        let back = JobExecution::from_json(&j.to_json()).unwrap();
        assert_eq!(back.id, j.id);
        assert_eq!(back.logs, "a\nb");
        assert_eq!(back.error_message.as_deref(), Some("boom"));
        assert_eq!(back.duration_seconds, Some(1.5));
        assert_eq!(
            back.next_scheduled_run().unwrap().to_rfc3339(),
            "2026-01-02T03:04:05+00:00"
        );
    }
}
