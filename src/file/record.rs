//! What the file layer's caller hands to the writer instead of a finished line: the event's raw
//! parts in a compact record, rendered into the JSON line on the writer thread
//! ([`super::render`]). The caller copies and formats, the writer escapes, redacts values,
//! applies the record cap and lays out the line.
//!
//! A record, in native byte order:
//! `secs: i64 | nanos: u32 | flags: u8 | message offset: u32 | message len: u32 |
//! [logger: u32 len, bytes]` and then each
//! visited field as `index: u16 | tag: u8 | payload`. Text payloads (`&str` values, and
//! `Debug`/`Display` output, formatted once here) are `u32 len, bytes`, raw (not escaped) and
//! already cut at the field cap, marker included, exactly as the line would hold them before
//! escaping; numbers and booleans are copied as they are. A hidden field (redaction list) is a
//! tag alone: its value is never formatted nor copied. The callsite's `&'static Metadata` and
//! the enclosing spans' flattened fields travel beside the bytes (see [`super::slots::Chunk`]).

use std::fmt;
use std::sync::Arc;

use tracing::field::Field;
use tracing::{Event, Metadata};

use crate::fields::callsite::{self, Callsite, Role};
use crate::fields::flat::Flat;
use crate::fields::{Render, Val, ValHandler, Visitor, bounded};

/// One captured event on its way to a slot.
pub(crate) struct Captured<'a> {
    pub(crate) meta: &'static Metadata<'static>,
    /// The enclosing spans' fields, if the event is inside a span.
    pub(crate) flat: Option<&'a Arc<Flat>>,
    /// The record.
    pub(crate) record: &'a [u8],
}

const TEXT: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const I64: u8 = 3;
const U64: u8 = 4;
const F64: u8 = 5;
const I128: u8 = 6;
const U128: u8 = 7;
const HIDDEN: u8 = 8;

/// Flag: a `log` record (its logger name follows the header).
const IS_LOG: u8 = 1;
/// Flag: the message is not one piece of text (the writer assembles it from the values).
const MESSAGE_OTHER: u8 = 2;

/// Bytes of the fixed header: `secs: i64 | nanos: u32 | flags: u8`, then where
/// the message's text is (`offset: u32 | len: u32`, within the record).
const HEADER: usize = 21;

/// Appends raw UTF-8 text to a byte buffer (no escaping: the writer escapes).
struct Raw<'a>(&'a mut Vec<u8>);

impl fmt::Write for Raw<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct Capture<'a> {
    out: &'a mut Vec<u8>,
    callsite: &'a Callsite,
    max: usize,
    /// Where the message's text is in the record, when it is one piece of text.
    message: Option<(usize, usize)>,
    /// Whether the message is anything else (several pieces, a number).
    message_other: bool,
}

impl Capture<'_> {
    /// A value's index and tag followed by `N - 3` payload bytes, in one append.
    #[inline(always)]
    fn put<const N: usize>(&mut self, index: usize, tag: u8, payload: &[u8]) {
        let mut b = [0u8; N];
        b[..2].copy_from_slice(&(index as u16).to_ne_bytes());
        b[2] = tag;
        b[3..].copy_from_slice(payload);
        self.out.extend_from_slice(&b);
    }

    /// A text value; returns where its bytes start and how many there are.
    fn str(&mut self, index: usize, s: &str) -> (usize, usize) {
        self.out.reserve(7 + s.len());
        self.put::<7>(index, TEXT, &(s.len() as u32).to_ne_bytes());
        let at = self.out.len();
        self.out.extend_from_slice(s.as_bytes());
        (at, s.len())
    }

    /// Text formatted here (raw, cut at the field cap); returns where it is.
    fn text(&mut self, index: usize, args: fmt::Arguments<'_>) -> (usize, usize) {
        self.put::<7>(index, TEXT, &[0; 4]);
        let at = self.out.len();
        bounded(&mut Raw(self.out), args, self.max);
        let len = self.out.len() - at;
        self.out[at - 4..at].copy_from_slice(&(len as u32).to_ne_bytes());
        (at, len)
    }
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
            Role::Hidden => return self.put::<3>(index, HIDDEN, &[]),
            Role::Message | Role::Plain => match v {
                Val::Str(s) if s.len() <= self.max => self.str(index, s),
                Val::Str(s) => self.text(index, format_args!("{s}")),
                Val::Debug(d) => self.text(index, format_args!("{d:?}")),
                Val::Error(e) => self.text(index, format_args!("{e}")),
                other => {
                    match other {
                        Val::Bool(b) => self.put::<3>(index, if b { TRUE } else { FALSE }, &[]),
                        Val::I64(x) => self.put::<11>(index, I64, &x.to_ne_bytes()),
                        Val::U64(x) => self.put::<11>(index, U64, &x.to_ne_bytes()),
                        Val::F64(x) => self.put::<11>(index, F64, &x.to_ne_bytes()),
                        Val::I128(x) => self.put::<19>(index, I128, &x.to_ne_bytes()),
                        Val::U128(x) => self.put::<19>(index, U128, &x.to_ne_bytes()),
                        _ => unreachable!("text handled above"),
                    }
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
pub(crate) fn capture(out: &mut Vec<u8>, event: &Event<'_>, now: (i64, u32), render: &Render) {
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

/// One captured value.
#[derive(Clone, Copy)]
pub(crate) enum Value<'a> {
    /// Raw text, already capped.
    Text(&'a [u8]),
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    I128(i128),
    U128(u128),
    /// Hidden by the redaction list.
    Hidden,
}

/// A record read back.
pub(crate) struct Decoded<'a> {
    pub(crate) now: (i64, u32),
    /// The `log` record's logger name, raw; `None` for a `tracing` event.
    pub(crate) log_target: Option<&'a [u8]>,
    /// The message's text as captured, when it is one piece of text (or there is none);
    /// `None` when it must be assembled from the values.
    pub(crate) message: Option<&'a [u8]>,
    /// The values, for [`Values`].
    values: &'a [u8],
}

impl<'a> Decoded<'a> {
    /// The values in visit order, with their field index.
    pub(crate) fn values(&self) -> Values<'a> {
        Values(self.values)
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Some(head)
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

/// The values of a [`Decoded`] record.
#[derive(Clone)]
pub(crate) struct Values<'a>(&'a [u8]);

impl<'a> Iterator for Values<'a> {
    type Item = (usize, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        let (&[i0, i1, tag], rest) = b.split_first_chunk::<3>()?;
        let index = u16::from_ne_bytes([i0, i1]) as usize;
        let (v, rest) = match tag {
            TEXT => {
                let (n, rest) = rest.split_first_chunk::<4>()?;
                let n = u32::from_ne_bytes(*n) as usize;
                if rest.len() < n {
                    return None;
                }
                let (t, rest) = rest.split_at(n);
                (Value::Text(t), rest)
            }
            FALSE => (Value::Bool(false), rest),
            TRUE => (Value::Bool(true), rest),
            I64 | U64 | F64 => {
                let (x, rest) = rest.split_first_chunk::<8>()?;
                let v = match tag {
                    I64 => Value::I64(i64::from_ne_bytes(*x)),
                    U64 => Value::U64(u64::from_ne_bytes(*x)),
                    _ => Value::F64(f64::from_ne_bytes(*x)),
                };
                (v, rest)
            }
            I128 | U128 => {
                let (x, rest) = rest.split_first_chunk::<16>()?;
                let v = match tag {
                    I128 => Value::I128(i128::from_ne_bytes(*x)),
                    _ => Value::U128(u128::from_ne_bytes(*x)),
                };
                (v, rest)
            }
            _ => (Value::Hidden, rest),
        };
        self.0 = rest;
        Some((index, v))
    }
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
