//! Values as every store keeps them: text without NUL (PostgreSQL refuses it), and durations
//! to the millisecond (the `DECIMAL(10,3)` columns). The sinks write through these, and the
//! audit trail's row encoding reads through them, so a row hashes the same before it is written
//! and after it is read back from any store.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Text without NUL characters, which PostgreSQL rejects in `text` and `jsonb`: each becomes
/// U+FFFD, so one such value cannot poison a batch and the spot stays visible.
pub(crate) fn clean_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => map_has_nul(m),
        _ => false,
    }
}

fn map_has_nul(m: &Map<String, Value>) -> bool {
    m.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
}

fn clean_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(clean_text(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(clean_value).collect()),
        Value::Object(m) => Value::Object(clean_entries(m)),
        other => other.clone(),
    }
}

fn clean_entries(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (clean_text(k).into_owned(), clean_value(v)))
        .collect()
}

/// [`clean_text`] applied to every string and key of a JSON object; borrows when clean.
pub(crate) fn clean_map(m: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    if map_has_nul(m) {
        Cow::Owned(clean_entries(m))
    } else {
        Cow::Borrowed(m)
    }
}

/// A duration in whole milliseconds, as a `DECIMAL(10,3)` column keeps it: the exact value of
/// `seconds` rounded to three decimals, half away from zero (PostgreSQL's rounding of
/// `numeric`). `None` for a value that is not finite or too large for an `i64`.
pub(crate) fn duration_millis(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() {
        return None;
    }
    let a = seconds.abs();
    let x = a * 1000.0;
    if x >= 9.0e15 {
        return None;
    }
    // `x` is the product rounded; `e` its exact error (an FMA computes `a·1000 − x` exactly), so
    // the exact product is `x + e`. Below 2^53 `x − floor(x)` is exact and a multiple of x's
    // ulp, which is larger than |e|: only an exact half needs `e` to decide.
    let e = a.mul_add(1000.0, -x);
    let f = x.floor();
    let frac = x - f;
    let up = frac > 0.5 || (frac == 0.5 && e >= 0.0);
    let m = f as i64 + i64::from(up);
    Some(if seconds < 0.0 { -m } else { m })
}

/// A duration as a `DECIMAL(10,3)` column keeps it ([`duration_millis`]), as the nearest
/// `f64`: what the sinks write, so every store holds the same value (a non-finite or huge one
/// is passed on for the store to refuse).
pub(crate) fn stored_duration(seconds: f64) -> f64 {
    duration_millis(seconds).map_or(seconds, |m| m as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_cleaning() {
        assert_eq!(clean_text("a\0b"), "a\u{FFFD}b");
        let v = serde_json::json!({"k\0": ["x\0", 1], "ok": {"n": "\0"}});
        let clean = clean_map(v.as_object().unwrap()).into_owned();
        assert_eq!(
            Value::Object(clean),
            serde_json::json!({"k\u{FFFD}": ["x\u{FFFD}", 1], "ok": {"n": "\u{FFFD}"}})
        );
        let fine = serde_json::json!({"a": 1});
        assert!(matches!(
            clean_map(fine.as_object().unwrap()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn durations_round_like_numeric() {
        assert_eq!(duration_millis(1.2345), Some(1234)); // 1.23449999… in binary
        assert_eq!(duration_millis(0.0625), Some(63)); // an exact half: away from zero
        assert_eq!(duration_millis(-0.0625), Some(-63));
        assert_eq!(duration_millis(1.0005), Some(1000)); // 1.000499999…
        assert_eq!(duration_millis(0.0015), Some(2)); // 0.00150000000000000003…
        assert_eq!(duration_millis(2.0), Some(2000));
        assert_eq!(duration_millis(f64::NAN), None);
        assert_eq!(duration_millis(1e300), None);
    }
}
