//! An action event's fields, packed on the app's thread into bytes kept inline in the channel
//! slot, and unpacked into JSON values on the worker.
//!
//! Why: turning each field into a `serde_json::Value` on the caller costs one heap allocation
//! per string field plus one for the list, and the worker frees them on another thread, so the
//! caller's allocator cache never refills and every one of those allocations takes the slow
//! path. Packed, a typical action event (a handful of short fields) allocates nothing on the
//! caller; a larger one allocates one buffer. The price is memory: each slot of the bounded
//! channel is about 200 bytes larger (2 MB more for the default 10 000 slots).
//!
//! Layout, per field: the field's index in its callsite's field set (one byte), a tag (one
//! byte), then the payload: `u32` length + UTF-8 bytes for text, one byte for a bool, eight
//! little-endian bytes for integers and floats, nothing for a redacted value.

use std::fmt;

use serde_json::Value;
use tracing::field::Field;

use super::callsite::Callsite;
use super::{Render, Val, ValHandler, WithCauses, bounded, float_value, is_error_field, to_value};
use crate::redact::REDACTED;

/// Bytes kept inline before spilling to the heap: enough for a typical action event.
const INLINE: usize = 192;

const TEXT: u8 = 0;
const BOOL: u8 = 1;
const I64: u8 = 2;
const U64: u8 = 3;
const F64: u8 = 4;
const HIDDEN: u8 = 5;

/// A byte buffer that stays inline up to [`INLINE`] bytes.
pub(crate) struct Packed {
    inline: [u8; INLINE],
    /// Bytes used in `inline`; above [`INLINE`] once spilled, and then every byte is in `heap`.
    /// One compare against a constant per append decides the fast path, with no second field
    /// to read.
    len: usize,
    heap: Vec<u8>,
}

/// `len` once the bytes have moved to the heap: larger than any append can fit under.
const SPILLED: usize = INLINE + 1;

impl Packed {
    pub(crate) fn new() -> Self {
        Packed {
            inline: [0; INLINE],
            len: 0,
            heap: Vec::new(),
        }
    }

    /// Appends `N` bytes known at compile time: a value's index, tag and fixed-size payload in
    /// one copy (the fast path is a compare and a few stores, no `memcpy` call).
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        if self.len + N <= INLINE {
            self.inline[self.len..self.len + N].copy_from_slice(&bytes);
            self.len += N;
        } else {
            self.spill(&bytes);
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() <= INLINE {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            self.spill(bytes);
        }
    }

    /// Appends to the heap, moving the inline bytes there first if they are still inline.
    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        if self.len != SPILLED {
            self.heap.reserve(self.len * 2 + bytes.len());
            self.heap.extend_from_slice(&self.inline[..self.len]);
            self.len = SPILLED;
        }
        self.heap.extend_from_slice(bytes);
    }

    fn bytes(&self) -> &[u8] {
        if self.len == SPILLED {
            &self.heap
        } else {
            &self.inline[..self.len]
        }
    }

    fn current_len(&self) -> usize {
        self.bytes().len()
    }

    /// Overwrites four bytes at `at` (a text length written after its text).
    fn patch_u32(&mut self, at: usize, v: u32) {
        let b = v.to_le_bytes();
        if self.len == SPILLED {
            self.heap[at..at + 4].copy_from_slice(&b);
        } else {
            self.inline[at..at + 4].copy_from_slice(&b);
        }
    }
}

/// `fmt::Write` straight into a [`Packed`].
struct Append<'a>(&'a mut Packed);

impl fmt::Write for Append<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

/// Packs visited fields, redacting secret-looking names and cutting text at the size cap.
pub(crate) struct PackWriter<'a> {
    pub(crate) out: &'a mut Packed,
    pub(crate) render: &'a Render,
    /// The callsite's cached redaction verdicts (one lookup per event, not one per field).
    pub(crate) callsite: &'a Callsite,
}

impl PackWriter<'_> {
    fn text(&mut self, index: u8, args: fmt::Arguments<'_>, capped: bool) {
        self.out.put([index, TEXT]);
        let at = self.out.current_len();
        self.out.put([0; 4]);
        if capped {
            bounded(
                &mut Append(self.out),
                args,
                self.render.limits.max_field_bytes(),
            );
        } else {
            let _ = fmt::write(&mut Append(self.out), args);
        }
        let n = self.out.current_len() - at - 4;
        self.out.patch_u32(at, n as u32);
    }
}

impl ValHandler for PackWriter<'_> {
    // Inlined into each of `Visitor`'s `record_*`, as the file capture's is: the value's kind
    // is known there, so no `Val` is built and matched at run time.
    #[inline(always)]
    fn field(&mut self, field: &Field, v: Val<'_>) {
        // Field sets hold at most 32 fields: the index fits a byte.
        let index = field.index() as u8;
        if self.callsite.hides(field, &self.render.redaction) {
            self.out.put([index, HIDDEN]);
            return;
        }
        let eight =
            |tag: u8, b: [u8; 8]| [index, tag, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        match v {
            Val::Str(s) if s.len() <= self.render.limits.max_field_bytes() => {
                let n = (s.len() as u32).to_le_bytes();
                self.out.put([index, TEXT, n[0], n[1], n[2], n[3]]);
                self.out.push(s.as_bytes());
            }
            Val::Str(s) => self.text(index, format_args!("{s}"), true),
            Val::Bool(b) => self.out.put([index, BOOL, u8::from(b)]),
            Val::I64(i) => self.out.put(eight(I64, i.to_le_bytes())),
            Val::U64(u) => self.out.put(eight(U64, u.to_le_bytes())),
            Val::F64(f) => self.out.put(eight(F64, f.to_bits().to_le_bytes())),
            // An error field keeps its causes (`WithCauses`); the name is looked at only for
            // values that are formatted anyway.
            Val::Debug(_) | Val::Error(_) if is_error_field(field.name()) => {
                let max = self.render.limits.max_field_bytes();
                self.text(index, format_args!("{}", WithCauses::new(&v, max)), true)
            }
            Val::Debug(d) => self.text(index, format_args!("{d:?}"), true),
            Val::Error(e) => self.text(index, format_args!("{e}"), true),
            // Rare: as `to_value` renders them (a number when it fits, else text).
            other => match to_value(other, &self.render.limits) {
                Value::Number(n) if n.is_i64() => {
                    self.out
                        .put(eight(I64, n.as_i64().unwrap_or_default().to_le_bytes()));
                }
                Value::Number(n) => {
                    self.out
                        .put(eight(U64, n.as_u64().unwrap_or_default().to_le_bytes()));
                }
                v => self.text(
                    index,
                    format_args!("{}", v.as_str().unwrap_or_default()),
                    false,
                ),
            },
        }
    }
}

/// The packed fields of one event, with the callsite that names them.
pub(crate) struct PackedFields {
    pub(crate) meta: &'static tracing::Metadata<'static>,
    pub(crate) packed: Packed,
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Some(head)
}

fn eight(b: &mut &[u8]) -> Option<[u8; 8]> {
    take(b, 8)?.try_into().ok()
}

impl PackedFields {
    /// The fields as names and JSON values, in recording order.
    pub(crate) fn unpack(&self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        let mut b = self.packed.bytes();
        while let Some(field) = self.next(&mut b) {
            out.push(field);
        }
        out
    }

    fn next(&self, b: &mut &[u8]) -> Option<(&'static str, Value)> {
        let head = take(b, 2)?;
        let name = self.meta.fields().iter().nth(usize::from(head[0]))?.name();
        let v = match head[1] {
            TEXT => {
                let n = u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize;
                Value::String(String::from_utf8_lossy(take(b, n)?).into_owned())
            }
            BOOL => Value::Bool(take(b, 1)?[0] != 0),
            I64 => Value::from(i64::from_le_bytes(eight(b)?)),
            U64 => Value::from(u64::from_le_bytes(eight(b)?)),
            F64 => float_value(f64::from_bits(u64::from_le_bytes(eight(b)?))),
            HIDDEN => Value::String(REDACTED.to_owned()),
            _ => return None,
        };
        Some((name, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Visitor;
    use tracing::Subscriber;

    /// Packs the one event `f` emits, through a subscriber that keeps it.
    fn pack_event(f: impl FnOnce()) -> Vec<(&'static str, Value)> {
        struct Keep(std::sync::Mutex<Vec<(&'static str, Value)>>);
        impl Subscriber for Keep {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, e: &tracing::Event<'_>) {
                let mut packed = Packed::new();
                let render = Render::default();
                let cs = crate::fields::callsite::get(e.metadata(), &render.redaction, false);
                e.record(&mut Visitor(PackWriter {
                    out: &mut packed,
                    render: &render,
                    callsite: &cs,
                }));
                let fields = PackedFields {
                    meta: e.metadata(),
                    packed,
                };
                *self.0.lock().unwrap() = fields.unpack();
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let keep = std::sync::Arc::new(Keep(Default::default()));
        tracing::subscriber::with_default(keep.clone(), f);
        std::mem::take(&mut *keep.0.lock().unwrap())
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        let long = "x".repeat(INLINE * 2);
        let got = pack_event(|| {
            tracing::info!(
                action_type = "order",
                ok = true,
                n = -3i64,
                u = u64::MAX,
                f = 0.25,
                nan = f64::NAN,
                big = i128::MAX,
                password = "hunter2",
                dbg = ?vec![1, 2],
                long = long.as_str(),
                "placed {}",
                7
            )
        });
        let v = |k: &str| got.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(v("action_type"), "order");
        assert_eq!(v("ok"), true);
        assert_eq!(v("n"), -3);
        assert_eq!(v("u"), u64::MAX);
        assert_eq!(v("f"), 0.25);
        assert_eq!(v("nan"), "NaN");
        assert_eq!(v("big"), i128::MAX.to_string());
        assert_eq!(v("password"), REDACTED);
        assert_eq!(v("dbg"), "[1, 2]");
        assert_eq!(v("long"), long.as_str());
        assert_eq!(v("message"), "placed 7");
    }

    #[test]
    fn fixed_size_values_spill_past_the_inline_bytes() {
        // 20 numbers of 10 bytes each: the appends cross `INLINE` (192) part-way through one.
        let got = pack_event(|| {
            tracing::info!(
                a0 = 0u64,
                a1 = 1u64,
                a2 = 2u64,
                a3 = 3u64,
                a4 = 4u64,
                a5 = 5u64,
                a6 = 6u64,
                a7 = 7u64,
                a8 = 8u64,
                a9 = 9u64,
                b0 = 10i64,
                b1 = 11i64,
                b2 = 12i64,
                b3 = 13i64,
                b4 = 14i64,
                b5 = 15i64,
                b6 = 16i64,
                b7 = 17i64,
                b8 = 18i64,
                b9 = 19i64,
                ok = true,
                s = "end"
            )
        });
        assert_eq!(got.len(), 22);
        for (i, (_, v)) in got.iter().take(20).enumerate() {
            assert_eq!(*v, i as u64);
        }
        assert_eq!(got[20].1, true);
        assert_eq!(got[21].1, "end");
    }
}
