//! The one binary encoding of visited values, shared by the file path (the writer renders the
//! values into the line, `file::record`) and the action path (the worker turns them into JSON
//! values, [`super::packed`]): both capture on the app's thread into bytes, with no allocation
//! per value, and read the bytes back on another thread of the same process.
//!
//! Each value is `index: u16 | tag: u8 | payload`, in native byte order (the bytes never leave
//! the process): `index` is the field's position in its callsite's field set; text payloads
//! are `len: u32` and the raw UTF-8 bytes (not escaped, already cut at the field cap, marker
//! included); numbers are their 8 or 16 bytes; booleans and hidden values (redaction list) are
//! a tag alone, so a hidden value is never formatted nor copied.

use std::fmt;

use serde_json::Value as Json;

use super::{Val, bounded, float_value};
use crate::redact::REDACTED;

const TEXT: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const I64: u8 = 3;
const U64: u8 = 4;
const F64: u8 = 5;
const I128: u8 = 6;
const U128: u8 = 7;
const HIDDEN: u8 = 8;

/// Where values are encoded: a `Vec<u8>` (the file path's per-thread buffer) or an inline
/// buffer (the action path's channel slot).
pub(crate) trait ValueBuf {
    /// Appends `N` bytes known at compile time (a value's head and fixed-size payload, in one
    /// copy).
    fn put<const N: usize>(&mut self, bytes: [u8; N]);
    /// Appends bytes of any length.
    fn push(&mut self, bytes: &[u8]);
    /// Bytes so far.
    fn len(&self) -> usize;
    /// Overwrites the `u32` at `at` (a text's length, known once it is formatted).
    fn patch_u32(&mut self, at: usize, v: u32);
    /// Makes room for `n` more bytes, where that is worth it.
    fn reserve(&mut self, _n: usize) {}
}

impl ValueBuf for Vec<u8> {
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        self.extend_from_slice(&bytes);
    }
    #[inline(always)]
    fn push(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline(always)]
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn patch_u32(&mut self, at: usize, v: u32) {
        self[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    #[inline(always)]
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
}

/// A value's head followed by its fixed-size payload, `N - 3` bytes of `payload`.
#[inline(always)]
fn head<const N: usize>(index: usize, tag: u8, payload: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    b[..2].copy_from_slice(&(index as u16).to_ne_bytes());
    b[2] = tag;
    b[3..].copy_from_slice(payload);
    b
}

/// Appends a hidden value (its field is on the redaction list).
#[inline(always)]
pub(crate) fn put_hidden(out: &mut impl ValueBuf, index: usize) {
    out.put(head::<3>(index, HIDDEN, &[]));
}

/// Appends a text value as it is (the caller checked it is within the field cap); returns
/// where its bytes start and how many there are.
#[inline(always)]
pub(crate) fn put_str(out: &mut impl ValueBuf, index: usize, s: &str) -> (usize, usize) {
    out.reserve(7 + s.len());
    out.put(head::<7>(index, TEXT, &(s.len() as u32).to_ne_bytes()));
    let at = out.len();
    out.push(s.as_bytes());
    (at, s.len())
}

/// Appends text formatted here, cut at `max` bytes (marker included) and guarded against a
/// panicking `Debug`/`Display`; returns where its bytes start and how many there are.
pub(crate) fn put_text(
    out: &mut impl ValueBuf,
    index: usize,
    args: fmt::Arguments<'_>,
    max: usize,
) -> (usize, usize) {
    out.put(head::<7>(index, TEXT, &[0; 4]));
    let at = out.len();
    bounded(&mut Raw(out), args, max);
    let len = out.len() - at;
    out.patch_u32(at - 4, len as u32);
    (at, len)
}

/// Appends a boolean or number; text kinds (`Str`, `Debug`, `Error`) are for [`put_str`] and
/// [`put_text`] and append nothing here.
#[inline(always)]
pub(crate) fn put_scalar(out: &mut impl ValueBuf, index: usize, v: Val<'_>) {
    match v {
        Val::Bool(b) => out.put(head::<3>(index, if b { TRUE } else { FALSE }, &[])),
        Val::I64(x) => out.put(head::<11>(index, I64, &x.to_ne_bytes())),
        Val::U64(x) => out.put(head::<11>(index, U64, &x.to_ne_bytes())),
        Val::F64(x) => out.put(head::<11>(index, F64, &x.to_ne_bytes())),
        Val::I128(x) => out.put(head::<19>(index, I128, &x.to_ne_bytes())),
        Val::U128(x) => out.put(head::<19>(index, U128, &x.to_ne_bytes())),
        Val::Str(_) | Val::Debug(_) | Val::Error(_) => debug_assert!(false, "text kind"),
    }
}

/// Raw UTF-8 text appended to a [`ValueBuf`] (no escaping: the reader escapes).
struct Raw<'a, B>(&'a mut B);

impl<B: ValueBuf> fmt::Write for Raw<'_, B> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

/// One value read back.
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

impl Value<'_> {
    /// The value as JSON: numbers and booleans keep their type (a 128-bit integer beyond 64
    /// bits, and a non-finite float, as text), a hidden value is [`REDACTED`].
    pub(crate) fn to_json(self) -> Json {
        match self {
            Value::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
            Value::Bool(b) => Json::Bool(b),
            Value::I64(x) => Json::from(x),
            Value::U64(x) => Json::from(x),
            Value::F64(x) => float_value(x),
            Value::I128(x) => {
                i64::try_from(x).map_or_else(|_| Json::from(x.to_string()), Json::from)
            }
            Value::U128(x) => {
                u64::try_from(x).map_or_else(|_| Json::from(x.to_string()), Json::from)
            }
            Value::Hidden => Json::String(REDACTED.to_owned()),
        }
    }
}

/// Splits the first `n` bytes off `b`, if it has them.
pub(crate) fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Some(head)
}

/// Encoded values read back in order, each with its field index; stops at the first value
/// that is cut short.
#[derive(Clone)]
pub(crate) struct Values<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Values<'a> {
    type Item = (usize, Value<'a>);

    #[inline]
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
