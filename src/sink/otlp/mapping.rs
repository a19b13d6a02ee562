//! The one place an action record, a job run or a log line becomes an OTLP log record
//! ([`LogRecord`]): which fields, under which attribute names, with which severity and body,
//! under which scope. The two encoders (`proto`, `json`) write what this builds and decide
//! nothing themselves.
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
//! null becomes an empty value. Records and runs go under one scope, `actionlog`.
//!
//! A log line ([`line()`]) is read out of the day file's JSON object it is (`format::file`'s
//! layout, the one place a line is laid out):
//!
//! | line | log record |
//! |---|---|
//! | `timestamp` | `time_unix_nano` (0, unknown, if it does not read as RFC 3339) |
//! | (the time of the export) | `observed_time_unix_nano` |
//! | `level` | `severity_number`: `TRACE` 1, `DEBUG` 5, `INFO` 9, `WARNING` 13, `ERROR` 17 (`tracing` has no level above it); `severity_text` the level as the line has it |
//! | `message` | body (a string) |
//! | `logger` (the `tracing` target, or a `log` record's) | the instrumentation scope's name (records grouped by scope), as opentelemetry-otlp does with the target |
//! | `trace_id`, `span_id` | `trace_id`, `span_id` |
//! | each `metadata` entry | an attribute of that name, its JSON type kept: string, int (beyond `i64`: double), double, bool; an array or object as an array or key-value list; null as the empty value |
//!
//! No `event_name`: in the OpenTelemetry log data model it names an event, and a plain log
//! line is not one. The layout has no source location (tracing's file and line are not in the
//! line), so there is no `code.*` attribute to fill. A line that does not read as a JSON
//! object (one edited in a spool or dead-letter file) is still sent: its text as the body,
//! with no severity and no scope name.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json};

use crate::rows::{ActionRecord, JobExecution, LogLine};

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
pub(super) struct Severity<'a> {
    pub(super) number: i32,
    pub(super) text: &'a str,
}

const INFO: Severity<'static> = Severity {
    number: 9,
    text: "INFO",
};
const ERROR: Severity<'static> = Severity {
    number: 17,
    text: "ERROR",
};

fn severity(status: &str) -> Severity<'static> {
    if status == "failed" { ERROR } else { INFO }
}

/// The severity of a line's `level` (as `format::level_name` writes it); 0, unspecified, with
/// the level's own text for one it does not know.
fn level_severity(level: &str) -> i32 {
    match level {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARNING" => 13,
        "ERROR" => 17,
        _ => 0,
    }
}

/// One OTLP `LogRecord`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LogRecord<'a> {
    pub(super) time_unix_nano: u64,
    pub(super) observed_time_unix_nano: u64,
    pub(super) severity: Severity<'a>,
    pub(super) body: Value<'a>,
    pub(super) attributes: Vec<(&'a str, Value<'a>)>,
    pub(super) trace_id: Option<[u8; 16]>,
    pub(super) span_id: Option<[u8; 8]>,
    /// Empty for none (a plain log line).
    pub(super) event_name: &'static str,
}

/// One instrumentation scope (name and version, empty for none) and its records.
pub(super) struct Scope<'a> {
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    pub(super) records: Vec<LogRecord<'a>>,
}

impl<'a> Scope<'a> {
    /// `records` under actionlog's own scope: action records and job runs.
    pub(super) fn actionlog(records: Vec<LogRecord<'a>>) -> Self {
        Scope {
            name: SCOPE_NAME,
            version: SCOPE_VERSION,
            records,
        }
    }
}

/// One export request: the resource's attributes and its records, by scope.
pub(super) struct Export<'a> {
    pub(super) resource: &'a [(String, String)],
    pub(super) scopes: Vec<Scope<'a>>,
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
fn text<'a>(attrs: &mut Vec<(&'a str, Value<'a>)>, key: &'static str, v: &'a Option<String>) {
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

/// A log line's JSON object, read once for [`line()`] to borrow from (null when the text is not
/// JSON).
pub(super) fn parse_line(l: &LogLine) -> Json {
    serde_json::from_str(l.as_str()).unwrap_or(Json::Null)
}

/// The log record of the log line `l` (read as `parsed`, [`parse_line`]), observed at
/// `observed` (Unix nanoseconds), and the name of the scope it goes under: the line's logger.
pub(super) fn line<'a>(
    l: &'a LogLine,
    parsed: &'a Json,
    observed: u64,
) -> (&'a str, LogRecord<'a>) {
    let field = |key: &str| parsed.get(key).and_then(Json::as_str);
    let Some(message) = field("message") else {
        // Not a line of ours (edited by hand): its text, as it is.
        let record = LogRecord {
            time_unix_nano: 0,
            observed_time_unix_nano: observed,
            severity: Severity {
                number: 0,
                text: "",
            },
            body: Value::Str(Cow::Borrowed(l.as_str())),
            attributes: Vec::new(),
            trace_id: None,
            span_id: None,
            event_name: "",
        };
        return ("", record);
    };
    let level = field("level").unwrap_or_default();
    let time = field("timestamp")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| unix_nanos(&t.to_utc()));
    let attributes = match parsed.get("metadata") {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.as_str(), Value::Json(v)))
            .collect(),
        _ => Vec::new(),
    };
    let record = LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity: Severity {
            number: level_severity(level),
            text: level,
        },
        body: Value::Str(Cow::Borrowed(message)),
        attributes,
        trace_id: hex_id(field("trace_id")),
        span_id: hex_id(field("span_id")),
        event_name: "",
    };
    (field("logger").unwrap_or_default(), record)
}

/// The log records of `lines` (each with its [`parse_line`]), grouped by scope — one per
/// logger, in the order each first appears, records in line order within it.
pub(super) fn lines<'a>(
    lines: impl Iterator<Item = (&'a LogLine, &'a Json)>,
    observed: u64,
) -> Vec<Scope<'a>> {
    let mut scopes: Vec<Scope<'a>> = Vec::new();
    let mut index: std::collections::HashMap<&'a str, usize> = std::collections::HashMap::new();
    for (l, parsed) in lines {
        let (name, record) = line(l, parsed, observed);
        let i = *index.entry(name).or_insert_with(|| {
            scopes.push(Scope {
                name,
                version: "",
                records: Vec::new(),
            });
            scopes.len() - 1
        });
        scopes[i].records.push(record);
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_a_record_under_its_logger() {
        let text = r#"{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"WARNING","message":"disk low","logger":"app::disk","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","metadata":{"free":12,"ratio":0.5,"ok":false,"path":"/srv","big":18446744073709551615,"nan":"NaN"}}"#;
        let l = LogLine::new(text);
        let parsed = parse_line(&l);
        let (scope, r) = line(&l, &parsed, 7);
        assert_eq!(scope, "app::disk");
        assert_eq!(r.time_unix_nano, 1_762_176_645_123_456_000);
        assert_eq!(r.observed_time_unix_nano, 7);
        assert_eq!(
            r.severity,
            Severity {
                number: 13,
                text: "WARNING"
            }
        );
        assert_eq!(r.body, Value::Str("disk low".into()));
        assert_eq!(r.trace_id.map(|t| t[0]), Some(0x4b));
        assert_eq!(r.span_id.map(|s| s[7]), Some(0xb7));
        assert_eq!(r.event_name, "");
        let attrs: Vec<(&str, Option<Value<'_>>)> = r
            .attributes
            .iter()
            .map(|(k, v)| match v {
                Value::Json(j) => (*k, json_scalar(j)),
                other => (*k, Some(other.clone())),
            })
            .collect();
        assert!(attrs.contains(&("free", Some(Value::Int(12)))));
        assert!(attrs.contains(&("ratio", Some(Value::Double(0.5)))));
        assert!(attrs.contains(&("ok", Some(Value::Bool(false)))));
        assert!(attrs.contains(&("path", Some(Value::Str("/srv".into())))));
        assert!(attrs.contains(&("big", Some(Value::Double(18446744073709551615.0)))));
        assert_eq!(attrs.len(), 6);
    }

    #[test]
    fn every_level_has_its_severity_and_text_that_is_not_a_line_is_kept() {
        for (level, n) in [
            ("TRACE", 1),
            ("DEBUG", 5),
            ("INFO", 9),
            ("WARNING", 13),
            ("ERROR", 17),
            ("NOTICE", 0),
        ] {
            assert_eq!(level_severity(level), n, "{level}");
        }
        let l = LogLine::new("not json {");
        let parsed = parse_line(&l);
        let (scope, r) = line(&l, &parsed, 1);
        assert_eq!((scope, r.severity.number), ("", 0));
        assert_eq!(r.body, Value::Str("not json {".into()));
        let a = LogLine::new(
            r#"{"timestamp":"x","level":"INFO","message":"a","logger":"one","metadata":{}}"#,
        );
        let b = LogLine::new(r#"{"level":"INFO","message":"b","logger":"two","metadata":{}}"#);
        let c = LogLine::new(r#"{"level":"INFO","message":"c","logger":"one","metadata":{}}"#);
        let all = [a, b, c];
        let parsed: Vec<Json> = all.iter().map(parse_line).collect();
        let scopes = lines(all.iter().zip(&parsed), 0);
        let got: Vec<(&str, usize)> = scopes.iter().map(|s| (s.name, s.records.len())).collect();
        assert_eq!(got, [("one", 2), ("two", 1)]);
        assert_eq!(scopes[0].records[0].time_unix_nano, 0);
    }

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
