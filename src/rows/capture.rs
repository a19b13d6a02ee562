//! What the layer hands to the pipeline: the raw, typed fields of an action plus what the layer
//! alone knows (id, times, the error seen inside a span), in an [`Envelope`] beside finished job
//! runs. Turning that into an [`ActionRecord`] (columns, details map, final status, nested
//! secrets scrubbed) happens on the worker thread, off the app's hot path.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{ActionRecord, JobExecution, LogLine, Row};
use crate::fields::packed::PackedFields;
use crate::redact::Redaction;

/// What travels through the channel: an action as captured (turned into a row on the worker),
/// a finished job run, or a rendered log line (on a pipeline of lines).
// Action captures stay inline in the channel's preallocated slots (no allocation per record on
// the app's thread); job runs are rare and boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Envelope {
    Action(CapturedAction),
    Job(Box<JobExecution>),
    Line(LogLine),
}

impl Envelope {
    /// The row, with secret-looking keys scrubbed at any depth of its JSON. Top-level keys are
    /// field names the layers already redacted (with a per-name cache); only nested JSON, if
    /// any, needs a look here.
    pub(crate) fn into_row(self, redaction: &Redaction) -> Row {
        match self {
            Envelope::Action(captured) => {
                let mut rec = captured.into_record();
                for v in rec.action_details.values_mut() {
                    redaction.scrub_json(v);
                }
                // Text columns can carry a connection string as much as details can.
                for s in [
                    Some(&mut rec.action_type),
                    rec.user_id.as_mut(),
                    rec.result_message.as_mut(),
                    rec.error_message.as_mut(),
                    rec.source.as_mut(),
                    rec.user_agent.as_mut(),
                    rec.job_id.as_mut(),
                ]
                .into_iter()
                .flatten()
                {
                    redaction.scrub_text(s);
                }
                Row::Action(rec)
            }
            Envelope::Job(mut run) => {
                for v in run.metadata.values_mut() {
                    redaction.scrub_json(v);
                }
                if let Some(e) = run.error_message.as_mut() {
                    redaction.scrub_text(e);
                }
                redaction.scrub_text(&mut run.logs);
                Row::Job(run)
            }
            // Rendered by the file writer, redaction applied: nothing left to scrub.
            Envelope::Line(line) => Row::Line(line),
        }
    }
}

/// Where a capture came from, and what decides its status.
#[derive(Clone)]
pub(crate) enum Origin {
    /// A one-shot action event; `fails` when the [`FailureRule`](super::FailureRule) says it
    /// fails (an ERROR event, or one with an error field).
    Event { fails: bool },
    /// An action span was created: the `initiated` record.
    SpanStart,
    /// An action span closed at `ended`; `error` is the text of the first failing event seen
    /// inside it.
    SpanEnd {
        ended: DateTime<Utc>,
        error: Option<String>,
    },
}

/// One action record, as captured on the app's thread.
#[derive(Clone)]
pub(crate) struct CapturedAction {
    pub(crate) id: Uuid,
    /// The action's start (a span's creation, an event's emission), as
    /// [`Clock::unix_now`](crate::clock::Clock::unix_now) gives it: turned into a `DateTime` on
    /// the worker, so the caller does no calendar arithmetic.
    pub(crate) at: (i64, u32),
    /// The span or event name: the action type when no `action_type` value was recorded.
    pub(crate) name: &'static str,
    pub(crate) origin: Origin,
    /// The action's own fields, in recording order.
    pub(crate) fields: Fields,
    /// Column fields of the enclosing spans, innermost first, used where the action has none.
    pub(crate) inherited: Vec<(&'static str, Value)>,
    pub(crate) first_write: bool,
    /// The trace context of the action's span, or of the span the event is in.
    pub(crate) trace: Option<crate::trace::TraceContext>,
}

/// An action's fields as the layer took them.
// Packed event fields stay inline, in the channel slot: boxing them would bring back the
// allocation the packing avoids.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Fields {
    /// A span's fields, kept as values while the span lives.
    Typed(Vec<(&'static str, Value)>),
    /// An event's fields, packed on the caller (see `fields::packed`).
    Packed(PackedFields),
}

impl CapturedAction {
    /// The row: columns from the fields, everything else into `action_details`, and the status
    /// the status rules give (see the `action` module docs).
    pub(crate) fn into_record(self) -> ActionRecord {
        // Any instant a `Clock` gives converts back (a `DateTime`'s own range).
        let at = DateTime::from_timestamp(self.at.0, self.at.1).unwrap_or_default();
        let mut rec = ActionRecord::new(self.id, String::new(), at, "initiated");
        rec.first_write = self.first_write;
        rec.trace_id = self.trace.map(|t| t.trace_hex());
        rec.span_id = self.trace.map(|t| t.span_hex());
        let mut explicit_status = false;
        let mut error_field = false;
        let fields = match self.fields {
            Fields::Typed(f) => f,
            Fields::Packed(p) => p.unpack(),
        };
        for (k, v) in fields {
            explicit_status |= k == "status";
            error_field |= crate::fields::is_error_field(k);
            rec.set_field(k, v);
        }
        for (k, v) in &self.inherited {
            rec.inherit(k, v);
        }
        if rec.action_type.is_empty() {
            rec.action_type = self.name.to_owned();
        }
        match self.origin {
            Origin::SpanStart => rec.status = "initiated".to_owned(),
            Origin::SpanEnd { ended, error } => {
                if rec.status == "failed" || error_field || error.is_some() {
                    rec.status = "failed".to_owned();
                    if rec.error_message.is_none() {
                        rec.error_message = error;
                    }
                } else if !rec.is_final() {
                    rec.status = "completed".to_owned();
                }
                let micros = (ended - at).num_microseconds().unwrap_or(0).max(0);
                rec.request_duration_seconds = Some(micros as f64 / 1e6);
            }
            Origin::Event { fails } => {
                if !explicit_status {
                    rec.status = if fails { "failed" } else { "completed" }.to_owned();
                }
                if rec.status == "failed" && rec.error_message.is_none() {
                    rec.error_message = rec
                        .action_details
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned);
                }
            }
        }
        rec
    }
}
