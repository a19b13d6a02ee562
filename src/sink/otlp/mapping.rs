//! The one place an action record or a job run becomes an OTLP log record ([`LogRecord`]):
//! which fields, under which attribute names, with which severity and body. The two encoders
//! (`proto`, `json`) write what this builds and decide nothing themselves.
//!
//! | row | log record |
//! |---|---|
//! | action record | `event_name` `actionlog.action` |
//! | job run | `event_name` `actionlog.job_execution` |
//! | `action_timestamp` / `started_at` | `time_unix_nano` |
//! | (the time of the export) | `observed_time_unix_nano` |
//! | status `failed` | severity 17 `ERROR`, else 9 `INFO` |
//! | `trace_id`, `span_id` | `trace_id`, `span_id` (bytes; left out when absent or invalid) |
//! | `error_message`, else `result_message`, else `action_type` (job: `job_id`) | body (a string) |
//!
//! Attributes take the OpenTelemetry semantic conventions' names where one exists
//! (`user.id`, `client.address`, `user_agent.original`, `error.message`) and the `actionlog.`
//! prefix otherwise (the README's table lists them all; a test keeps it complete). Details and metadata go as one key-value-list
//! attribute each (`actionlog.details`, `actionlog.metadata`), so their values keep their
//! types (numbers, booleans, arrays, nested objects) and a query can reach into them; a JSON
//! null becomes an empty value.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json};

use crate::rows::{ActionRecord, JobExecution};

/// The instrumentation scope every record is sent under.
pub(super) const SCOPE_NAME: &str = "actionlog";
/// The scope's version: this crate's.
pub(super) const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `event_name` of an action record.
pub(super) const ACTION_EVENT: &str = "actionlog.action";
/// `event_name` of a job run.
pub(super) const JOB_EVENT: &str = "actionlog.job_execution";

/// An OTLP `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// A JSON value as its OTLP counterpart: object → key-value list, array → array, integer
    /// → int (beyond `i64`: double), null → the empty value.
    Json(&'a Json),
    /// A JSON object as a key-value list.
    Map(&'a Map<String, Json>),
}

/// A JSON value as the [`Value`] it is written as; `None` for null (the empty value).
pub(super) fn json_scalar(v: &Json) -> Option<Value<'_>> {
    Some(match v {
        Json::Null => return None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Str(Cow::Borrowed(s)),
        Json::Array(_) | Json::Object(_) => Value::Json(v),
    })
}

/// A log record's severity: number and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Severity {
    pub(super) number: i32,
    pub(super) text: &'static str,
}

const INFO: Severity = Severity {
    number: 9,
    text: "INFO",
};
const ERROR: Severity = Severity {
    number: 17,
    text: "ERROR",
};

fn severity(status: &str) -> Severity {
    if status == "failed" { ERROR } else { INFO }
}

/// One OTLP `LogRecord`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LogRecord<'a> {
    pub(super) time_unix_nano: u64,
    pub(super) observed_time_unix_nano: u64,
    pub(super) severity: Severity,
    pub(super) body: Value<'a>,
    pub(super) attributes: Vec<(&'static str, Value<'a>)>,
    pub(super) trace_id: Option<[u8; 16]>,
    pub(super) span_id: Option<[u8; 8]>,
    pub(super) event_name: &'static str,
}

/// One export request: the resource's attributes and its records, under the one scope.
pub(super) struct Export<'a> {
    pub(super) resource: &'a [(String, String)],
    pub(super) records: Vec<LogRecord<'a>>,
}

/// Nanoseconds since the Unix epoch; 0 (unknown, as OTLP has it) outside what fits.
pub(super) fn unix_nanos(t: &DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// `N` bytes from `2N` hex digits; `None` when malformed or all zero (invalid in OTLP).
fn hex_id<const N: usize>(hex: Option<&str>) -> Option<[u8; N]> {
    let hex = hex?.as_bytes();
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    out.iter().any(|&b| b != 0).then_some(out)
}

/// Adds `key` with the text `v`, when there is one.
fn text<'a>(attrs: &mut Vec<(&'static str, Value<'a>)>, key: &'static str, v: &'a Option<String>) {
    if let Some(s) = v {
        attrs.push((key, Value::Str(Cow::Borrowed(s))));
    }
}

/// The log record of an action record, observed at `observed` (Unix nanoseconds).
pub(super) fn action(r: &ActionRecord, observed: u64) -> LogRecord<'_> {
    let mut a = Vec::with_capacity(12);
    a.push(("actionlog.action_id", Value::Str(r.id.to_string().into())));
    a.push((
        "actionlog.action_type",
        Value::Str(Cow::Borrowed(&r.action_type)),
    ));
    a.push(("actionlog.status", Value::Str(Cow::Borrowed(&r.status))));
    text(&mut a, "user.id", &r.user_id);
    text(&mut a, "client.address", &r.ip_address);
    text(&mut a, "user_agent.original", &r.user_agent);
    text(&mut a, "error.message", &r.error_message);
    text(&mut a, "actionlog.result_message", &r.result_message);
    text(&mut a, "actionlog.source", &r.source);
    text(&mut a, "actionlog.job_id", &r.job_id);
    text(&mut a, "actionlog.job_execution_id", &r.job_execution_id);
    if let Some(d) = r.request_duration_seconds {
        a.push(("actionlog.duration_seconds", Value::Double(d)));
    }
    if !r.action_details.is_empty() {
        a.push(("actionlog.details", Value::Map(&r.action_details)));
    }
    let body = r
        .error_message
        .as_deref()
        .or(r.result_message.as_deref())
        .unwrap_or(&r.action_type);
    LogRecord {
        time_unix_nano: unix_nanos(&r.action_timestamp),
        observed_time_unix_nano: observed,
        severity: severity(&r.status),
        body: Value::Str(Cow::Borrowed(body)),
        attributes: a,
        trace_id: hex_id(r.trace_id.as_deref()),
        span_id: hex_id(r.span_id.as_deref()),
        event_name: ACTION_EVENT,
    }
}

/// The log record of a job run, observed at `observed` (Unix nanoseconds).
pub(super) fn job(j: &JobExecution, observed: u64) -> LogRecord<'_> {
    let mut a = Vec::with_capacity(8);
    a.push((
        "actionlog.job_execution_id",
        Value::Str(j.id.to_string().into()),
    ));
    a.push(("actionlog.job_id", Value::Str(Cow::Borrowed(&j.job_id))));
    a.push(("actionlog.status", Value::Str(Cow::Borrowed(&j.status))));
    text(&mut a, "error.message", &j.error_message);
    if let Some(t) = &j.completed_at {
        let at = t.to_rfc3339_opts(SecondsFormat::Micros, true);
        a.push(("actionlog.completed_at", Value::Str(at.into())));
    }
    if let Some(d) = j.duration_seconds {
        a.push(("actionlog.duration_seconds", Value::Double(d)));
    }
    if !j.logs.is_empty() {
        a.push(("actionlog.logs", Value::Str(Cow::Borrowed(&j.logs))));
    }
    if !j.metadata.is_empty() {
        a.push(("actionlog.metadata", Value::Map(&j.metadata)));
    }
    LogRecord {
        time_unix_nano: unix_nanos(&j.started_at),
        observed_time_unix_nano: observed,
        severity: severity(&j.status),
        body: Value::Str(Cow::Borrowed(
            j.error_message.as_deref().unwrap_or(&j.job_id),
        )),
        attributes: a,
        trace_id: hex_id(j.trace_id.as_deref()),
        span_id: hex_id(j.span_id.as_deref()),
        event_name: JOB_EVENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_as_hex_and_invalid_ones_left_out() {
        assert_eq!(
            hex_id::<8>(Some("00f067aa0ba902b7")),
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(
            hex_id::<8>(Some("00F067AA0BA902B7")),
            hex_id::<8>(Some("00f067aa0ba902b7"))
        );
        for bad in [
            "",
            "00f067aa0ba902b",
            "00f067aa0ba902bz",
            "0000000000000000",
            "+0f067aa0ba902b7",
        ] {
            assert_eq!(hex_id::<8>(Some(bad)), None, "{bad}");
        }
        assert_eq!(hex_id::<16>(None), None);
    }

    #[test]
    fn every_attribute_is_in_the_readme_table() {
        let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), "x");
        r.user_id = Some("u".into());
        r.ip_address = Some("a".into());
        r.user_agent = Some("ua".into());
        r.error_message = Some("e".into());
        r.result_message = Some("r".into());
        r.source = Some("s".into());
        r.job_id = Some("j".into());
        r.job_execution_id = Some("je".into());
        r.request_duration_seconds = Some(1.0);
        r.action_details.insert("k".into(), Json::Null);
        let mut j = JobExecution::new(uuid::Uuid::now_v7(), "j", "failed", Utc::now());
        j.error_message = Some("e".into());
        j.completed_at = Some(Utc::now());
        j.duration_seconds = Some(1.0);
        j.logs = "l".into();
        j.metadata.insert("k".into(), Json::Null);
        let readme = include_str!("../../../README.md");
        for (key, _) in action(&r, 0)
            .attributes
            .iter()
            .chain(&job(&j, 0).attributes)
        {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "{key} is not in the README's table"
            );
        }
        assert_eq!(action(&r, 0).attributes.len(), 13);
        assert_eq!(job(&j, 0).severity, ERROR);
    }
}
