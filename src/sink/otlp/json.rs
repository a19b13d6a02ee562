//! OTLP/JSON: the protobuf messages of `proto` in the JSON mapping OTLP specifies — field
//! names in lowerCamelCase, trace and span ids as hex (not base64), enum values as numbers,
//! 64-bit integers as decimal strings, default values left out — written straight into the
//! body; and the `ExportLogsServiceResponse` read back.

use serde_json::Value as Json;

use super::mapping::{Export, LogRecord, Value, json_scalar};
use super::proto::PartialSuccess;

/// A JSON text being written.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// A JSON string, escaped.
    fn string(&mut self, s: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    /// `"key":` (the key is one of ours, needing no escape).
    fn key(&mut self, key: &str) {
        self.out.push(b'"');
        self.raw(key);
        self.raw("\":");
    }

    fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.out.push(b'"');
        for b in bytes {
            self.out.push(DIGITS[usize::from(b >> 4)]);
            self.out.push(DIGITS[usize::from(b & 15)]);
        }
        self.out.push(b'"');
    }

    /// A 64-bit integer, as a decimal string.
    fn int64(&mut self, v: impl itoa::Integer) {
        let mut buf = itoa::Buffer::new();
        self.out.push(b'"');
        self.raw(buf.format(v));
        self.out.push(b'"');
    }

    fn double(&mut self, d: f64) {
        if d.is_finite() {
            let _ = serde_json::to_writer(&mut self.out, &d);
        } else if d.is_nan() {
            self.raw("\"NaN\"");
        } else if d > 0.0 {
            self.raw("\"Infinity\"");
        } else {
            self.raw("\"-Infinity\"");
        }
    }

    /// An `AnyValue` object.
    fn any_value(&mut self, v: &Value<'_>) {
        match v {
            Value::Json(Json::Object(m)) => return self.any_value(&Value::Map(m)),
            Value::Json(scalar) if !scalar.is_array() => return self.json(scalar),
            _ => {}
        }
        self.out.push(b'{');
        match v {
            Value::Str(s) => {
                self.key("stringValue");
                self.string(s);
            }
            Value::Bool(b) => {
                self.key("boolValue");
                self.raw(if *b { "true" } else { "false" });
            }
            Value::Int(i) => {
                self.key("intValue");
                self.int64(*i);
            }
            Value::Double(d) => {
                self.key("doubleValue");
                self.double(*d);
            }
            Value::Map(m) => {
                self.key("kvlistValue");
                self.raw("{\"values\":[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.raw("{\"key\":");
                    self.string(k);
                    self.raw(",\"value\":");
                    self.json(v);
                    self.out.push(b'}');
                }
                self.raw("]}");
            }
            Value::Json(items) => {
                let items = items.as_array().map_or(&[][..], Vec::as_slice);
                self.key("arrayValue");
                self.raw("{\"values\":[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.json(item);
                }
                self.raw("]}");
            }
        }
        self.out.push(b'}');
    }

    /// The `AnyValue` of a JSON value (`{}` for null: the empty value).
    fn json(&mut self, v: &Json) {
        match json_scalar(v) {
            Some(v) => self.any_value(&v),
            None => self.raw("{}"),
        }
    }

    /// `[{"key":…,"value":…},…]`
    fn attributes<'v, 'a: 'v>(&mut self, attrs: impl Iterator<Item = (&'v str, &'v Value<'a>)>) {
        self.out.push(b'[');
        for (i, (k, v)) in attrs.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.raw("{\"key\":");
            self.string(k);
            self.raw(",\"value\":");
            self.any_value(v);
            self.out.push(b'}');
        }
        self.out.push(b']');
    }

    fn log_record(&mut self, r: &LogRecord<'_>) {
        self.out.push(b'{');
        if r.time_unix_nano != 0 {
            self.key("timeUnixNano");
            self.int64(r.time_unix_nano);
            self.out.push(b',');
        }
        if r.observed_time_unix_nano != 0 {
            self.key("observedTimeUnixNano");
            self.int64(r.observed_time_unix_nano);
            self.out.push(b',');
        }
        self.key("severityNumber");
        self.raw(itoa::Buffer::new().format(r.severity.number));
        self.raw(",");
        self.key("severityText");
        self.string(r.severity.text);
        self.raw(",");
        self.key("body");
        self.any_value(&r.body);
        self.raw(",");
        self.key("attributes");
        self.attributes(r.attributes.iter().map(|(k, v)| (*k, v)));
        if let Some(id) = &r.trace_id {
            self.raw(",");
            self.key("traceId");
            self.hex(id);
        }
        if let Some(id) = &r.span_id {
            self.raw(",");
            self.key("spanId");
            self.hex(id);
        }
        if !r.event_name.is_empty() {
            self.raw(",");
            self.key("eventName");
            self.string(r.event_name);
        }
        self.out.push(b'}');
    }
}

/// The `ExportLogsServiceRequest` of `export`, as OTLP/JSON.
pub(super) fn encode(export: &Export<'_>) -> Vec<u8> {
    let mut w = Writer::default();
    w.raw("{\"resourceLogs\":[{\"resource\":{\"attributes\":");
    let resource: Vec<(&str, Value<'_>)> = export
        .resource
        .iter()
        .map(|(k, v)| (k.as_str(), Value::Str(v.as_str().into())))
        .collect();
    w.attributes(resource.iter().map(|(k, v)| (*k, v)));
    w.raw("},\"scopeLogs\":[");
    for (i, scope) in export.scopes.iter().enumerate() {
        if i > 0 {
            w.out.push(b',');
        }
        // Default values left out, as the mapping has it: no empty name or version.
        w.raw("{\"scope\":{");
        let mut fields = 0;
        for (key, value) in [("name", scope.name), ("version", scope.version)] {
            if value.is_empty() {
                continue;
            }
            if fields > 0 {
                w.out.push(b',');
            }
            w.key(key);
            w.string(value);
            fields += 1;
        }
        w.raw("},\"logRecords\":[");
        for (j, r) in scope.records.iter().enumerate() {
            if j > 0 {
                w.out.push(b',');
            }
            w.log_record(r);
        }
        w.raw("]}");
    }
    w.raw("]}]}");
    w.out
}

/// Reads an `ExportLogsServiceResponse` in OTLP/JSON (the count as a string or a number, and
/// the proto field names accepted beside the JSON ones); `None` if it is not one. An empty
/// body is a full success.
pub(super) fn decode_response(body: &[u8]) -> Option<PartialSuccess> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(PartialSuccess::default());
    }
    let v: Json = serde_json::from_slice(body).ok()?;
    let field = |v: &'_ Json, json: &str, proto: &str| -> Option<Json> {
        v.get(json).or_else(|| v.get(proto)).cloned()
    };
    let mut out = PartialSuccess::default();
    let Some(partial) = field(&v, "partialSuccess", "partial_success") else {
        return v.is_object().then_some(out);
    };
    match field(&partial, "rejectedLogRecords", "rejected_log_records") {
        Some(Json::Number(n)) => out.rejected = n.as_i64()?,
        Some(Json::String(s)) => out.rejected = s.parse().ok()?,
        Some(Json::Null) | None => {}
        Some(_) => return None,
    }
    if let Some(Json::String(m)) = field(&partial, "errorMessage", "error_message") {
        out.message = m;
    }
    Some(out)
}

/// The `message` of a `google.rpc.Status` in JSON (an error answer's body).
pub(super) fn decode_status_message(body: &[u8]) -> Option<String> {
    let v: Json = serde_json::from_slice(body).ok()?;
    v.get("message")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let ok = PartialSuccess::default();
        assert_eq!(decode_response(b""), Some(PartialSuccess::default()));
        assert_eq!(decode_response(b"{}"), Some(PartialSuccess::default()));
        let two = PartialSuccess {
            rejected: 2,
            message: "too old".into(),
        };
        assert_eq!(
            decode_response(
                br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}"#
            ),
            Some(two)
        );
        assert_eq!(
            decode_response(br#"{"partial_success":{"rejected_log_records":2}}"#)
                .map(|p| p.rejected),
            Some(2)
        );
        assert_eq!(decode_response(br#"{"partialSuccess":{}}"#), Some(ok));
        assert_eq!(decode_response(b"<html>"), None);
        assert_eq!(
            decode_response(br#"{"partialSuccess":{"rejectedLogRecords":true}}"#),
            None
        );
    }

    #[test]
    fn non_finite_doubles_are_strings() {
        let mut w = Writer::default();
        for d in [1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            w.double(d);
            w.out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(w.out).unwrap(),
            "1.5 \"NaN\" \"Infinity\" \"-Infinity\" "
        );
    }
}
