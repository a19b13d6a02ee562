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
//! The values are in the encoding of [`super::values`], as the file path's are.

use serde_json::Value;
use tracing::field::Field;

use super::callsite::Callsite;
use super::values::{self, ValueBuf, Values};
use super::{CaptureSettings, Val, ValHandler, WithCauses, is_error_field};

/// Bytes kept inline before spilling to the heap: enough for a typical action event.
const INLINE: usize = 192;

/// A byte buffer that stays inline up to [`INLINE`] bytes.
#[derive(Clone)]
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

    fn bytes(&self) -> &[u8] {
        if self.len == SPILLED {
            &self.heap
        } else {
            &self.inline[..self.len]
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
}

impl ValueBuf for Packed {
    /// The fast path is a compare and a few stores, no `memcpy` call.
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

    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn patch_u32(&mut self, at: usize, v: u32) {
        let b = v.to_ne_bytes();
        if self.len == SPILLED {
            self.heap[at..at + 4].copy_from_slice(&b);
        } else {
            self.inline[at..at + 4].copy_from_slice(&b);
        }
    }
}

/// Packs visited fields, redacting secret-looking names and cutting text at the size cap.
pub(crate) struct PackWriter<'a> {
    pub(crate) out: &'a mut Packed,
    pub(crate) render: &'a CaptureSettings,
    /// The callsite's cached redaction verdicts (one lookup per event, not one per field).
    pub(crate) callsite: &'a Callsite,
}

impl ValHandler for PackWriter<'_> {
    // Inlined into each of `Visitor`'s `record_*`, as the file capture's is: the value's kind
    // is known there, so no `Val` is built and matched at run time.
    #[inline(always)]
    fn field(&mut self, field: &Field, v: Val<'_>) {
        let index = field.index();
        let out = &mut *self.out;
        if self.callsite.hides(field, &self.render.redaction) {
            return values::put_hidden(out, index);
        }
        let max = self.render.limits.max_field_bytes();
        match v {
            Val::Str(s) if s.len() <= max => {
                values::put_str(out, index, s);
            }
            Val::Str(s) => {
                values::put_text(out, index, format_args!("{s}"), max);
            }
            // An error field keeps its causes (`WithCauses`); the name is looked at only for
            // values that are formatted anyway.
            Val::Debug(_) | Val::Error(_) if is_error_field(field.name()) => {
                values::put_text(
                    out,
                    index,
                    format_args!("{}", WithCauses::new(&v, max)),
                    max,
                );
            }
            Val::Debug(d) => {
                values::put_text(out, index, format_args!("{d:?}"), max);
            }
            Val::Error(e) => {
                values::put_text(out, index, format_args!("{e}"), max);
            }
            other => values::put_scalar(out, index, other),
        }
    }
}

/// The packed fields of one event, with the callsite that names them.
#[derive(Clone)]
pub(crate) struct PackedFields {
    pub(crate) meta: &'static tracing::Metadata<'static>,
    pub(crate) packed: Packed,
}

impl PackedFields {
    /// The fields as names and JSON values, in recording order.
    pub(crate) fn unpack(&self) -> Vec<(&'static str, Value)> {
        let fields = self.meta.fields();
        Values(self.packed.bytes())
            .map_while(|(i, v)| Some((fields.iter().nth(i)?.name(), v.to_json())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Visitor;
    use crate::redact::REDACTED;
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
                let render = CaptureSettings::default();
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
