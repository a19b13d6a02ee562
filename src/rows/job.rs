//! The `job_executions` row ([`JobExecution`]) and its JSON encoding.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

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
    /// The W3C trace id of the trace the run belongs to (32 lowercase hex digits).
    pub trace_id: Option<String>,
    /// The W3C span id of the run's span in that trace (16 lowercase hex digits).
    pub span_id: Option<String>,
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
            trace_id: None,
            span_id: None,
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
        // Only when set, as for actions: older readers and stores see the row they know.
        if let Some(t) = &self.trace_id {
            m.insert("trace_id".into(), Value::String(t.clone()));
        }
        if let Some(s) = &self.span_id {
            m.insert("span_id".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    /// The row [`Self::to_json`] wrote, or `None` if `v` is not one.
    pub fn from_json(v: &Value) -> Option<JobExecution> {
        let m = v.as_object()?;
        let time = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .and_then(super::time_from_json)
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
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        j.trace_id = text("trace_id");
        j.span_id = text("span_id");
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
        assert_eq!(back.trace_id, None);
    }

    #[test]
    fn trace_ids_round_trip_and_older_rows_read_without_them() {
        let mut j = JobExecution::new(Uuid::now_v7(), "sync", "success", Utc::now());
        j.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        j.span_id = Some("00f067aa0ba902b7".into());
        let v = j.to_json();
        let back = JobExecution::from_json(&v).unwrap();
        assert_eq!(back.trace_id, j.trace_id);
        assert_eq!(back.span_id, j.span_id);
        let mut old = v.clone();
        let m = old.as_object_mut().unwrap();
        m.remove("trace_id");
        m.remove("span_id");
        let back = JobExecution::from_json(&old).unwrap();
        assert_eq!((back.trace_id, back.span_id), (None, None));
        let plain = JobExecution::new(Uuid::now_v7(), "sync", "success", Utc::now()).to_json();
        assert!(plain.get("trace_id").is_none() && plain.get("span_id").is_none());
    }
}
