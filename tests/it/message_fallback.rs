//! An event without a message — what `#[instrument(err)]` emits, only `error = %e` — says what
//! happened: its error field's text is its message in the day files and on the console (no
//! empty `"message":""`, no double space), and the field stays in the metadata. An event
//! with neither keeps an empty message.

use crate::common;

use actionlog::{ColorMode, ConsoleLayer, FileLayer, ManualClock, Timezone};
use common::{SharedBuf, json_lines, utc};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the session expired")
    }
}

#[tracing::instrument(target = "api", err(level = "warn"))]
fn login(user: &str) -> Result<(), Unauthorized> {
    Err(Unauthorized)
}

#[test]
fn an_error_without_a_message_is_its_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T14:30:45.123456Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let buf = SharedBuf::default();
    let console = ConsoleLayer::with_writer(buf.clone())
        .color(ColorMode::Never)
        .timezone(Timezone::Utc)
        .clock(clock);
    let subscriber = tracing_subscriber::registry().with(files).with(console);
    tracing::subscriber::with_default(subscriber, || {
        let _ = login("ana");
        tracing::error!(target: "api", code = 504, "exception.message" = "upstream timed out");
        tracing::info!(target: "api", answer = 42);
    });
    drop(guard);
    let lines = json_lines(&dir.path().join("2025-11-03.log"));
    assert_eq!(lines[0]["message"], "the session expired");
    assert_eq!(lines[0]["metadata"]["error"], "the session expired");
    assert_eq!(lines[0]["metadata"]["user"], "ana");
    assert_eq!(lines[1]["message"], "upstream timed out");
    assert_eq!(lines[2]["message"], "");
    assert_eq!(
        buf.text(),
        "2025-11-03T14:30:45 WARNING  [api] the session expired {\"error\": \"the session expired\", \"user\": \"ana\"}\n\
         2025-11-03T14:30:45 ERROR    [api] upstream timed out {\"code\": 504, \"exception.message\": \"upstream timed out\"}\n\
         2025-11-03T14:30:45 INFO     [api]  {\"answer\": 42}\n"
    );
}
