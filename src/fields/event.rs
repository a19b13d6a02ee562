//! The event capture of the line outputs (day files, console, a job run's `logs`): the
//! event's message and its fields plus those of every enclosing span, rendered into reusable
//! per-thread buffers; each output then lays them out as its own line ([`capture`]).

use std::cell::RefCell;
use std::rc::Rc;

use tracing::field::Field;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::callsite::{self, Callsite, Role};
use super::spans::SpanTracking;
use super::{CaptureSettings, Val, ValHandler, Visitor, bounded, is_error_field};
use crate::format::{Seps, json};
use crate::limits;
use crate::redact::REDACTED;
use crate::trace::TraceContext;

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
    /// The event's logger name as a JSON string, when it is the callsite's (cached) target.
    pub(crate) logger_json: Option<Rc<Callsite>>,
    /// The trace context of the span the event is in.
    pub(crate) trace: Option<TraceContext>,
}

struct EventHandler<'a> {
    scratch: &'a mut Scratch,
    seps: Seps,
    render: &'a CaptureSettings,
    callsite: &'a Callsite,
}

impl ValHandler for EventHandler<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let name = field.name();
        let limits = &self.render.limits;
        let max = limits.max_field_bytes();
        let Some(info) = self.callsite.field(field.index(), name) else {
            return;
        };
        if info.role == Role::Message {
            let m = &mut self.scratch.message;
            match v {
                Val::Str(s) if s.len() <= max => m.push_str(s),
                Val::Str(s) => bounded(m, format_args!("{s}"), max),
                Val::Debug(d) => bounded(m, format_args!("{d:?}"), max),
                Val::Error(e) => bounded(m, format_args!("{e}"), max),
                other => {
                    let mut b = Vec::new();
                    other.write_json(&mut b, limits);
                    m.push_str(&String::from_utf8_lossy(&b));
                }
            }
            return;
        }
        let redaction = &self.render.redaction;
        match info.role {
            // The log bridge's bookkeeping fields are already folded into the normalized metadata.
            Role::LogBookkeeping | Role::Message => {}
            Role::Hidden => push_keyed(self.scratch, self.seps, name, &info.key, |out| {
                json::write_str(out, REDACTED)
            }),
            Role::Plain => push_keyed(self.scratch, self.seps, name, &info.key, |out| {
                let from = out.len();
                v.write_json(out, limits);
                // Numbers and booleans cannot hold a URL; a string holds `://` after escaping
                // exactly when it did before (escapes contain neither `:` nor `/`).
                let scrub = match v {
                    // A byte search (word at a time) first: most strings have no ':' at all.
                    Val::Str(s) => json::contains_byte(s.as_bytes(), b':') && s.contains("://"),
                    Val::Debug(_) | Val::Error(_) => true,
                    _ => false,
                };
                if scrub {
                    redaction.scrub_tail(out, from);
                }
            }),
        }
    }
}

/// Takes the first visible error field's text as the message.
struct ErrorAsMessage<'a> {
    message: &'a mut String,
    render: &'a CaptureSettings,
    callsite: &'a Callsite,
}

impl ValHandler for ErrorAsMessage<'_> {
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let visible = self
            .callsite
            .field(field.index(), field.name())
            .is_some_and(|f| f.role == Role::Plain);
        if !self.message.is_empty() || !visible || !is_error_field(field.name()) {
            return;
        }
        let max = self.render.limits.max_field_bytes();
        match v {
            Val::Str(s) => bounded(self.message, format_args!("{s}"), max),
            Val::Debug(d) => bounded(self.message, format_args!("{d:?}"), max),
            Val::Error(e) => bounded(self.message, format_args!("{e}"), max),
            _ => {}
        }
    }
}

fn push_entry(s: &mut Scratch, seps: Seps, name: &'static str, value: impl FnOnce(&mut Vec<u8>)) {
    if s.names.contains(&name) {
        return;
    }
    if !s.meta.is_empty() {
        put_sep(&mut s.meta, seps.item);
    }
    json::write_str(&mut s.meta, name);
    put_sep(&mut s.meta, seps.kv);
    value(&mut s.meta);
    s.names.push(name);
}

/// Appends a separator: the file's are one byte, which a `push` writes without the `memcpy`
/// call a slice of unknown length costs.
#[inline(always)]
fn put_sep(out: &mut Vec<u8>, sep: &[u8]) {
    match sep {
        [b] => out.push(*b),
        _ => out.extend_from_slice(sep),
    }
}

/// [`push_entry`] with the key already quoted and escaped (from the callsite cache).
fn push_keyed(
    s: &mut Scratch,
    seps: Seps,
    name: &'static str,
    key: &[u8],
    value: impl FnOnce(&mut Vec<u8>),
) {
    if s.names.contains(&name) {
        return;
    }
    if !s.meta.is_empty() {
        put_sep(&mut s.meta, seps.item);
    }
    s.meta.extend_from_slice(key);
    put_sep(&mut s.meta, seps.kv);
    value(&mut s.meta);
    s.names.push(name);
}

/// Fills `scratch.message` and `scratch.meta` for `event`: the event's own fields first, then the
/// fields of each enclosing span from the innermost outwards, skipping names already present
/// (innermost wins). Returns the logger name (the event's target, or the `log` record's target).
fn capture_fields<'e, S>(
    event: &'e Event<'e>,
    ctx: &Context<'_, S>,
    seps: Seps,
    scratch: &mut Scratch,
    spans: &SpanTracking,
) -> LoggerName<'e>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let render = &spans.settings;
    scratch.message.clear();
    scratch.meta.clear();
    scratch.names.clear();
    let normalized = crate::fields::log_metadata(event);
    let is_log = normalized.is_some();
    let cs = callsite::get(event.metadata(), &render.redaction, is_log);
    event.record(&mut Visitor(EventHandler {
        scratch,
        seps,
        render,
        callsite: &cs,
    }));
    if scratch.message.is_empty() && cs.error_field {
        // No message (`#[instrument(err)]` emits only `error = %e`): the error's text says
        // what happened, as in the files.
        event.record(&mut Visitor(ErrorAsMessage {
            message: &mut scratch.message,
            render,
            callsite: &cs,
        }));
    }
    scratch.logger_json = (!is_log).then_some(cs);
    render.redaction.scrub_text(&mut scratch.message);
    // The enclosing spans' fields, flattened once per span (no walk of the scope), found
    // through the layer's own stack of entered spans (its `on_enter` / `on_exit` feed it).
    spans.with_event_flat(event, ctx, |f| {
        scratch.trace = f.and_then(|f| f.trace()).copied();
        for (name, key, value) in f.iter().flat_map(|f| f.iter()) {
            push_keyed(scratch, seps, name, key, |out| out.extend_from_slice(value));
        }
    });
    // One event's fields together stay within the record cap; the message is capped on its own.
    if scratch.meta.len() + scratch.message.len() > render.limits.max_record_bytes() {
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

/// Runs `f` with this thread's scratch buffers. They stay borrowed for the call, so an event
/// emitted while one is being formatted (from inside a `Debug` impl) simply starts from empty
/// buffers, and during thread teardown fresh ones are used.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    crate::per_thread::with_or_fresh(&SCRATCH, |s| {
        let r = f(s);
        // Don't let one huge event pin megabytes per thread forever.
        if s.line.capacity() > 64 * 1024 || s.meta.capacity() > 64 * 1024 {
            *s = Scratch::default();
        }
        r
    })
}

/// The shared path of the line outputs written on the caller's thread (console, a job run's
/// logs): captures `event` under the layer's settings into this thread's buffers (message,
/// metadata with `seps`, an empty `line`), its spans' fields found through the layer's
/// [`SpanTracking`], then lets `f` lay out the line from them and the logger name.
pub(crate) fn capture<S, R>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
    spans: &SpanTracking,
    seps: Seps,
    f: impl FnOnce(&mut Scratch, &str) -> R,
) -> R
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    with_scratch(|s| {
        let logger = capture_fields(event, ctx, seps, s, spans);
        s.line.clear();
        f(s, logger.as_str())
    })
}
