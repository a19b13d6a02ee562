//! The day file's line, in its fixed key order, laid out here and nowhere else:
//!
//! `{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"INFO","message":"…","logger":"…","metadata":{…}}`
//! and a newline; inside a span with a trace context, `"trace_id":"<32 hex>","span_id":"<16 hex>"`
//! between `logger` and `metadata`.
//!
//! The writer's renderer (`file::render`) assembles each line from these pieces: [`write_start`]
//! (the key and timestamp, from a cache of one second), a callsite's [`head`] (level, message
//! key) and [`logger_key`] kept per callsite, the trace ids and the metadata's key
//! ([`write_metadata_key`]), each metadata entry behind its [`entry_key`], and
//! [`close_metadata`]. [`write_line`] writes a whole line from its parts for the writer's own
//! lines (the drop announcements).

use super::json;
use super::time::{self, Stamp, stamp_unix};
use crate::clock::Timezone;
use crate::limits;
use crate::trace::TraceContext;

/// What a line starts with.
const LINE_START: &[u8; 14] = b"{\"timestamp\":\"";
/// Bytes of [`LINE_START`] and the timestamp `YYYY-MM-DDTHH:MM:SS.mmmmmm+HH:MM`.
const START_LEN: usize = LINE_START.len() + time::RFC3339_LEN;
/// Where the microseconds are in those bytes.
const MICROS_AT: usize = LINE_START.len() + time::MICROS_AT;

/// The start of a line for one second, `{"timestamp":"` and the timestamp with its microseconds
/// zeroed: the cache [`write_start`] keeps.
#[derive(Clone, Copy)]
pub(crate) struct LineStart {
    unix_secs: i64,
    tz: Timezone,
    bytes: [u8; START_LEN],
}

/// Appends `{"timestamp":"` and the timestamp of `now` ([`Stamp::rfc3339`]) through a cache of one second owned by the
/// caller (the file writer's, which stamps every line of every thread): within a second already
/// seen, one fixed-size append of the kept bytes and the six digits of micros written over
/// them, with no thread-local, no calendar and no copy of the cached second.
#[inline(always)]
pub(crate) fn write_start(
    cache: &mut Option<LineStart>,
    now: (i64, u32),
    tz: Timezone,
    out: &mut Vec<u8>,
) {
    let (start, micros) = match cache {
        Some(c) if c.unix_secs == now.0 && c.tz == tz => (&*c, (now.1 / 1000).min(999_999)),
        _ => {
            let (start, micros) = new_start(now, tz);
            (&*cache.insert(start), micros)
        }
    };
    let at = out.len();
    out.extend_from_slice(&start.bytes);
    out[at + MICROS_AT..at + MICROS_AT + 6].copy_from_slice(&time::micros_digits(micros));
}

/// The start of a line in a second not seen yet, and the micros of `now`.
#[cold]
#[inline(never)]
fn new_start(now: (i64, u32), tz: Timezone) -> (LineStart, u32) {
    let st = stamp_unix(now, tz);
    let mut bytes = [0u8; START_LEN];
    bytes[..LINE_START.len()].copy_from_slice(LINE_START);
    let second = Stamp {
        second: st.second,
        micros: 0,
    };
    bytes[LINE_START.len()..].copy_from_slice(&second.rfc3339());
    let start = LineStart {
        unix_secs: st.second.unix_secs,
        tz: st.second.tz,
        bytes,
    };
    (start, st.micros)
}

/// What follows the timestamp up to the message's text: `","level":"INFO","message":"`
/// (`level` as [`super::level_name`] gives it). The message's escaped text and its closing
/// quote come next.
pub(crate) fn head(level: &str) -> Vec<u8> {
    let mut head = b"\",\"level\":\"".to_vec();
    head.extend_from_slice(level.as_bytes());
    head.extend_from_slice(b"\",\"message\":\"");
    head
}

/// What follows the message, for a logger name already a JSON string: `,"logger":"target"`
/// ([`write_metadata_key`] comes next).
pub(crate) fn logger_key(logger_json: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + logger_json.len());
    write_logger_key(&mut key, logger_json);
    key
}

fn write_logger_key(out: &mut Vec<u8>, logger_json: &[u8]) {
    out.extend_from_slice(b",\"logger\":");
    out.extend_from_slice(logger_json);
}

/// [`logger_key`] appended for a raw logger name (a `log` record's own target).
pub(crate) fn write_raw_logger_key(out: &mut Vec<u8>, logger: &[u8]) {
    out.extend_from_slice(b",\"logger\":\"");
    json::write_utf8_body(out, logger);
    out.push(b'"');
}

/// Bytes of [`trace_keys`]: the two keys and quotes, 32 and 16 hex digits.
pub(crate) const TRACE_KEYS_LEN: usize = 75;

/// A span's trace context as the line shows it, `,"trace_id":"<32 hex>","span_id":"<16 hex>"`:
/// made once per span and kept with its flattened fields, so a line copies it whole.
pub(crate) type TraceKeys = [u8; TRACE_KEYS_LEN];

/// The [`TraceKeys`] of `t`.
pub(crate) fn trace_keys(t: &TraceContext) -> TraceKeys {
    let mut v = Vec::with_capacity(TRACE_KEYS_LEN);
    v.extend_from_slice(b",\"trace_id\":\"");
    crate::trace::write_hex(&mut v, &t.trace_id);
    v.extend_from_slice(b"\",\"span_id\":\"");
    crate::trace::write_hex(&mut v, &t.span_id);
    v.push(b'"');
    v.try_into().expect("TRACE_KEYS_LEN bytes")
}

/// What follows the logger up to the metadata's entries: the trace ids of the span the event
/// is in, if it has them, then `,"metadata":` (the `{` comes with [`close_metadata`]).
#[inline(always)]
pub(crate) fn write_metadata_key(out: &mut Vec<u8>, trace: Option<&TraceKeys>) {
    if let Some(t) = trace {
        out.extend_from_slice(t);
    }
    out.extend_from_slice(b",\"metadata\":");
}

/// A metadata entry's key as it precedes the value, for a key already a JSON string:
/// `,"name":`. Every entry is written with its leading comma, and [`close_metadata`] turns the
/// first one's comma into the metadata's `{`: one copy per entry, no "first?" test.
pub(crate) fn entry_key(key_json: &[u8]) -> Vec<u8> {
    let mut frag = Vec::with_capacity(key_json.len() + 2);
    frag.push(b',');
    frag.extend_from_slice(key_json);
    frag.push(b':');
    frag
}

/// Ends the line whose metadata entries (each behind its [`entry_key`]) start at `start`: the
/// first comma becomes `{`, then `}}` and the newline. One event's fields together stay within
/// the record cap `max_record_bytes` (the message, of `message_len` bytes, counts with them and
/// is capped on its own): past it the entries are replaced by one `_truncated` entry saying how
/// much was cut.
#[inline(always)]
pub(crate) fn close_metadata(
    out: &mut Vec<u8>,
    start: usize,
    message_len: usize,
    max_record_bytes: usize,
) {
    let meta_len = (out.len() - start).saturating_sub(1);
    if meta_len + message_len > max_record_bytes {
        truncate_metadata(out, start, meta_len);
    } else if out.len() == start {
        out.push(b'{');
    } else {
        out[start] = b'{';
    }
    out.extend_from_slice(b"}}\n");
}

/// Replaces the metadata's entries from `start` (`meta_len` bytes) by the `_truncated` entry.
#[cold]
fn truncate_metadata(out: &mut Vec<u8>, start: usize, meta_len: usize) {
    out.truncate(start);
    let text = format!("{} of fields", limits::marker(meta_len));
    out.push(b'{');
    json::write_str(out, "_truncated");
    out.push(b':');
    json::write_str(out, &text);
}

/// Appends one complete line of the writer's own, stamped `now`: `meta` holds the metadata's
/// entries as JSON, `"key":value` joined by commas.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    now: (i64, u32),
    tz: Timezone,
    level: &str,
    message: &str,
    logger: &str,
    meta: &[u8],
) {
    write_start(&mut None, now, tz, out);
    out.extend_from_slice(&head(level));
    json::write_str_body(out, message);
    out.push(b'"');
    let mut logger_json = Vec::new();
    json::write_str(&mut logger_json, logger);
    write_logger_key(out, &logger_json);
    write_metadata_key(out, None);
    let start = out.len();
    if !meta.is_empty() {
        out.push(b',');
        out.extend_from_slice(meta);
    }
    close_metadata(out, start, 0, usize::MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached line start is `{"timestamp":"` and [`Stamp::rfc3339`], on a miss
    /// and a hit.
    #[test]
    fn cached_stamps_agree() {
        let mut cache = None;
        for now in [
            (1_764_547_199, 999_999_999),
            (1_764_547_199, 0),
            (1_764_547_200, 1_000),
            (1_764_547_200, 123_456_789),
            (-1, 500_000_000),
        ] {
            for tz in [Timezone::Utc, Timezone::Local] {
                for _ in 0..2 {
                    let (mut a, mut b) = (b"{\"timestamp\":\"".to_vec(), Vec::new());
                    a.extend_from_slice(&stamp_unix(now, tz).rfc3339());
                    write_start(&mut cache, now, tz, &mut b);
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn trace_keys_of_a_context() {
        let t = TraceContext {
            trace_id: *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
            span_id: *b"\x00\xf0\x67\xaa\x0b\xa9\x02\xb7",
            sampled: true,
        };
        let mut out = b"{\"logger\":\"x\"".to_vec();
        write_metadata_key(&mut out, Some(&trace_keys(&t)));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"logger":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","metadata":"#
        );
    }

    #[test]
    fn a_whole_line() {
        let mut out = Vec::new();
        let now = (1_764_547_199, 5_000);
        write_line(
            &mut out,
            now,
            Timezone::Utc,
            "WARNING",
            "a \"b\"",
            "x",
            b"\"n\":1",
        );
        write_line(&mut out, now, Timezone::Utc, "INFO", "", "x", b"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"timestamp\":\"2025-11-30T23:59:59.000005+00:00\",\"level\":\"WARNING\",\"message\":\"a \\\"b\\\"\",\"logger\":\"x\",\"metadata\":{\"n\":1}}\n\
             {\"timestamp\":\"2025-11-30T23:59:59.000005+00:00\",\"level\":\"INFO\",\"message\":\"\",\"logger\":\"x\",\"metadata\":{}}\n"
        );
    }
}
