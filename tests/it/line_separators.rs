//! U+2028 (line separator) and U+2029 (paragraph separator) are escaped like the other line
//! breaks: on the console (message, logger and metadata) and in the day files, where each line
//! still parses back to the original text.

use crate::common;

use actionlog::{ColorMode, ConsoleLayer, FileLayer, ManualClock, Timezone};
use common::{SharedBuf, utc};
use tracing_subscriber::prelude::*;

const TEXT: &str = "one\u{2028}FAKE INFO line\u{2029}two … € ✓";

#[test]
fn separators_are_escaped_on_the_console_and_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let buf = SharedBuf::default();
    let console = ConsoleLayer::with_writer(buf.clone())
        .color(ColorMode::Never)
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45Z")));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(console).with(files);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(note = TEXT, "{TEXT}");
    });
    drop(guard);

    let console = buf.text();
    assert!(
        !console.contains('\u{2028}') && !console.contains('\u{2029}'),
        "raw separator on the console: {console:?}"
    );
    assert!(
        console
            .contains("one\\u{2028}FAKE INFO line\\u{2029}two … € ✓ {\"note\": \"one\\u2028FAKE"),
        "{console:?}"
    );

    let day = common::day_files(dir.path());
    let text = std::fs::read_to_string(&day[0]).unwrap();
    assert!(
        !text.contains('\u{2028}') && !text.contains('\u{2029}'),
        "raw separator in the file: {text:?}"
    );
    let lines = common::json_lines(&day[0]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], TEXT);
    assert_eq!(lines[0]["metadata"]["note"], TEXT);
}
