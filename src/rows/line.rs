//! The log line as a row ([`LogLine`]): the JSON object the file writer rendered for the day
//! files, carried as its text to a store that takes lines (`Builder::ship_lines`). It is not
//! parsed or changed on the way: the day file's layout (`format::file`) is the one layout, and
//! a sink reads what it needs out of the text when it writes.

use serde_json::Value;

/// One log line, as the day files hold it: one JSON object in the fixed key order —
/// `timestamp`, `level`, `message`, `logger`, `trace_id` and `span_id` inside a span,
/// `metadata` — without the newline. Redaction and size caps were applied when it was rendered.
///
/// Lines reach a sink through [`crate::sink::Sink::write_lines`], when the sink takes them
/// ([`crate::sink::Sink::takes_lines`]) and was given to [`crate::Builder::ship_lines`].
///
/// ```
/// let line = actionlog::LogLine::new(
///     r#"{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"INFO","message":"hi","logger":"app","metadata":{}}"#,
/// );
/// let v: serde_json::Value = serde_json::from_str(line.as_str()).unwrap();
/// assert_eq!(v["message"], "hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    json: String,
}

impl LogLine {
    /// The line whose JSON object is `json` (a trailing newline is removed). Not checked: a
    /// sink must take any text, since a line read back from a spool or dead-letter file could
    /// have been edited.
    pub fn new(json: impl Into<String>) -> Self {
        let mut json = json.into();
        if json.ends_with('\n') {
            json.pop();
        }
        LogLine { json }
    }

    /// The line's JSON object, as the day file holds it (without the newline).
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// The line's form in the spool and dead-letter files: `{"line": "<the JSON text>"}` (with
    /// `"_table": "log_lines"` added by [`super::Row::to_json`]). The text is kept as a string,
    /// so a line read back is byte for byte the line written.
    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({ "line": self.json })
    }

    /// The line back from [`Self::to_json`]'s form.
    pub(crate) fn from_json(v: &Value) -> Option<LogLine> {
        v.get("line").and_then(Value::as_str).map(LogLine::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_read_back_is_the_line_written() {
        let text = r#"{"timestamp":"2025-11-03T14:30:45.123456+01:00","level":"INFO","message":"a \"b\" \u001b","logger":"x","metadata":{"n":1}}"#;
        let line = LogLine::new(format!("{text}\n"));
        assert_eq!(line.as_str(), text);
        let back = LogLine::from_json(
            &serde_json::from_slice(&serde_json::to_vec(&line.to_json()).unwrap()).unwrap(),
        );
        assert_eq!(back, Some(line));
        assert_eq!(LogLine::from_json(&serde_json::json!({"line": 1})), None);
    }
}
