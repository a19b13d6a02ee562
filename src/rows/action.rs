//! The `action_logs` row ([`ActionRecord`]) and its JSON encoding (dead letters, the spool,
//! the PostgREST body), with the column rules: which field names fill which column.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::fields::{is_error_field, text_of};

/// Statuses that may still change; any other status is final and is never overwritten by one of
/// these (a late or replayed `initiated` cannot undo `completed`).
pub const OPEN_STATUSES: [&str; 2] = ["initiated", "in_progress"];

/// One `action_logs` row, or a newer state of one (same `id`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActionRecord {
    /// Row id: a UUID v7 made by the layer, shared by an action's initiated and final records.
    pub id: Uuid,
    /// What happened, e.g. `data_collection_start`.
    pub action_type: String,
    /// Who did it.
    pub user_id: Option<String>,
    /// When the action started.
    pub action_timestamp: DateTime<Utc>,
    /// Every field that is not a column, as a JSON object.
    pub action_details: Map<String, Value>,
    /// The scheduled job concerned.
    pub job_id: Option<String>,
    /// The job run concerned (a UUID in the database; text here so a malformed one is reported
    /// by the database and dead-lettered rather than silently dropped).
    pub job_execution_id: Option<String>,
    /// `initiated`, `in_progress`, `completed`, `failed`, or what the app recorded.
    pub status: String,
    /// Outcome text on success.
    pub result_message: Option<String>,
    /// Error text on failure.
    pub error_message: Option<String>,
    /// `ui_button`, `scheduled_job`, `api`, `recovery`, …
    pub source: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Wall time from the action's start to its end.
    pub request_duration_seconds: Option<f64>,
    /// The W3C trace id of the trace the action ran in (32 lowercase hex digits), so the row
    /// can be opened in a trace viewer and a trace can find its actions.
    pub trace_id: Option<String>,
    /// The W3C span id of the action's span in that trace (16 lowercase hex digits).
    pub span_id: Option<String>,
    /// True when this is the first record the layer made for this id (an `initiated` record, a
    /// one-shot action, or a whole action merged into one batch). Only a hint: a sink may append
    /// such rows without conflict handling, and must fall back to the upsert if the id exists.
    pub first_write: bool,
}

impl ActionRecord {
    pub(crate) fn new(id: Uuid, action_type: String, at: DateTime<Utc>, status: &str) -> Self {
        ActionRecord {
            id,
            action_type,
            user_id: None,
            action_timestamp: at,
            action_details: Map::new(),
            job_id: None,
            job_execution_id: None,
            status: status.to_owned(),
            result_message: None,
            error_message: None,
            source: None,
            ip_address: None,
            user_agent: None,
            request_duration_seconds: None,
            trace_id: None,
            span_id: None,
            first_write: true,
        }
    }

    /// A record with only an id and an action type, status `initiated`, timestamped now: for
    /// sinks' tests and replays.
    pub fn blank(id: Uuid, action_type: &str) -> Self {
        Self::new(id, action_type.to_owned(), Utc::now(), "initiated")
    }

    /// True when the status can no longer be replaced by an open one.
    pub fn is_final(&self) -> bool {
        !OPEN_STATUSES.contains(&self.status.as_str())
    }

    /// The record as a JSON object with the table's column names (used for dead letters and
    /// the PostgREST body).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let opt = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()));
        m.insert("id".into(), Value::String(self.id.to_string()));
        m.insert(
            "action_type".into(),
            Value::String(self.action_type.clone()),
        );
        m.insert("user_id".into(), opt(&self.user_id));
        m.insert(
            "action_timestamp".into(),
            Value::String(
                self.action_timestamp
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        );
        m.insert(
            "action_details".into(),
            Value::Object(self.action_details.clone()),
        );
        m.insert("job_id".into(), opt(&self.job_id));
        m.insert("job_execution_id".into(), opt(&self.job_execution_id));
        m.insert("status".into(), Value::String(self.status.clone()));
        m.insert("result_message".into(), opt(&self.result_message));
        m.insert("error_message".into(), opt(&self.error_message));
        m.insert("source".into(), opt(&self.source));
        m.insert("ip_address".into(), opt(&self.ip_address));
        m.insert("user_agent".into(), opt(&self.user_agent));
        m.insert(
            "request_duration_seconds".into(),
            self.request_duration_seconds
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
        );
        // Only when set: a segment or PostgREST body for a store without these columns stays
        // as it was for rows without a trace.
        if let Some(t) = &self.trace_id {
            m.insert("trace_id".into(), Value::String(t.clone()));
        }
        if let Some(s) = &self.span_id {
            m.insert("span_id".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    /// The record [`Self::to_json`] wrote, or `None` if `v` is not one.
    pub fn from_json(v: &Value) -> Option<ActionRecord> {
        let m = v.as_object()?;
        let text = |k: &str| m.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let mut r = ActionRecord::new(
            Uuid::parse_str(m.get("id")?.as_str()?).ok()?,
            text("action_type")?,
            super::time_from_json(m.get("action_timestamp")?.as_str()?)?,
            &text("status")?,
        );
        r.user_id = text("user_id");
        r.action_details = m
            .get("action_details")
            .and_then(|d| d.as_object())
            .cloned()
            .unwrap_or_default();
        r.job_id = text("job_id");
        r.job_execution_id = text("job_execution_id");
        r.result_message = text("result_message");
        r.error_message = text("error_message");
        r.source = text("source");
        r.ip_address = text("ip_address");
        r.user_agent = text("user_agent");
        r.request_duration_seconds = m.get("request_duration_seconds").and_then(|d| d.as_f64());
        r.trace_id = text("trace_id");
        r.span_id = text("span_id");
        // Whether the id reached the database before is unknown: take the upsert path.
        r.first_write = false;
        Some(r)
    }

    /// Sets a column from a field of that name (or one of its [`canonical`] names), taking the
    /// value; hands a non-column value back.
    fn take_column(&mut self, name: &str, v: Value) -> Result<(), Value> {
        let text = text_of;
        match canonical(name) {
            "action_type" => self.action_type = text(v),
            "user_id" => self.user_id = Some(text(v)),
            "status" => self.status = text(v),
            "source" => self.source = Some(text(v)),
            "job_id" => self.job_id = Some(text(v)),
            "job_execution_id" => self.job_execution_id = Some(text(v)),
            "result_message" => self.result_message = Some(text(v)),
            "error_message" | "error" => self.error_message = Some(text(v)),
            "ip_address" => self.ip_address = Some(client_address(v)?),
            "user_agent" => self.user_agent = Some(text(v)),
            "request_duration_seconds" | "duration_seconds" => {
                self.request_duration_seconds = v.as_f64()
            }
            _ => return Err(v),
        }
        Ok(())
    }

    /// Sets a column, or a detail for any other name (a request id under `request_id`,
    /// whichever name it came with).
    pub(crate) fn set_field(&mut self, name: &str, v: Value) {
        if let Err(v) = self.take_column(name, v) {
            let key = match canonical(name) {
                REQUEST_ID => REQUEST_ID,
                _ => name,
            };
            self.action_details.insert(key.to_owned(), v);
        }
    }

    /// Fills the columns still empty (and the request id) from an enclosing span's column
    /// fields.
    pub(crate) fn inherit(&mut self, name: &str, v: &Value) {
        let empty = match canonical(name) {
            "user_id" => self.user_id.is_none(),
            "source" => self.source.is_none(),
            "job_id" => self.job_id.is_none(),
            "job_execution_id" => self.job_execution_id.is_none(),
            "ip_address" => self.ip_address.is_none(),
            "user_agent" => self.user_agent.is_none(),
            REQUEST_ID => !self.action_details.contains_key(REQUEST_ID),
            _ => false,
        };
        if empty {
            self.set_field(name, v.clone());
        }
    }
}

/// The detail key of a request's id.
const REQUEST_ID: &str = "request_id";

/// The column (or detail) a field fills, by its name: the table's own column names, and the
/// names HTTP middleware (tracing-actix-web, tower-http) and OpenTelemetry's semantic
/// conventions give the same facts, so a request span's context reaches the row as it is.
/// Every other name is itself (a detail). The README's "Which fields fill which columns" is
/// this table.
pub(crate) fn canonical(name: &str) -> &str {
    match name {
        "user.id" | "enduser.id" => "user_id",
        "client.address" | "client_ip" | "client_address" | "client_addr" | "http.client_ip"
        | "remote_addr" | "remote_ip" | "net.peer.ip" => "ip_address",
        "user_agent.original"
        | "http.user_agent"
        | "http.request.header.user_agent"
        | "http.request.header.user-agent" => "user_agent",
        "request.id"
        | "http.request.id"
        | "http.request_id"
        | "req_id"
        | "x_request_id"
        | "x-request-id"
        | "http.request.header.x_request_id"
        | "http.request.header.x-request-id" => REQUEST_ID,
        n if is_error_field(n) => "error",
        other => other,
    }
}

/// The longest text `ip_address` takes (`VARCHAR(45)`: an IPv6 address with an IPv4 tail).
const MAX_IP_ADDRESS: usize = 45;

/// A client address as the column takes it: the address alone when it came with a port
/// (`203.0.113.7:52100`, `[2001:db8::1]:443`, as a socket address is often recorded); a text
/// too long for the column is handed back, to be kept as a detail rather than have the
/// database reject the whole row.
fn client_address(v: Value) -> Result<String, Value> {
    let s = text_of(v);
    if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
        return Ok(addr.ip().to_string());
    }
    if s.len() > MAX_IP_ADDRESS {
        return Err(Value::String(s));
    }
    Ok(s)
}

/// Fields an action inherits from enclosing spans (by [`canonical`] name): the columns that
/// describe who and where, and the request id.
pub(crate) const INHERITED: [&str; 7] = [
    "user_id",
    "source",
    "job_id",
    "job_execution_id",
    "ip_address",
    "user_agent",
    REQUEST_ID,
];

/// Whether an enclosing span's field of this name is [`INHERITED`].
pub(crate) fn is_inherited(name: &str) -> bool {
    INHERITED.contains(&canonical(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_round_trip_and_older_records_read_without_them() {
        let mut r = ActionRecord::blank(Uuid::now_v7(), "order");
        let plain = r.to_json();
        assert!(plain.get("trace_id").is_none() && plain.get("span_id").is_none());
        let back = ActionRecord::from_json(&plain).unwrap();
        assert_eq!((back.trace_id, back.span_id), (None, None));
        r.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        r.span_id = Some("00f067aa0ba902b7".into());
        let back = ActionRecord::from_json(&r.to_json()).unwrap();
        assert_eq!(back.trace_id, r.trace_id);
        assert_eq!(back.span_id, r.span_id);
    }
}
