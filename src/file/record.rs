//! What the file layer's caller hands to the writer instead of a finished line: the event's raw
//! parts in a compact record, rendered into the JSON line on the writer thread
//! ([`super::render`]). The caller copies and formats, the writer escapes, redacts values,
//! applies the record cap and lays out the line.
//!
//! A record, in native byte order:
//! `secs: i64 | nanos: u32 | flags: u8 | message offset: u32 | message len: u32 |
//! [logger: u32 len, bytes]` and then each visited field in the encoding of
//! [`crate::fields::values`]. The callsite's `&'static Metadata` and the enclosing spans'
//! flattened fields travel beside the bytes (see [`super::handoff::Chunk`]).

use std::sync::Arc;

use tracing::field::Field;
use tracing::{Event, Metadata};

use crate::fields::callsite::{self, Callsite, Role};
use crate::fields::spans::Flat;
use crate::fields::values::{self, Values, take};
use crate::fields::{CaptureSettings, Val, ValHandler, Visitor};

/// One captured event on its way to a slot.
pub(crate) struct EventRecord<'a> {
    pub(crate) meta: &'static Metadata<'static>,
    /// The enclosing spans' fields, if the event is inside a span.
    pub(crate) flat: Option<&'a Arc<Flat>>,
    /// The record.
    pub(crate) record: &'a [u8],
}

/// Flag: a `log` record (its logger name follows the header).
const IS_LOG: u8 = 1;
/// Flag: the message is not one piece of text (the writer assembles it from the values).
const MESSAGE_OTHER: u8 = 2;

/// Bytes of the fixed header: `secs: i64 | nanos: u32 | flags: u8`, then where
/// the message's text is (`offset: u32 | len: u32`, within the record).
const HEADER: usize = 21;

struct Capture<'a> {
    out: &'a mut Vec<u8>,
    callsite: &'a Callsite,
    max: usize,
    /// Where the message's text is in the record, when it is one piece of text.
    message: Option<(usize, usize)>,
    /// Whether the message is anything else (several pieces, a number).
    message_other: bool,
}

impl ValHandler for Capture<'_> {
    // Inlined into each of `Visitor`'s `record_*`, so the value's kind is known there and the
    // `Val` (32 bytes, for the `i128`s) is neither built nor matched at run time.
    #[inline(always)]
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let index = field.index();
        let Some(info) = self.callsite.field(index, field.name()) else {
            return;
        };
        let text = match info.role {
            // Already folded into the normalized metadata of a `log` record.
            Role::LogBookkeeping => return,
            Role::Hidden => return values::put_hidden(self.out, index),
            Role::Message | Role::Plain => match v {
                Val::Str(s) if s.len() <= self.max => values::put_str(self.out, index, s),
                Val::Str(s) => values::put_text(self.out, index, format_args!("{s}"), self.max),
                Val::Debug(d) => values::put_text(self.out, index, format_args!("{d:?}"), self.max),
                Val::Error(e) => values::put_text(self.out, index, format_args!("{e}"), self.max),
                other => {
                    values::put_scalar(self.out, index, other);
                    if info.role == Role::Message {
                        self.message_other = true;
                    }
                    return;
                }
            },
        };
        if info.role == Role::Message {
            if self.message.is_some() {
                self.message_other = true;
            }
            self.message = Some(text);
        }
    }
}

/// Appends the record of `event`, stamped `(secs, nanos)`, to `out` (cleared first).
pub(crate) fn capture(
    out: &mut Vec<u8>,
    event: &Event<'_>,
    now: (i64, u32),
    render: &CaptureSettings,
) {
    out.clear();
    let normalized = crate::fields::log_metadata(event);
    let meta = event.metadata();
    let cs = callsite::get(meta, &render.redaction, normalized.is_some());
    let mut head = [0u8; HEADER];
    head[0..8].copy_from_slice(&now.0.to_ne_bytes());
    head[8..12].copy_from_slice(&now.1.to_ne_bytes());
    out.extend_from_slice(&head);
    if let Some(m) = &normalized {
        // A `log` record's target does not outlive the event: copied.
        out.extend_from_slice(&(m.target().len() as u32).to_ne_bytes());
        out.extend_from_slice(m.target().as_bytes());
    }
    let mut v = Visitor(Capture {
        out,
        callsite: &cs,
        max: render.limits.max_field_bytes(),
        message: None,
        message_other: false,
    });
    event.record(&mut v);
    let (message, other) = (v.0.message, v.0.message_other);
    let mut flags = if normalized.is_some() { IS_LOG } else { 0 };
    if other {
        flags |= MESSAGE_OTHER;
    }
    out[12] = flags;
    let (at, len) = message.unwrap_or((HEADER, 0));
    out[13..17].copy_from_slice(&(at as u32).to_ne_bytes());
    out[17..21].copy_from_slice(&(len as u32).to_ne_bytes());
}

/// A record read back.
pub(crate) struct Decoded<'a> {
    pub(crate) now: (i64, u32),
    /// The `log` record's logger name, raw; `None` for a `tracing` event.
    pub(crate) log_target: Option<&'a [u8]>,
    /// The message's text as captured, when it is one piece of text (or there is none);
    /// `None` when it must be assembled from the values.
    pub(crate) message: Option<&'a [u8]>,
    /// The values, for [`Decoded::values`].
    values: &'a [u8],
}

impl<'a> Decoded<'a> {
    /// The values in visit order, with their field index.
    pub(crate) fn values(&self) -> Values<'a> {
        Values(self.values)
    }
}

fn arr<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
    take(b, N).map(|s| s.try_into().expect("N bytes"))
}

/// Reads the record `bytes` holds whole (its end is where the next one starts).
pub(crate) fn decode(bytes: &[u8]) -> Option<Decoded<'_>> {
    let mut b = bytes;
    let head = take(&mut b, HEADER)?;
    let word = |i: usize| u32::from_ne_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let secs = i64::from_ne_bytes(head[0..8].try_into().expect("8 bytes"));
    let nanos = word(8);
    let flags = head[12];
    let (at, len) = (word(13) as usize, word(17) as usize);
    let message = if flags & MESSAGE_OTHER == 0 {
        Some(bytes.get(at..at + len)?)
    } else {
        None
    };
    let log_target = if flags & IS_LOG != 0 {
        let n = u32::from_ne_bytes(arr(&mut b)?) as usize;
        Some(take(&mut b, n)?)
    } else {
        None
    };
    Some(Decoded {
        now: (secs, nanos),
        log_target,
        message,
        values: b,
    })
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's capture buffer; an event emitted while it is in use (from
/// inside a value's `Debug`) or during thread teardown gets a fresh one.
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    crate::per_thread::with_or_fresh(&BUFFER, |b| {
        let r = f(b);
        // One huge event must not pin its buffer for the thread's life.
        if b.capacity() > 64 << 10 {
            *b = Vec::new();
        }
        r
    })
}
