//! The day file's line as a property: whatever an event holds — any target, any field names,
//! hostile text, any number, inside spans — the file layer writes exactly one line for it, one
//! JSON object in the record's shape (`timestamp`, `level`, `message`, `logger`, `metadata`,
//! in that order, no key twice), whose values read back as logged: text cut at the field cap
//! with its marker, URL passwords scrubbed, hidden fields `[REDACTED]`, the metadata replaced
//! by its `_truncated` entry past the record cap; and no character in it that a terminal or an
//! editor acts on.

use std::fmt;

use proptest::prelude::*;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;
use tracing_subscriber::prelude::*;

use crate::dynamic::arbitrary::event;
use crate::dynamic::{DynEvent, FieldValue};
use crate::fields::is_error_field;
use crate::limits::{Limits, marker};
use crate::props::config;
use crate::redact::{REDACTED, Redaction};
use crate::{FileLayer, ManualClock, Timezone};

/// A JSON object's entries in the order written, a repeated key kept.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry::<String, Value>()? {
                    v.push(e);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// The bytes `s` takes inside a JSON string as the day files escape it: the short escapes,
/// `\u00XX` for the other C0 controls, DEL and the C1 controls, `\u2028` and `\u2029`.
fn escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// `s` cut at the field cap as documented: its longest prefix of at most `max` bytes ending
/// on a character boundary, then the marker counting the bytes left out.
fn capped(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut keep = max;
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{}", &s[..keep], marker(s.len() - keep))
}

/// What a value should read back as, and the bytes it takes in the line.
enum Want {
    Exact(Value),
    /// A number JSON holds only approximately once parsed (a float, an integer past 64 bits).
    About(f64),
}

fn want(v: &FieldValue, hidden: bool, r: &Redaction, max: usize) -> (Want, usize) {
    if hidden {
        return (Want::Exact(REDACTED.into()), REDACTED.len() + 2);
    }
    if let Some(t) = v.text() {
        let mut t = capped(&t, max);
        r.scrub_text(&mut t);
        let len = escaped_len(&t) + 2;
        return (Want::Exact(t.into()), len);
    }
    match *v {
        FieldValue::I64(x) => (Want::Exact(x.into()), x.to_string().len()),
        FieldValue::U64(x) => (Want::Exact(x.into()), x.to_string().len()),
        FieldValue::I128(x) => match i64::try_from(x) {
            Ok(small) => (Want::Exact(small.into()), x.to_string().len()),
            Err(_) => (Want::About(x as f64), x.to_string().len()),
        },
        FieldValue::U128(x) => match u64::try_from(x) {
            Ok(small) => (Want::Exact(small.into()), x.to_string().len()),
            Err(_) => (Want::About(x as f64), x.to_string().len()),
        },
        FieldValue::F64(x) if x.is_nan() => (Want::Exact("NaN".into()), 5),
        FieldValue::F64(x) if x == f64::INFINITY => (Want::Exact("inf".into()), 5),
        FieldValue::F64(x) if x == f64::NEG_INFINITY => (Want::Exact("-inf".into()), 6),
        FieldValue::F64(x) => (Want::About(x), ryu::Buffer::new().format_finite(x).len()),
        FieldValue::Bool(b) => (Want::Exact(b.into()), if b { 4 } else { 5 }),
        _ => unreachable!("text handled above"),
    }
}

/// Whether `got` is `want`, or `want` with more passwords hidden: the day file scrubs the
/// escaped text, where `\n` is no whitespace, so a URL whose user-info holds an escaped
/// character (`postgres://u:p\nx@h`) is scrubbed there and not in the raw text.
fn as_scrubbed(got: &str, want: &str) -> bool {
    if got == want {
        return true;
    }
    if got.matches(REDACTED).count() <= want.matches(REDACTED).count() {
        return false;
    }
    // The text between the `[REDACTED]`s of `got` is found in `want` in order.
    let pieces: Vec<&str> = got.split(REDACTED).collect();
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !want.starts_with(first) || !want.ends_with(last) {
        return false;
    }
    let mut at = first.len();
    for p in &pieces[1..pieces.len() - 1] {
        match want[at..].find(p) {
            Some(i) => at += i + p.len(),
            None => return false,
        }
    }
    at <= want.len() - last.len()
}

fn close(got: &Value, want: f64) -> bool {
    got.as_f64().is_some_and(|g| {
        g == want
            || ((g - want).abs() <= want.abs() * 4.0 * f64::EPSILON && g.signum() == want.signum())
    })
}

/// Checks `line` against what `ev` logged under `r` and `limits`.
fn check(line: &str, ev: &DynEvent, r: &Redaction, limits: Limits) -> Result<(), TestCaseError> {
    let max = limits.max_field_bytes();
    // Nothing a terminal or an editor acts on: no control character, no line separator.
    prop_assert!(
        !line
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "raw control character in {:?}",
        line
    );
    let top: Entries = serde_json::from_str(line)
        .map_err(|e| TestCaseError::fail(format!("not one JSON object ({e}): {line:?}")))?;
    let keys: Vec<&str> = top.0.iter().map(|(k, _)| k.as_str()).collect();
    // Inside a span, the span's trace context between the logger and the metadata.
    if ev.spans.is_empty() {
        prop_assert_eq!(
            keys,
            ["timestamp", "level", "message", "logger", "metadata"]
        );
    } else {
        prop_assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "message",
                "logger",
                "trace_id",
                "span_id",
                "metadata"
            ]
        );
    }
    let get = |k: &str| &top.0.iter().find(|(n, _)| n == k).unwrap().1;
    for (k, len) in [("trace_id", 32), ("span_id", 16)] {
        if let Some((_, v)) = top.0.iter().find(|(n, _)| n == k) {
            let hex = v.as_str().unwrap_or_default();
            prop_assert!(
                hex.len() == len && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{} {:?}",
                k,
                hex
            );
        }
    }
    prop_assert_eq!(get("timestamp"), "2025-11-03T14:30:45.123456+00:00");
    prop_assert_eq!(get("level"), crate::format::level_name(&ev.level));
    prop_assert_eq!(get("logger"), ev.target.as_str());

    // The message: the `message` field's text, or if that is empty the first error field's.
    let message = ev.fields.iter().find(|(n, _)| n == "message");
    let mut text = message
        .and_then(|(_, v)| v.text())
        .map(|t| capped(&t, max))
        .unwrap_or_default();
    if text.is_empty() {
        if let Some(t) = ev.fields.iter().find_map(|(n, v)| {
            (is_error_field(n) && !r.hides(n))
                .then(|| v.text())
                .flatten()
        }) {
            text = capped(&t, max);
        }
    }
    r.scrub_text(&mut text);
    let got = get("message").as_str().unwrap_or_default();
    prop_assert!(
        as_scrubbed(got, &text),
        "message {:?}, logged {:?}",
        got,
        text
    );

    // The metadata: the event's fields (the first of a name), then the spans' from the
    // innermost out, each name once.
    let mut want_entries: Vec<(String, Want)> = Vec::new();
    let mut meta_len = 0;
    let spans = ev.spans.iter().rev().flat_map(|s| s.iter());
    for (n, v) in ev
        .fields
        .iter()
        .filter(|(n, _)| n != "message")
        .chain(spans)
    {
        if want_entries.iter().any(|(k, _)| k == n) {
            continue;
        }
        let (w, len) = want(v, r.hides(n), r, max);
        meta_len += escaped_len(n) + 3 + len + usize::from(!want_entries.is_empty());
        want_entries.push((n.clone(), w));
    }
    // Read from the text (a `Value` keeps one entry of a repeated key): `,"metadata":` can
    // only be the record's own, a quote inside a string being escaped.
    let raw_meta = &line[line.find(",\"metadata\":").unwrap() + 12..];
    let raw: Entries = serde_json::from_str(&raw_meta[..raw_meta.len() - 1])
        .map_err(|e| TestCaseError::fail(format!("metadata ({e}): {line:?}")))?;
    if meta_len + text.len() > limits.max_record_bytes() {
        let cut = format!("{} of fields", marker(meta_len));
        prop_assert_eq!(&raw.0, &vec![("_truncated".to_owned(), Value::from(cut))]);
        return Ok(());
    }
    prop_assert_eq!(
        raw.0.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        want_entries
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        "{:?}",
        line
    );
    for ((k, got), (_, w)) in raw.0.iter().zip(&want_entries) {
        match w {
            Want::Exact(Value::String(want)) => {
                let got = got.as_str().unwrap_or_default();
                prop_assert!(
                    as_scrubbed(got, want),
                    "{}: {:?}, logged {:?}",
                    k,
                    got,
                    want
                );
            }
            Want::Exact(v) => prop_assert_eq!(got, v, "{}", k),
            Want::About(x) => prop_assert!(close(got, *x), "{}: {} for {}", k, got, x),
        }
    }
    Ok(())
}

/// Logs `ev` through a file layer of its own at a fixed instant; returns the day file's text.
fn logged(ev: &DynEvent, r: &Redaction, limits: Limits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(
            "2025-11-03T14:30:45.123456Z".parse().unwrap(),
        ))
        .redaction(r.clone())
        .limits(limits)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    assert!(tracing::subscriber::with_default(subscriber, || ev.emit()));
    drop(guard);
    std::fs::read_to_string(dir.path().join("2025-11-03.log")).unwrap()
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (64usize..400, 1024usize..3000).prop_map(|(f, r)| Limits::new(f, r)),
    ]
}

proptest! {
    #![proptest_config(config(384))]

    /// Any event is one line, one JSON object of the record's shape, its values read back as
    /// logged modulo the caps and the redaction (384 cases, each through a file layer of its
    /// own).
    #[test]
    fn any_event_is_one_line_that_reads_back(
        ev in event(),
        redact in any::<bool>(),
        limits in limits(),
    ) {
        let r = if redact { Redaction::default() } else { Redaction::none() };
        let text = logged(&ev, &r, limits);
        prop_assert_eq!(text.matches('\n').count(), 1, "{:?}", text);
        prop_assert!(text.ends_with('\n'));
        check(text.trim_end_matches('\n'), &ev, &r, limits)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The record cap falls exactly where an event's entries pass it: one text field padded
    /// to a byte below, at and above the cap (256 cases).
    #[test]
    fn the_record_cap_falls_exactly_at_the_cap(
        text in crate::props::hostile_text(24),
        over in -1i64..=1,
        redact in any::<bool>(),
    ) {
        let r = if redact { Redaction::default() } else { Redaction::none() };
        let limits = Limits::new(4096, 1024);
        let mut scrubbed = text.clone();
        r.scrub_text(&mut scrubbed);
        // `"v":"…"` is the only entry; the padding is plain.
        let used = escaped_len(&scrubbed) + 6;
        let pad = (1024 + over - used as i64).max(0) as usize;
        let ev = DynEvent {
            target: "t".into(),
            level: tracing::Level::INFO,
            fields: vec![("v".into(), FieldValue::Str(format!("{}{text}", "x".repeat(pad))))],
            spans: Vec::new(),
        };
        let line = logged(&ev, &r, limits);
        check(line.trim_end_matches('\n'), &ev, &r, limits)?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Values and messages a few bytes either side of the default 64 KiB field cap, in one-
    /// to four-byte characters: cut on a character boundary with the exact marker (64 cases).
    #[test]
    fn values_at_the_default_field_cap(
        value in crate::props::text_near(65_530..=65_545),
        message in crate::props::text_near(65_530..=65_545),
        redact in any::<bool>(),
    ) {
        let r = if redact { Redaction::default() } else { Redaction::none() };
        let ev = DynEvent {
            target: "t".into(),
            level: tracing::Level::INFO,
            fields: vec![
                ("message".into(), FieldValue::Display(message)),
                ("v".into(), FieldValue::Str(value.clone())),
                ("d".into(), FieldValue::Debug(vec![value.clone(), value])),
            ],
            spans: Vec::new(),
        };
        let line = logged(&ev, &r, Limits::default());
        check(line.trim_end_matches('\n'), &ev, &r, Limits::default())?;
    }
}
