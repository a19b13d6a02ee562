//! The day-file line: fields from the fuzzer (any target, names and values, inside spans) go
//! through the file layer's capture and its writer's rendering, and must come out as exactly
//! one line, one JSON object of the record's shape, with no character a terminal or an editor
//! acts on; without redaction and caps, each text value of the event reads back as logged.
#![no_main]

use actionlog::Redaction;
use actionlog::fuzzing::{DynEvent, FieldValue, file_lines};
use actionlog::limits::Limits;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Val {
    Str(String),
    Display(String),
    Debug(Vec<String>),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

impl From<Val> for FieldValue {
    fn from(v: Val) -> Self {
        match v {
            Val::Str(s) => FieldValue::Str(s),
            Val::Display(s) => FieldValue::Display(s),
            Val::Debug(p) => FieldValue::Debug(p),
            Val::I64(x) => FieldValue::I64(x),
            Val::U64(x) => FieldValue::U64(x),
            Val::I128(x) => FieldValue::I128(x),
            Val::U128(x) => FieldValue::U128(x),
            Val::F64(x) => FieldValue::F64(x),
            Val::Bool(x) => FieldValue::Bool(x),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    target: String,
    level: u8,
    message: Option<String>,
    fields: Vec<(String, Val)>,
    spans: Vec<Vec<(String, Val)>>,
    /// Redaction on, and small caps (64 bytes a value, 1 KiB a record) instead of the defaults.
    redact: bool,
    small: bool,
}

const LEVELS: [tracing::Level; 5] = [
    tracing::Level::TRACE,
    tracing::Level::DEBUG,
    tracing::Level::INFO,
    tracing::Level::WARN,
    tracing::Level::ERROR,
];

fn fields(v: Vec<(String, Val)>) -> Vec<(String, FieldValue)> {
    v.into_iter()
        .filter(|(n, _)| n != "message")
        .map(|(n, v)| (n, v.into()))
        .collect()
}

fuzz_target!(|input: Input| {
    let mut event_fields = fields(input.fields);
    if let Some(m) = input.message {
        event_fields.insert(0, ("message".to_owned(), FieldValue::Display(m)));
    }
    let ev = DynEvent {
        target: input.target,
        level: LEVELS[usize::from(input.level % 5)],
        fields: event_fields,
        spans: input.spans.into_iter().take(4).map(fields).collect(),
    };
    let redaction = if input.redact {
        Redaction::default()
    } else {
        Redaction::none()
    };
    let limits = if input.small {
        Limits::new(64, 1024)
    } else {
        Limits::default()
    };
    let Some(bytes) = file_lines(&ev, &redaction, limits) else {
        return;
    };
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
    let line = text.trim_end_matches('\n');
    assert!(
        !line
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "{line:?}"
    );
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let o = v.as_object().expect("an object");
    assert_eq!(o.len(), 5, "{line:?}");
    assert_eq!(o["logger"], ev.target.as_str());
    let meta = o["metadata"].as_object().expect("metadata is an object");
    if input.redact || input.small || meta.contains_key("_truncated") {
        return;
    }
    // The first value of each name among the event's fields, as logged.
    let mut seen = Vec::new();
    for (name, value) in ev.fields.iter().skip_while(|(n, _)| n == "message") {
        if seen.contains(name) {
            continue;
        }
        seen.push(name.clone());
        let Some(text) = value.text() else { continue };
        if text.len() <= 64 * 1024 {
            assert_eq!(
                meta.get(name).and_then(|v| v.as_str()),
                Some(text.as_str()),
                "{name:?} in {line:?}"
            );
        }
    }
});
