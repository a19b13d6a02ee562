//! Golden output of the day file's line: representative events (nested spans and
//! `Span::record`, every value type, escapes and terminal controls, URL passwords, the
//! redaction list, the field and record caps, the message fallbacks, `log` records, long keys,
//! spans entered and left out of order and on other threads, their trace and span ids) rendered through the file
//! layer's capture and the writer's renderer, compared byte for byte with the lines kept in
//! `golden/`. A change of layout shows there as a diff; `ACTIONLOG_BLESS=1 cargo test --lib
//! file::golden` writes the new lines for review.

use tracing_subscriber::prelude::*;

use super::probe::Probe;
use crate::fields::CaptureSettings;
use crate::limits::Limits;
use crate::redact::Redaction;

/// 2025-11-30T23:59:59.999999999Z: the last microsecond of a day.
const NOW: (i64, u32) = (1_764_547_199, 999_999_999);

/// The lines of the events `f` emits, rendered as the file layer and its writer do, under a
/// registry with a probe behind a per-layer filter that disables spans named `skipped` if
/// `filtered`.
fn lines(render: CaptureSettings, filtered: bool, f: impl FnOnce()) -> Vec<String> {
    let (probe, lines) = Probe::new(render, NOW);
    let filter = tracing_subscriber::filter::filter_fn(move |m| {
        !(filtered && m.is_span() && m.name() == "skipped")
    });
    let subscriber = tracing_subscriber::registry().with(probe.with_filter(filter));
    // Trace and span ids come from this thread's generator: seeded, the lines are the same on
    // every run.
    fastrand::seed(7);
    tracing::subscriber::with_default(subscriber, f);
    let lines = String::from_utf8(lines.lock().unwrap().clone()).expect("lines are UTF-8");
    let lines: Vec<String> = lines.split_inclusive('\n').map(str::to_owned).collect();
    for line in &lines {
        // Each line is one valid JSON object.
        serde_json::from_str::<serde_json::Value>(line.trim_end()).expect("a line is JSON");
    }
    lines
}

/// Compares `got` with the golden file `name`, or writes it under `ACTIONLOG_BLESS`.
fn compare(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/file/golden")
        .join(name);
    if std::env::var_os("ACTIONLOG_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{name}, line {}", i + 1);
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "{name}: line count"
    );
}

struct Dbg(&'static str);

impl std::fmt::Debug for Dbg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)?;
        f.write_str(" & more")
    }
}

const TRICKY: [&str; 10] = [
    "plain",
    "quote \" backslash \\ tab \t newline \n cr \r",
    "\u{1b}[2J\u{7f}\u{9b}\u{85} controls",
    "line\u{2028}para\u{2029} é £ € … ✓ 🦀",
    "postgres://app:s3cret@db:5432/prod",
    "two postgres://u:x@h and redis://:pw@r:6379 end",
    "postgres://u:p\nx@h (an escape inside the authority)",
    "https://example.com/?mail=a@b",
    "",
    "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé cut mid-char",
];

fn emit_all() {
    let outer = tracing::info_span!(
        "outer",
        a = "outer-a",
        url = "mysql://root:hunter2@db",
        n = 1
    );
    let _o = outer.enter();
    let inner = tracing::info_span!(
        "inner",
        a = "inner-a",
        token = "hide me",
        empty = tracing::field::Empty
    );
    let _i = inner.enter();
    for s in TRICKY {
        tracing::info!(s, d = ?Dbg(s), e = %s, "message {s}");
        tracing::warn!(a = s, password = s, n = ?s, "{}", s);
        tracing::error!(message = s, x = 1);
        tracing::info!(parent: &outer, s, "explicit parent");
        tracing::info!(parent: None, s, "root");
    }
    tracing::info!(
        i = -5i64,
        u = u64::MAX,
        big = i128::MIN,
        ubig = u128::MAX,
        f = 0.5,
        nan = f64::NAN,
        inf = f64::NEG_INFINITY,
        huge = 1e300,
        tiny = 1.25e-7,
        yes = true,
        "numbers"
    );
    tracing::info!(message = 5u64, other = false);
    tracing::info!(no_message = 1);
    // No message but a field reporting an error: its text is the message (it stays a field).
    tracing::error!(error = %"disk full at postgres://u:pw@db");
    tracing::warn!(exception.message = "timeout", attempt = 3);
    tracing::info!(a = 1, a = 2, "a name twice");
    tracing::info!(message = "first", message = "second");
    // Recorded after a child span was made: the child's events see the new value.
    inner.record("empty", "now set");
    outer.record("n", 2);
    let child = tracing::info_span!("child", n = 3, s = "child");
    child.in_scope(|| tracing::info!(s = "event", "in the child"));
    outer.record("a", "recorded \"a\"");
    child.in_scope(|| tracing::info!("after another record"));
    // A `log` record: its target is owned, its `log.*` fields skipped.
    let record = tracing_log::log::Record::builder()
        .args(format_args!("from log postgres://u:pw@h"))
        .level(tracing_log::log::Level::Warn)
        .target("legacy \"module\"")
        .module_path_static(Some("legacy::module"))
        .file_static(Some("legacy.rs"))
        .line(Some(7))
        .build();
    tracing_log::log::Log::log(&tracing_log::LogTracer::new(), &record);
    // Past the record cap (small limits below).
    let long = "x".repeat(900);
    tracing::info!(a1 = %long, a2 = %long, "over the cap");
    // The writer keeps each callsite's last message escaped: one callsite with the same
    // message twice in a row, then another, then back; one too long to be kept; one scrubbed.
    let scrubbed = "to postgres://u:secret@db \"quoted\" \u{9b}";
    for m in [
        "same", "same", "other", "same", &long, &long, scrubbed, scrubbed, "", "",
    ] {
        tracing::info!(n = 1, "{}", m);
        tracing::info!(message = m);
    }
    for n in [1u64, 1, 2, 2] {
        tracing::info!(message = n, also = "numeric message");
    }
    // Keys whose `,"key":` fragment does not fit the writer's inline 32 bytes, or just fits.
    tracing::info!(
        a_field_name_well_past_thirty_two_bytes = 1,
        exactly_twenty_seven_bytes_ = "x",
        twenty_eight_bytes_long_name = 2.5,
        "long keys"
    );
}

#[test]
fn lines_match_the_golden_file() {
    let mut got = String::new();
    for (rname, redaction) in [
        ("default", Redaction::default()),
        ("none", Redaction::none()),
    ] {
        for (lname, limits) in [
            ("default", Limits::default()),
            ("64 B fields, 1 KiB records", Limits::new(64, 1024)),
            ("1 KiB fields, 1 KiB records", Limits::new(1024, 1024)),
        ] {
            let render = CaptureSettings {
                redaction: redaction.clone(),
                limits,
            };
            let lines = lines(render, false, emit_all);
            assert!(lines.len() > 50);
            got.push_str(&format!("# redaction: {rname}; limits: {lname}\n"));
            got.extend(lines);
        }
    }
    compare("events.log", &got);
}

/// Spans entered in the ways the layer's stack must follow as the registry does.
fn stack_cases() {
    let a = tracing::info_span!("a", x = "a");
    let b = tracing::info_span!("b", y = "b");
    let skipped = tracing::info_span!("skipped", z = "skipped");
    let ga = a.enter();
    tracing::info!("in a");
    let gb = b.enter();
    tracing::info!("in b");
    let again = a.enter();
    tracing::info!("a entered again inside b: the registry keeps b current");
    drop(again);
    let gs = skipped.enter();
    tracing::info!("in skipped (disabled for the filtered layer)");
    drop(gs);
    // Out of order: a's guard dropped while b is still entered.
    drop(ga);
    tracing::info!("b, a gone from under it");
    drop(gb);
    tracing::info!("outside any span");
    // Entered and left again and again, as an instrumented future is on each poll.
    for i in 0..3 {
        let _e = b.enter();
        tracing::info!(i, "poll");
    }
    let _a = a.enter();
    // Another thread's stack is its own.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    std::thread::scope(|s| {
        s.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info!("other thread, no span");
                let _b = b.enter();
                tracing::info!("other thread, in b");
            })
        });
    });
    tracing::info!("back in a");
    // Recorded while not entered, then entered: the kept flattening is stale.
    let _b = b.enter();
    tracing::info!("b before the record");
    b.record("y", "recorded");
    tracing::info!("b after the record");
    tracing::info!(parent: &skipped, "explicit parent");
    tracing::info!(parent: None, "explicit root");
}

#[test]
fn the_layers_stack_finds_the_span_the_registry_finds() {
    let mut got = String::new();
    for filtered in [false, true] {
        let lines = lines(CaptureSettings::default(), filtered, stack_cases);
        assert_eq!(lines.len(), 16);
        got.push_str(&format!("# spans named `skipped` disabled: {filtered}\n"));
        got.extend(lines);
    }
    compare("spans.log", &got);
}
