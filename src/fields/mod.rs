//! Field capture, shared by every layer: one visitor that hands each value `tracing` gives to a
//! handler as a [`Val`], value conversion (JSON bytes, JSON values, bounded text), the capture
//! settings a layer applies ([`CaptureSettings`]: redaction and size caps), each callsite's
//! decisions ([`callsite`]), the one binary encoding of captured values ([`values`]), span
//! tracking ([`spans`]), the event capture of the lines written on the caller's thread
//! ([`event`]), the span close lines' timings and events ([`close`]) and the packed form of an
//! action event's fields ([`packed`]).
//!
//! Nothing here knows about the outputs, rows, the pipeline or sinks: the layers call in (span
//! tracking gives a line layer its span hooks) and are called back only through a closure they
//! pass (their own event path, for a span close line).

pub(crate) mod callsite;
pub(crate) mod close;
pub(crate) mod event;
pub(crate) mod packed;
pub(crate) mod spans;
pub(crate) mod values;

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::field::{Field, Visit};
use uuid::Uuid;

use crate::format::json;
use crate::limits::{self, Limits};
use crate::redact::Redaction;

/// The metadata a `log` record carried, if `event` is one (`tracing_log`'s normalization).
/// The bridge's events all have the target `log`: testing it first spares every other event
/// the bridge's callsite lookup by level.
pub(crate) fn log_metadata<'a>(event: &'a tracing::Event<'a>) -> Option<tracing::Metadata<'a>> {
    use tracing_log::NormalizeEvent;
    if event.metadata().target() != "log" {
        return None;
    }
    event.normalized_metadata()
}

/// How a layer captures fields: which names it redacts, and its size caps. Span fields
/// are stored per settings (see [`spans::SpanFieldSets`]), so layers with different settings
/// each see their own result whatever their order.
#[derive(Debug, Clone, Default)]
pub(crate) struct CaptureSettings {
    pub(crate) redaction: Redaction,
    pub(crate) limits: Limits,
}

/// Identifies [`CaptureSettings`]: equal keys capture identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SettingsKey(u64, Limits);

impl CaptureSettings {
    pub(crate) fn key(&self) -> SettingsKey {
        SettingsKey(self.redaction.id(), self.limits)
    }
}

/// One field value as `tracing` handed it over, before rendering.
#[derive(Clone, Copy)]
pub(crate) enum Val<'a> {
    Str(&'a str),
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Debug(&'a dyn fmt::Debug),
    Error(&'a (dyn std::error::Error + 'static)),
}

impl Val<'_> {
    /// Appends the value as JSON: numbers and booleans keep their type, everything else is a
    /// string, cut at `limits`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, limits: &Limits) {
        let max = limits.max_field_bytes();
        match *self {
            Val::Str(s) if s.len() <= max => json::write_str(out, s),
            Val::Str(s) => {
                out.push(b'"');
                bounded(&mut json::JsonEscaper(out), format_args!("{s}"), max);
                out.push(b'"');
            }
            Val::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Val::I64(v) => json::write_int(out, v),
            Val::U64(v) => json::write_int(out, v),
            Val::I128(v) => json::write_int(out, v),
            Val::U128(v) => json::write_int(out, v),
            Val::F64(v) => json::write_f64(out, v),
            Val::Debug(d) => {
                out.push(b'"');
                bounded(&mut json::JsonEscaper(out), format_args!("{d:?}"), max);
                out.push(b'"');
            }
            Val::Error(e) => {
                out.push(b'"');
                bounded(&mut json::JsonEscaper(out), format_args!("{e}"), max);
                out.push(b'"');
            }
        }
    }
}

/// What a value whose `Debug` or `Display` panicked shows instead (after whatever it wrote).
pub(crate) const FORMAT_PANICKED: &str = "<formatting panicked>";

/// Formats user code's `Debug`/`Display` output, containing a panic inside it: logging never
/// takes the app down because a value could not describe itself.
pub(crate) fn guarded(out: &mut dyn fmt::Write, args: fmt::Arguments<'_>) {
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = out.write_fmt(args);
    }));
    if done.is_err() {
        let _ = out.write_str(FORMAT_PANICKED);
    }
}

/// [`guarded`] formatting kept within `max` bytes (see [`crate::limits`]).
pub(crate) fn bounded(out: &mut dyn fmt::Write, args: fmt::Arguments<'_>, max: usize) {
    let mut capped = limits::Capped::new(out, max);
    guarded(&mut capped, args);
    capped.finish();
}

/// Receives each visited field.
pub(crate) trait ValHandler {
    fn field(&mut self, field: &Field, v: Val<'_>);
}

/// Adapts a [`ValHandler`] to `tracing`'s [`Visit`].
pub(crate) struct Visitor<H>(pub(crate) H);

impl<H: ValHandler> Visit for Visitor<H> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.0.field(f, Val::F64(v))
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.field(f, Val::I64(v))
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.field(f, Val::U64(v))
    }
    fn record_i128(&mut self, f: &Field, v: i128) {
        self.0.field(f, Val::I128(v))
    }
    fn record_u128(&mut self, f: &Field, v: u128) {
        self.0.field(f, Val::U128(v))
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.field(f, Val::Bool(v))
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.field(f, Val::Str(v))
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.0.field(f, Val::Error(v))
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.0.field(f, Val::Debug(v))
    }
}

/// A float as JSON; non-finite values become the strings `NaN`, `inf`, `-inf`.
pub(crate) fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(
        || {
            let s = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            Value::String(s.to_owned())
        },
        Value::Number,
    )
}

/// Converts a visited value to JSON, keeping its type; text is cut at `limits`.
pub(crate) fn to_value(v: Val<'_>, limits: &Limits) -> Value {
    let max = limits.max_field_bytes();
    let text = |args: fmt::Arguments<'_>| {
        let mut s = String::new();
        bounded(&mut s, args, max);
        Value::String(s)
    };
    match v {
        Val::Str(s) if s.len() <= max => Value::String(s.to_owned()),
        Val::Str(s) => text(format_args!("{s}")),
        Val::Bool(b) => Value::Bool(b),
        Val::I64(i) => Value::from(i),
        Val::U64(u) => Value::from(u),
        Val::I128(i) => i64::try_from(i).map_or_else(|_| Value::String(i.to_string()), Value::from),
        Val::U128(u) => u64::try_from(u).map_or_else(|_| Value::String(u.to_string()), Value::from),
        Val::F64(f) => float_value(f),
        Val::Debug(d) => text(format_args!("{d:?}")),
        Val::Error(e) => text(format_args!("{e}")),
    }
}

/// A JSON value as column text: strings as they are, anything else as JSON.
pub(crate) fn text_of(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Names of the fields that report an error: tracing's own (`#[instrument(err)]` records
/// `error`) and OpenTelemetry's semantic conventions' `exception.message`.
pub(crate) const ERROR_FIELDS: [&str; 2] = ["error", "exception.message"];

/// Whether a field of this name reports an error.
pub(crate) fn is_error_field(name: &str) -> bool {
    ERROR_FIELDS.contains(&name)
}

/// How many causes of an error are followed (a guard against a cyclic `source` chain).
const MAX_CAUSES: usize = 16;

/// An error value's text with its causes, on one line: `outer: cause: root cause`.
/// - An error recorded as one (`error = &e as &dyn std::error::Error`): its `source()` chain,
///   each cause that its predecessors' text does not already hold.
/// - An error recorded by `Display` (`%e`, as `#[instrument(err)]` does) or `Debug`: the
///   alternate form when it is the plain form with more on the same line — how anyhow and
///   eyre errors (and `#[error(transparent)]` wrappers of them) print their context chain —
///   else the plain form, so a `Debug` struct is never pretty-printed over several lines.
///
/// Each formatting stays within `max` bytes.
pub(crate) struct WithCauses<'a> {
    value: &'a Val<'a>,
    max: usize,
}

impl<'a> WithCauses<'a> {
    pub(crate) fn new(value: &'a Val<'a>, max: usize) -> Self {
        WithCauses { value, max }
    }

    fn capped(&self, args: fmt::Arguments<'_>) -> String {
        let mut s = String::new();
        bounded(&mut s, args, self.max);
        s
    }
}

impl fmt::Display for WithCauses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.value {
            Val::Error(e) => {
                let mut shown = self.capped(format_args!("{e}"));
                let mut source = e.source();
                for _ in 0..MAX_CAUSES {
                    let Some(cause) = source else { break };
                    let text = self.capped(format_args!("{cause}"));
                    if !text.is_empty() && !shown.contains(&text) {
                        shown.push_str(": ");
                        shown.push_str(&text);
                    }
                    if shown.len() > self.max {
                        break;
                    }
                    source = cause.source();
                }
                f.write_str(&shown)
            }
            Val::Debug(d) => {
                let plain = self.capped(format_args!("{d:?}"));
                let alternate = self.capped(format_args!("{d:#?}"));
                let more_on_one_line = alternate
                    .strip_prefix(plain.as_str())
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('\n'));
                f.write_str(if more_on_one_line { &alternate } else { &plain })
            }
            other => match to_value(other, &Limits::new(self.max, self.max)) {
                Value::String(s) => f.write_str(&s),
                v => write!(f, "{v}"),
            },
        }
    }
}

/// [`to_value`] for a field that reports an error: a `Debug`, `Display` or error value as its
/// text [`WithCauses`]; any other value as [`to_value`] gives it.
pub(crate) fn error_value(v: Val<'_>, limits: &Limits) -> Value {
    match v {
        Val::Debug(_) | Val::Error(_) => {
            let mut s = String::new();
            let max = limits.max_field_bytes();
            bounded(&mut s, format_args!("{}", WithCauses::new(&v, max)), max);
            Value::String(s)
        }
        other => to_value(other, limits),
    }
}

/// Picks the error field (preferred) or the message out of an event that fails an action or
/// a run: the text that becomes its `error_message`.
pub(crate) struct ErrorText<'a> {
    limits: &'a Limits,
    error: Option<String>,
    message: Option<String>,
}

impl<'a> ErrorText<'a> {
    /// The error text of `event`: its error field with its causes, else its message, else
    /// `error`.
    pub(crate) fn of(event: &tracing::Event<'_>, limits: &'a Limits) -> String {
        let mut t = ErrorText {
            limits,
            error: None,
            message: None,
        };
        event.record(&mut Visitor(&mut t));
        t.error.or(t.message).unwrap_or_else(|| "error".into())
    }
}

impl ValHandler for &mut ErrorText<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        match field.name() {
            n if is_error_field(n) => self.error = Some(text_of(error_value(v, self.limits))),
            "message" => self.message = Some(text_of(to_value(v, self.limits))),
            _ => {}
        }
    }
}

/// A UUID v7 for `now`: 48 bits of Unix milliseconds, then 74 random bits from a thread-local
/// generator. Cheaper than `Uuid::now_v7()`, which takes a process-wide lock and asks the OS
/// for randomness on every call; ids stay time-ordered to the millisecond and unique.
pub(crate) fn new_id(now: DateTime<Utc>) -> Uuid {
    new_id_unix((now.timestamp(), now.timestamp_subsec_nanos()))
}

/// [`new_id`] for an instant as [`crate::clock::Clock::unix_now`] gives it: the milliseconds
/// without chrono's calendar arithmetic (the same value as `DateTime::timestamp_millis`).
#[inline]
pub(crate) fn new_id_unix((secs, nanos): (i64, u32)) -> Uuid {
    let millis = secs
        .saturating_mul(1000)
        .saturating_add(i64::from(nanos / 1_000_000))
        .max(0) as u64;
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
    random[8..].copy_from_slice(&fastrand::u16(..).to_le_bytes());
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id's 48-bit millisecond prefix, read back.
    fn millis_of(id: Uuid) -> i64 {
        let b = id.as_bytes();
        i64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    #[test]
    fn ids_from_raw_instants_carry_the_same_milliseconds_as_from_datetimes() {
        for t in ["2026-12-01T15:22:46.999999999Z", "1970-01-01T00:00:00.001Z"] {
            let t: DateTime<Utc> = t.parse().unwrap();
            let raw = (t.timestamp(), t.timestamp_subsec_nanos());
            assert_eq!(millis_of(new_id_unix(raw)), t.timestamp_millis());
            assert_eq!(millis_of(new_id(t)), t.timestamp_millis());
            assert_eq!(new_id_unix(raw).get_version_num(), 7);
        }
        assert_eq!(millis_of(new_id_unix((-5, 0))), 0);
    }
}
