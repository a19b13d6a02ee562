//! The owned rows the pipeline carries and the sinks store, and their encoding:
//! - [`ActionRecord`], one `action_logs` row (or a newer state of one);
//! - [`JobExecution`], one `job_executions` row;
//! - [`CapturedAction`], an action as a layer took it on the app's thread, turned into its row (the
//!   status rules) on the worker thread by [`Envelope::into_row`];
//! - [`LogLine`], one log line as the day files hold it, for a store that takes lines;
//! - [`Row`], what a batch holds, and its JSON form in the spool and dead-letter files;
//! - [`FailureRule`], which events fail the action or run they happen in;
//! - [`DigestRow`], one signed digest of the tamper-evident trail (`audit_digests`).
//!
//! Nothing here knows about layers, the pipeline or sinks.

mod action;
mod capture;
mod digest;
mod failure;
mod job;
mod line;
mod stored;

pub use action::{ActionRecord, OPEN_STATUSES};
pub use failure::FailureRule;
pub use job::JobExecution;
pub use line::LogLine;

pub(crate) use action::{canonical, is_inherited};
pub(crate) use capture::{CapturedAction, Envelope, Fields, Origin};
#[allow(unused_imports)]
pub(crate) use digest::{DIGEST_KINDS, DigestInsert, DigestRow};
pub(crate) use stored::{clean_map, clean_text, duration_millis, stored_duration};

use serde_json::Value;
use uuid::Uuid;

/// A row to deliver: to `action_logs` or to `job_executions`, or a log line to a store that
/// takes lines.
// Action rows are the common case and stay inline (no allocation per record); job runs are
// rare and large, so they are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Row {
    Action(ActionRecord),
    Job(Box<JobExecution>),
    Line(LogLine),
}

/// A time as the JSON form holds it (RFC 3339), kept to the microsecond as the `to_json`s
/// write it: a finer one, which no writer of ours produces, is cut to it, so that a row read
/// back writes back the same.
pub(crate) fn time_from_json(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::Timelike;
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?.to_utc();
    t.with_nanosecond(t.nanosecond() / 1000 * 1000)
}

/// The key marking a job row or a log line in the spool and dead-letter files (action rows,
/// the older format, have none).
const TABLE_KEY: &str = "_table";

/// [`TABLE_KEY`]'s value for a log line.
const LINES_TABLE: &str = "log_lines";

impl Row {
    /// The row's id; a log line has none.
    pub(crate) fn id(&self) -> Option<Uuid> {
        match self {
            Row::Action(a) => Some(a.id),
            Row::Job(j) => Some(j.id),
            Row::Line(_) => None,
        }
    }

    /// The row as reports name it: `record <id>`, or `a log line`.
    pub(crate) fn label(&self) -> String {
        match self.id() {
            Some(id) => format!("record {id}"),
            None => "a log line".to_owned(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Row::Action(a) => a.to_json(),
            Row::Job(j) => {
                let mut v = j.to_json();
                if let Value::Object(m) = &mut v {
                    m.insert(TABLE_KEY.into(), "job_executions".into());
                }
                v
            }
            Row::Line(l) => {
                let mut v = l.to_json();
                if let Value::Object(m) = &mut v {
                    m.insert(TABLE_KEY.into(), LINES_TABLE.into());
                }
                v
            }
        }
    }

    pub(crate) fn from_json(v: &Value) -> Option<Row> {
        match v.get(TABLE_KEY).and_then(Value::as_str) {
            Some("job_executions") => JobExecution::from_json(v).map(|j| Row::Job(Box::new(j))),
            Some(LINES_TABLE) => LogLine::from_json(v).map(Row::Line),
            Some(_) => None,
            None => ActionRecord::from_json(v).map(Row::Action),
        }
    }
}
