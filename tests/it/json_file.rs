//! The day-file record: exact keys in order, JSON types, span fields in metadata, `Span::record`,
//! hostile values (control characters, NaN, a 10 MB string, deep nesting) and flush on drop.

use crate::common;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{json_lines, utc};
use serde_json::json;
use tracing_subscriber::prelude::*;

/// Emits `f` through a fresh file layer at a fixed instant, drops the guard, returns the lines.
fn lines_of(f: impl FnOnce()) -> (Vec<serde_json::Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45.123456Z")))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    // Dropping the guard flushes: no explicit flush call.
    drop(guard);
    let path = dir.path().join("2025-11-03.log");
    (json_lines(&path), common::day_text(&path))
}

#[test]
fn keys_order_and_types() {
    let (lines, raw) = lines_of(|| {
        tracing::info!(
            target: "data_collection_page",
            us_congress = true,
            eu_parliament = false,
            lookback_days = 30,
            offset = -2i64,
            big = u64::MAX,
            ratio = 0.25,
            name = "house",
            dbg = ?vec![1, 2],
            "Start Collection button clicked"
        );
        tracing::warn!(target: "t", "empty");
    });
    let first = raw.lines().next().unwrap();
    assert!(
        first.starts_with(r#"{"timestamp":"2025-11-03T14:30:45.123456+00:00","level":"INFO","message":"Start Collection button clicked","logger":"data_collection_page","metadata":{"#),
        "{first}"
    );
    assert_eq!(
        lines[0]["metadata"],
        json!({"us_congress": true, "eu_parliament": false, "lookback_days": 30, "offset": -2,
               "big": u64::MAX, "ratio": 0.25, "name": "house", "dbg": "[1, 2]"})
    );
    // Exactly these five keys (their order is checked on the raw text above).
    assert_eq!(lines[0].as_object().unwrap().len(), 5);
    assert_eq!(lines[1]["level"], "WARNING");
    assert_eq!(lines[1]["metadata"], json!({}));
}

#[test]
fn span_fields_innermost_wins_and_record_after_creation() {
    let (lines, raw) = lines_of(|| {
        let outer = tracing::info_span!(
            "collect",
            job_id = "data_collection",
            attempt = 1,
            late = tracing::field::Empty
        );
        let _o = outer.enter();
        tracing::info!(target: "t", "before record");
        outer.record("late", "yes");
        outer.record("attempt", 3);
        let inner = tracing::info_span!("step", attempt = 2, step = "fetch");
        let _i = inner.enter();
        tracing::info!(target: "t", step = "event wins", "inside");
    });
    assert_eq!(
        lines[0]["metadata"],
        json!({"job_id": "data_collection", "attempt": 1})
    );
    assert_eq!(
        lines[1]["metadata"],
        json!({"step": "event wins", "attempt": 2, "job_id": "data_collection", "late": "yes"})
    );
    // No duplicated keys in the raw text (serde_json would silently keep the last one).
    let second = raw.lines().nth(1).unwrap();
    assert_eq!(second.matches("\"attempt\"").count(), 1, "{second}");
    assert_eq!(second.matches("\"step\"").count(), 1, "{second}");
}

#[test]
fn hostile_values_stay_one_valid_line_each() {
    // Many fields near the field cap: together over the record cap, so they are replaced.
    let big = "b".repeat(62 * 1024);
    let huge = "x".repeat(10 * 1024 * 1024);
    let (lines, raw) = lines_of(|| {
        tracing::info!(target: "t", v = "\x1b[2J\r\nFAKE\u{9b}\u{7f}\"\\", "line\nbreak\x1b]0;x\x07");
        tracing::info!(target: "t", nan = f64::NAN, inf = f64::INFINITY, ninf = f64::NEG_INFINITY, "floats");
        tracing::info!(target: "t", huge = huge.as_str(), "huge");
        let span = tracing::info_span!(
            "wide",
            a = big.as_str(),
            b = big.as_str(),
            c = big.as_str(),
            d = big.as_str(),
            e = big.as_str(),
            f = big.as_str(),
            g = big.as_str(),
            h = big.as_str()
        );
        let _e = span.enter();
        tracing::info!(target: "t", i = big.as_str(), j = big.as_str(), k = big.as_str(), l = big.as_str(), m = big.as_str(), n = big.as_str(), o = big.as_str(), p = big.as_str(), q = big.as_str(), "wide");
    });
    assert_eq!(raw.lines().count(), 4);
    assert_eq!(lines[0]["message"], "line\nbreak\x1b]0;x\x07");
    assert_eq!(lines[0]["metadata"]["v"], "\x1b[2J\r\nFAKE\u{9b}\u{7f}\"\\");
    // No raw control byte anywhere in the file but the line ends.
    assert!(raw.chars().all(|c| c == '\n' || !c.is_control()));
    assert_eq!(
        lines[1]["metadata"],
        json!({"nan": "NaN", "inf": "inf", "ninf": "-inf"})
    );
    // Cut at the field cap (64 KiB by default), marked with how much was dropped.
    let kept = lines[2]["metadata"]["huge"].as_str().unwrap();
    let cap = actionlog::limits::DEFAULT_MAX_FIELD_BYTES;
    assert_eq!(
        kept,
        format!("{}…[truncated {} bytes]", &huge[..cap], huge.len() - cap)
    );
    // Seventeen 62 KiB fields exceed the 1 MiB record cap: the message stays, the fields give
    // way to one entry saying how much was cut.
    assert_eq!(lines[3]["message"], "wide");
    let cut = lines[3]["metadata"]["_truncated"].as_str().unwrap();
    assert!(
        cut.starts_with("…[truncated ") && cut.ends_with(" bytes] of fields"),
        "{cut}"
    );
    assert!(raw.lines().nth(3).unwrap().len() < actionlog::limits::DEFAULT_MAX_RECORD_BYTES);
}

#[test]
fn deeply_nested_spans() {
    let (lines, _) = lines_of(|| {
        fn nest(depth: usize) {
            if depth == 0 {
                tracing::info!(target: "t", "bottom");
                return;
            }
            let span = tracing::info_span!("level", depth, same = depth);
            let _e = span.enter();
            nest(depth - 1);
        }
        nest(200);
    });
    // The innermost span (depth 1) wins for the shared names.
    assert_eq!(lines[0]["metadata"], json!({"depth": 1, "same": 1}));
}

#[test]
fn log_crate_records_keep_their_target() {
    // Without a global LogTracer, build a log-shaped event by hand through tracing-log's API.
    let (lines, _) = lines_of(|| {
        let logger = tracing_log::LogTracer::new();
        let record = tracing_log::log::Record::builder()
            .args(format_args!("from log"))
            .level(tracing_log::log::Level::Warn)
            .target("legacy::module")
            .module_path_static(Some("legacy::module"))
            .file_static(Some("legacy.rs"))
            .line(Some(7))
            .build();
        tracing_log::log::Log::log(&logger, &record);
    });
    assert_eq!(lines[0]["logger"], "legacy::module");
    assert_eq!(lines[0]["level"], "WARNING");
    assert_eq!(lines[0]["message"], "from log");
    assert_eq!(lines[0]["metadata"], json!({}));
}

#[test]
fn a_recorded_span_field_reaches_the_events_of_spans_made_before_it() {
    // Span fields are flattened once per span (parents included); a `record` on a parent
    // must still show in a child made earlier, and per-layer filters must not share them.
    let (lines, _) = lines_of(|| {
        let parent = tracing::info_span!("parent", stage = "start", n = tracing::field::Empty);
        let _p = parent.enter();
        let child = tracing::info_span!("child", c = 1);
        child.in_scope(|| tracing::info!("before"));
        parent.record("stage", "later");
        parent.record("n", 2);
        child.in_scope(|| tracing::info!("after"));
        tracing::info!(parent: None, "outside");
    });
    assert_eq!(lines[0]["metadata"], json!({"c": 1, "stage": "start"}));
    assert_eq!(
        lines[1]["metadata"],
        json!({"c": 1, "stage": "later", "n": 2})
    );
    assert_eq!(lines[2]["metadata"], json!({}));
}
