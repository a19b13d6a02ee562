//! OTLP's protobuf encoding, written by hand for the few messages the sink uses: the
//! `ExportLogsServiceRequest` it sends (`opentelemetry/proto/collector/logs/v1`, with
//! `logs/v1`, `resource/v1` and `common/v1`), and the two it reads back,
//! `ExportLogsServiceResponse` and `google.rpc.Status`. No generated code and no gRPC stack
//! in the library; the tests decode every request with the official definitions.
//!
//! A nested message is written in place after a one-byte length, which is widened when the
//! message turns out longer than 127 bytes: one pass, no size precomputation.

use super::mapping::{Export, LogRecord, Value, json_scalar};
use serde_json::Value as Json;

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A protobuf message being written.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A string field, left out when empty (proto3's default).
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, I64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A nested message, written by `f`.
    fn message(&mut self, field: u32, f: impl FnOnce(&mut Writer)) {
        self.key(field, LEN);
        let at = self.buf.len();
        self.buf.push(0);
        f(self);
        let len = self.buf.len() - at - 1;
        if len < 0x80 {
            self.buf[at] = len as u8;
        } else {
            let mut prefix = Writer::default();
            prefix.varint(len as u64);
            self.buf.splice(at..=at, prefix.buf);
        }
    }

    /// An `AnyValue` message's one field.
    fn any_value(&mut self, v: &Value<'_>) {
        match v {
            Value::Str(s) => self.bytes(1, s.as_bytes()),
            Value::Bool(b) => {
                self.key(2, VARINT);
                self.varint(u64::from(*b));
            }
            Value::Int(i) => {
                self.key(3, VARINT);
                self.varint(*i as u64);
            }
            Value::Double(d) => {
                self.key(4, I64);
                self.buf.extend_from_slice(&d.to_le_bytes());
            }
            Value::Map(m) => self.message(6, |kv| {
                for (k, v) in m.iter() {
                    kv.message(1, |w| w.key_value(k, v));
                }
            }),
            Value::Json(Json::Object(m)) => self.any_value(&Value::Map(m)),
            Value::Json(Json::Array(items)) => self.message(5, |arr| {
                for item in items {
                    arr.message(1, |w| w.json(item));
                }
            }),
            Value::Json(scalar) => self.json(scalar),
        }
    }

    /// The `AnyValue` of a JSON value (nothing for null: the empty value).
    fn json(&mut self, v: &Json) {
        if let Some(v) = json_scalar(v) {
            self.any_value(&v);
        }
    }

    /// A `KeyValue` message's fields.
    fn key_value(&mut self, key: &str, v: &Json) {
        self.string(1, key);
        self.message(2, |w| w.json(v));
    }

    fn attribute(&mut self, field: u32, key: &str, v: &Value<'_>) {
        self.message(field, |kv| {
            kv.string(1, key);
            kv.message(2, |w| w.any_value(v));
        });
    }

    fn log_record(&mut self, r: &LogRecord<'_>) {
        self.fixed64(1, r.time_unix_nano);
        self.key(2, VARINT);
        self.varint(r.severity.number as u64);
        self.string(3, r.severity.text);
        self.message(5, |w| w.any_value(&r.body));
        for (k, v) in &r.attributes {
            self.attribute(6, k, v);
        }
        if let Some(id) = &r.trace_id {
            self.bytes(9, id);
        }
        if let Some(id) = &r.span_id {
            self.bytes(10, id);
        }
        self.fixed64(11, r.observed_time_unix_nano);
        self.string(12, r.event_name);
    }
}

/// The `ExportLogsServiceRequest` of `export`.
pub(super) fn encode(export: &Export<'_>) -> Vec<u8> {
    let mut w = Writer::default();
    // ExportLogsServiceRequest.resource_logs
    w.message(1, |rl| {
        // ResourceLogs.resource
        rl.message(1, |res| {
            for (k, v) in export.resource {
                res.attribute(1, k, &Value::Str(v.as_str().into()));
            }
        });
        // ResourceLogs.scope_logs
        for scope in &export.scopes {
            rl.message(2, |sl| {
                sl.message(1, |s| {
                    s.string(1, scope.name);
                    s.string(2, scope.version);
                });
                for r in &scope.records {
                    sl.message(2, |w| w.log_record(r));
                }
            });
        }
    });
    w.buf
}

/// One field read from a message: its number and its value, for the wire types the sink reads.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// The fields of a message, in order; `None` at the first malformed one, which ends them.
fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf }
}

struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first()?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<&'a [u8]> {
        let buf: &'a [u8] = self.buf;
        let taken = buf.get(..n)?;
        self.buf = &buf[n..];
        Some(taken)
    }

    fn field(&mut self) -> Option<(u32, Field<'a>)> {
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match (key & 7) as u8 {
            VARINT => Field::Varint(self.varint()?),
            LEN => {
                let len = usize::try_from(self.varint()?).ok()?;
                Field::Bytes(self.skip(len)?)
            }
            I64 => {
                self.skip(8)?;
                Field::Other
            }
            I32 => {
                self.skip(4)?;
                Field::Other
            }
            _ => return None,
        };
        Some((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u32, Field<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let one = self.field();
        if one.is_none() {
            self.buf = &[];
        }
        Some(one)
    }
}

/// What an `ExportLogsServiceResponse` says: records rejected, and the receiver's message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PartialSuccess {
    pub(super) rejected: i64,
    pub(super) message: String,
}

/// Reads an `ExportLogsServiceResponse`; `None` if it is not one.
pub(super) fn decode_response(buf: &[u8]) -> Option<PartialSuccess> {
    let mut out = PartialSuccess::default();
    for f in fields(buf) {
        if let (1, Field::Bytes(partial)) = f? {
            for g in fields(partial) {
                match g? {
                    (1, Field::Varint(n)) => out.rejected = n as i64,
                    (2, Field::Bytes(b)) => out.message = String::from_utf8_lossy(b).into_owned(),
                    _ => {}
                }
            }
        }
    }
    Some(out)
}

/// The message of a `google.rpc.Status` (an error answer's body); `None` if it is not one.
pub(super) fn decode_status_message(buf: &[u8]) -> Option<String> {
    let mut message = None;
    for f in fields(buf) {
        if let (2, Field::Bytes(b)) = f? {
            message = Some(String::from_utf8(b.to_vec()).ok()?);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_widen_their_length() {
        for n in [0usize, 1, 126, 127, 128, 300, 20_000] {
            let mut w = Writer::default();
            let body = "x".repeat(n);
            w.message(7, |m| m.bytes(1, body.as_bytes()));
            let mut it = fields(&w.buf);
            let Some(Some((7, Field::Bytes(inner)))) = it.next() else {
                panic!("no message of {n}")
            };
            assert!(it.next().is_none());
            let Some(Some((1, Field::Bytes(b)))) = fields(inner).next() else {
                panic!("no field")
            };
            assert_eq!(b.len(), n);
        }
    }

    #[test]
    fn responses_and_statuses() {
        // partial_success { rejected_log_records: 3, error_message: "bad" }
        let buf = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
        assert_eq!(
            decode_response(&buf),
            Some(PartialSuccess {
                rejected: 3,
                message: "bad".into()
            })
        );
        assert_eq!(decode_response(&[]), Some(PartialSuccess::default()));
        assert_eq!(decode_response(&[0x0a, 0x09, 0x08]), None);
        // Status { code: 3, message: "no" }
        assert_eq!(
            decode_status_message(&[0x08, 0x03, 0x12, 0x02, b'n', b'o']).as_deref(),
            Some("no")
        );
        assert_eq!(decode_status_message(b"<html>"), None);
    }
}
