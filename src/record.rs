//! Capturing `tracing` fields: one visitor that hands every value to a handler as a [`Val`],
//! the per-span field store kept in span extensions ([`SpanFields`]), and the event capture
//! shared by the file and console outputs ([`capture_event`]).
//!
//! Span fields are rendered to JSON once, when the span is created or a field is recorded, and
//! reused by every event inside the span: an event never re-visits its parents' fields.

use std::cell::RefCell;
use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::format::json;
use crate::limits;
use crate::redact::{REDACTED, Redaction};

/// One field value as `tracing` handed it over, before rendering.
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
    /// Appends the value as JSON: numbers and booleans keep their type, everything else is a string.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match *self {
            Val::Str(s) if s.len() <= limits::max_field_bytes() => json::write_str(out, s),
            Val::Str(s) => {
                out.push(b'"');
                bounded(&mut json::JsonEscaper(out), format_args!("{s}"));
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
                bounded(&mut json::JsonEscaper(out), format_args!("{d:?}"));
                out.push(b'"');
            }
            Val::Error(e) => {
                out.push(b'"');
                bounded(&mut json::JsonEscaper(out), format_args!("{e}"));
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

/// [`guarded`] formatting kept within the field size cap (see [`crate::limits`]).
pub(crate) fn bounded(out: &mut dyn fmt::Write, args: fmt::Arguments<'_>) {
    let mut capped = limits::Capped::new(out);
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

/// A span's fields, each value pre-rendered as JSON, in declaration order; a later
/// `Span::record` of the same name replaces the value in place, so keys never repeat.
#[derive(Default, Debug)]
pub(crate) struct SpanFields {
    fields: Vec<(&'static str, Box<[u8]>)>,
}

impl SpanFields {
    pub(crate) fn new(attrs: &Attributes<'_>, redaction: &Redaction) -> Self {
        let mut s = SpanFields::default();
        attrs.record(&mut Visitor(SpanFieldsWriter {
            fields: &mut s,
            redaction,
        }));
        s
    }

    pub(crate) fn record(&mut self, values: &Record<'_>, redaction: &Redaction) {
        values.record(&mut Visitor(SpanFieldsWriter {
            fields: self,
            redaction,
        }));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.fields.iter().map(|(k, v)| (*k, &v[..]))
    }
}

struct SpanFieldsWriter<'a> {
    fields: &'a mut SpanFields,
    redaction: &'a Redaction,
}

impl ValHandler for SpanFieldsWriter<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let mut out = Vec::new();
        if self.redaction.hides_field(field.name()) {
            json::write_str(&mut out, REDACTED);
        } else {
            v.write_json(&mut out);
        }
        let out = out.into_boxed_slice();
        match self
            .fields
            .fields
            .iter_mut()
            .find(|(k, _)| *k == field.name())
        {
            Some(slot) => slot.1 = out,
            None => self.fields.fields.push((field.name(), out)),
        }
    }
}

/// Stores the span's fields in its extensions unless another of our layers already did.
pub(crate) fn on_new_span<S>(
    attrs: &Attributes<'_>,
    id: &tracing::span::Id,
    ctx: &Context<'_, S>,
    redaction: &Redaction,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = ctx.span(id) {
        let mut ext = span.extensions_mut();
        if ext.get_mut::<SpanFields>().is_none() {
            ext.insert(SpanFields::new(attrs, redaction));
        }
    }
}

/// Applies `Span::record`. Idempotent, so several of our layers on one registry may all call it.
pub(crate) fn on_record<S>(
    id: &tracing::span::Id,
    values: &Record<'_>,
    ctx: &Context<'_, S>,
    redaction: &Redaction,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = ctx.span(id) {
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(f) => f.record(values, redaction),
            None => {
                let mut f = SpanFields::default();
                f.record(values, redaction);
                ext.insert(f);
            }
        }
    }
}

/// Separators between metadata entries: compact for files, the seed's `": "` / `", "` for the console.
#[derive(Clone, Copy)]
pub(crate) struct Seps {
    pub(crate) kv: &'static [u8],
    pub(crate) item: &'static [u8],
}

/// Reusable per-thread buffers for capturing one event.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The event's message, raw (each output escapes it its own way).
    pub(crate) message: String,
    /// Metadata entries `"k":v` joined by the item separator, without braces.
    pub(crate) meta: Vec<u8>,
    names: Vec<&'static str>,
    /// The output line being assembled.
    pub(crate) line: Vec<u8>,
}

struct EventHandler<'a> {
    scratch: &'a mut Scratch,
    seps: Seps,
    is_log: bool,
    redaction: &'a Redaction,
}

impl ValHandler for EventHandler<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let name = field.name();
        if name == "message" {
            let m = &mut self.scratch.message;
            match v {
                Val::Str(s) if s.len() <= limits::max_field_bytes() => m.push_str(s),
                Val::Str(s) => bounded(m, format_args!("{s}")),
                Val::Debug(d) => bounded(m, format_args!("{d:?}")),
                Val::Error(e) => bounded(m, format_args!("{e}")),
                other => {
                    let mut b = Vec::new();
                    other.write_json(&mut b);
                    m.push_str(&String::from_utf8_lossy(&b));
                }
            }
            return;
        }
        // The log bridge's bookkeeping fields are already folded into the normalized metadata.
        if self.is_log && name.starts_with("log.") {
            return;
        }
        if self.redaction.hides_field(name) {
            push_entry(self.scratch, self.seps, name, |out| {
                json::write_str(out, REDACTED)
            });
        } else {
            push_entry(self.scratch, self.seps, name, |out| v.write_json(out));
        }
    }
}

fn push_entry(s: &mut Scratch, seps: Seps, name: &'static str, value: impl FnOnce(&mut Vec<u8>)) {
    if s.names.contains(&name) {
        return;
    }
    if !s.meta.is_empty() {
        s.meta.extend_from_slice(seps.item);
    }
    json::write_str(&mut s.meta, name);
    s.meta.extend_from_slice(seps.kv);
    value(&mut s.meta);
    s.names.push(name);
}

/// Fills `scratch.message` and `scratch.meta` for `event`: the event's own fields first, then the
/// fields of each enclosing span from the innermost outwards, skipping names already present
/// (innermost wins). Returns the logger name (the event's target, or the `log` record's target).
pub(crate) fn capture_event<'e, S>(
    event: &'e Event<'e>,
    ctx: &Context<'_, S>,
    seps: Seps,
    scratch: &mut Scratch,
    redaction: &Redaction,
) -> LoggerName<'e>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    scratch.message.clear();
    scratch.meta.clear();
    scratch.names.clear();
    let normalized = event.normalized_metadata();
    let is_log = normalized.is_some();
    event.record(&mut Visitor(EventHandler {
        scratch,
        seps,
        is_log,
        redaction,
    }));
    if let Some(scope) = ctx.event_scope(event) {
        for span in scope {
            let ext = span.extensions();
            if let Some(fields) = ext.get::<SpanFields>() {
                for (name, value) in fields.iter() {
                    push_entry(scratch, seps, name, |out| out.extend_from_slice(value));
                }
            }
        }
    }
    // One event's fields together stay within the record cap; the message is capped on its own.
    if scratch.meta.len() + scratch.message.len() > limits::max_record_bytes() {
        let text = format!("{} of fields", limits::marker(scratch.meta.len()));
        scratch.meta.clear();
        scratch.names.clear();
        push_entry(scratch, seps, "_truncated", |out| {
            json::write_str(out, &text)
        });
    }
    match normalized {
        Some(m) => LoggerName::Owned(m.target().to_owned()),
        None => LoggerName::Static(event.metadata().target()),
    }
}

/// The logger name of an event; `log` records carry a target that does not outlive the event.
pub(crate) enum LoggerName<'a> {
    Static(&'a str),
    Owned(String),
}

impl LoggerName<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            LoggerName::Static(s) => s,
            LoggerName::Owned(s) => s,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers. They are taken out of the thread-local slot for
/// the call, so an event emitted while one is being formatted (from inside a `Debug` impl) simply
/// starts from empty buffers, and during thread teardown fresh ones are used.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = SCRATCH
        .try_with(|s| s.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)).ok())
        .ok()
        .flatten()
        .unwrap_or_default();
    let r = f(&mut scratch);
    // Don't let one huge event pin megabytes per thread forever.
    if scratch.line.capacity() <= 64 * 1024 && scratch.meta.capacity() <= 64 * 1024 {
        let _ = SCRATCH.try_with(|s| {
            if let Ok(mut slot) = s.try_borrow_mut() {
                *slot = scratch;
            }
        });
    }
    r
}
