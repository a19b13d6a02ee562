//! The console line: its exact format, with and without colour, and control characters
//! in user data escaped so nothing can forge a line or drive the terminal.

use crate::common;

use actionlog::{ColorMode, ConsoleLayer, ManualClock, Timezone};
use common::{SharedBuf, utc};
use tracing_subscriber::prelude::*;

fn console(color: ColorMode) -> (ConsoleLayer, SharedBuf) {
    let buf = SharedBuf::default();
    let layer = ConsoleLayer::with_writer(buf.clone())
        .color(color)
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45.123456Z")));
    (layer, buf)
}

fn emit(layer: ConsoleLayer, f: impl FnOnce()) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
}

#[test]
fn exact_line_without_color() {
    let (layer, buf) = console(ColorMode::Never);
    emit(layer, || {
        tracing::info!(target: "data_collection_page", us_congress = true, lookback_days = 30, "Start Collection button clicked");
        tracing::warn!(target: "scheduler", "no metadata here");
    });
    assert_eq!(
        buf.text(),
        "2025-11-03T14:30:45 INFO     [data_collection_page] Start Collection button clicked {\"us_congress\": true, \"lookback_days\": 30}\n\
         2025-11-03T14:30:45 WARNING  [scheduler] no metadata here\n"
    );
}

#[test]
fn exact_line_with_color() {
    let (layer, buf) = console(ColorMode::Always);
    emit(layer, || {
        tracing::trace!(target: "t", "a");
        tracing::debug!(target: "t", "b");
        tracing::info!(target: "t", "c");
        tracing::warn!(target: "t", "d");
        tracing::error!(target: "t", x = 1.5, "e");
    });
    assert_eq!(
        buf.text(),
        "2025-11-03T14:30:45 \x1b[2mTRACE\x1b[0m    [t] a\n\
         2025-11-03T14:30:45 \x1b[36mDEBUG\x1b[0m    [t] b\n\
         2025-11-03T14:30:45 \x1b[32mINFO\x1b[0m     [t] c\n\
         2025-11-03T14:30:45 \x1b[33mWARNING\x1b[0m  [t] d\n\
         2025-11-03T14:30:45 \x1b[31mERROR\x1b[0m    [t] e {\"x\": 1.5}\n"
    );
}

#[test]
fn span_fields_follow_event_fields_innermost_first() {
    let (layer, buf) = console(ColorMode::Never);
    emit(layer, || {
        let outer = tracing::info_span!("outer", job_id = "data_collection", attempt = 1);
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", attempt = 2);
        let _i = inner.enter();
        tracing::info!(target: "t", rows = 5, "done");
    });
    assert_eq!(
        buf.text(),
        "2025-11-03T14:30:45 INFO     [t] done {\"rows\": 5, \"attempt\": 2, \"job_id\": \"data_collection\"}\n"
    );
}

#[test]
fn control_characters_are_escaped_everywhere() {
    let (layer, buf) = console(ColorMode::Never);
    let payloads = [
        "\x1b[2J",
        "\x1b]0;x\x07",
        "\r\nFAKE 2025-01-01T00:00:00 ERROR    [x] forged",
        "\u{9b}31m",
        "del\u{7f}",
    ];
    emit(layer, || {
        for p in payloads {
            tracing::info!(target: "t", value = p, "msg {p}");
        }
    });
    let text = buf.text();
    // One line per event: nothing forged a line break.
    assert_eq!(text.lines().count(), payloads.len(), "{text}");
    for c in text.chars() {
        assert!(
            c == '\n' || !c.is_control(),
            "raw control {c:?} reached the console: {text:?}"
        );
    }
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "2025-11-03T14:30:45 INFO     [t] msg \\u{1b}[2J {\"value\": \"\\u001b[2J\"}"
    );
    assert!(text.contains("msg \\r\\nFAKE"));
}
