//! Trace context without OpenTelemetry: the lines of one span tree share one trace id and each
//! span has its own span id; a `traceparent` field (at creation or recorded later) continues
//! the given trace; events outside every span have neither key; root spans start traces of
//! their own; the file and the console agree on the ids (decided once per span); the console
//! shows the short id only when asked.

use crate::common;

use actionlog::{ConsoleLayer, FileLayer, ManualClock, Timezone};
use common::{SharedBuf, day_text, json_lines, utc};
use serde_json::Value;
use tracing_subscriber::prelude::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// Runs `f` under a file layer and a console layer (short trace ids `console_ids`); returns
/// the day's lines and the console's text.
fn run(console_ids: bool, f: impl FnOnce()) -> (Vec<Value>, String) {
    let (lines, _, console) = run_raw(console_ids, f);
    (lines, console)
}

/// [`run`], with the day file's text too.
fn run_raw(console_ids: bool, f: impl FnOnce()) -> (Vec<Value>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(utc("2025-11-03T14:30:45Z"));
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .build()
        .unwrap();
    let buf = SharedBuf::default();
    let console = ConsoleLayer::with_writer(buf.clone())
        .timezone(Timezone::Utc)
        .clock(clock)
        .trace_ids(console_ids);
    let subscriber = tracing_subscriber::registry().with(files).with(console);
    tracing::subscriber::with_default(subscriber, f);
    drop(guard);
    let day = dir.path().join("2025-11-03.log");
    (json_lines(&day), day_text(&day), buf.text())
}

/// The line whose message is `m`.
fn line<'a>(lines: &'a [Value], m: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"] == m)
        .unwrap_or_else(|| panic!("no line {m:?} in {lines:#?}"))
}

fn ids(l: &Value) -> (String, String) {
    let s = |k: &str| {
        l[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {l}"))
            .to_owned()
    };
    (s("trace_id"), s("span_id"))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn nested_spans_share_one_trace_and_each_has_its_own_span_id() {
    let (lines, raw, _) = run_raw(false, || {
        let request = tracing::info_span!("request", path = "/orders");
        let _r = request.enter();
        tracing::info!("in request");
        let db = tracing::info_span!("db");
        db.in_scope(|| {
            tracing::info!("in db");
            tracing::info_span!("row").in_scope(|| tracing::info!("in row"));
        });
        tracing::info!("in request again");
        // A child made on another thread, its parent given explicitly.
        let parent = request.clone();
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info_span!(parent: &parent, "worker")
                    .in_scope(|| tracing::info!("in worker"));
            })
        })
        .join()
        .unwrap();
    });
    let (trace, request) = ids(line(&lines, "in request"));
    assert!(
        is_hex(&trace, 32) && is_hex(&request, 16),
        "{trace} {request}"
    );
    let mut span_ids = vec![request.clone()];
    for m in ["in db", "in row", "in worker"] {
        let (t, s) = ids(line(&lines, m));
        assert_eq!(t, trace, "{m}: one trace for the whole tree");
        assert!(is_hex(&s, 16));
        assert!(!span_ids.contains(&s), "{m}: a span id of its own");
        span_ids.push(s);
    }
    assert_eq!(ids(line(&lines, "in request again")), (trace, request));
    // The keys' place: after the logger, before the metadata.
    let (t, s) = ids(line(&lines, "in db"));
    let keys = format!(
        r#""message":"in db","logger":"it::trace_context","trace_id":"{t}","span_id":"{s}","metadata":{{"path":"/orders"}}}}"#
    );
    assert!(raw.contains(&keys), "{raw}");
}

#[test]
fn a_traceparent_field_continues_the_given_trace() {
    let header = format!("00-{TRACE}-{PARENT}-01");
    let (lines, _) = run(false, || {
        let request = tracing::info_span!("request", traceparent = %header);
        request.in_scope(|| {
            tracing::info!("in request");
            tracing::info_span!("handler").in_scope(|| tracing::info!("in handler"));
        });
        // Recorded after the span was made (the header read later), as a `&str`.
        let late = tracing::info_span!("late", traceparent = tracing::field::Empty);
        late.in_scope(|| tracing::info!("before the record"));
        late.record("traceparent", header.as_str());
        late.in_scope(|| tracing::info!("after the record"));
        // Not a valid value: the span starts a trace of its own.
        let bad = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        tracing::info_span!("bad", traceparent = bad).in_scope(|| tracing::info!("in bad"));
    });
    let (t, request) = ids(line(&lines, "in request"));
    assert_eq!(t, TRACE);
    // A span of our own in that trace: the caller's span is its parent, not itself.
    assert_ne!(request, PARENT);
    let (t, handler) = ids(line(&lines, "in handler"));
    assert_eq!(t, TRACE);
    assert_ne!(handler, request);
    let (before, late) = ids(line(&lines, "before the record"));
    assert_ne!(before, TRACE);
    assert_eq!(
        ids(line(&lines, "after the record")),
        (TRACE.to_owned(), late)
    );
    let (t, _) = ids(line(&lines, "in bad"));
    assert!(is_hex(&t, 32) && t != TRACE && !t.bytes().all(|c| c == b'0'));
}

#[test]
fn events_outside_spans_carry_no_ids_and_root_spans_get_their_own_traces() {
    let (lines, _) = run(false, || {
        tracing::info!("outside");
        tracing::info_span!("a").in_scope(|| tracing::info!("in a"));
        tracing::info_span!("b").in_scope(|| {
            tracing::info!("in b");
            tracing::info!(parent: None, "explicit root");
        });
        tracing::info!("outside again");
    });
    for m in ["outside", "outside again", "explicit root"] {
        let l = line(&lines, m);
        assert!(
            l.get("trace_id").is_none() && l.get("span_id").is_none(),
            "{l}"
        );
    }
    let (a, _) = ids(line(&lines, "in a"));
    let (b, _) = ids(line(&lines, "in b"));
    assert_ne!(a, b, "two root spans, two traces");
}

#[test]
fn the_console_shows_the_short_trace_id_only_when_asked() {
    let emit = || {
        tracing::info_span!("request").in_scope(|| tracing::info!("in request"));
        tracing::info!("outside");
    };
    let (lines, console) = run(true, emit);
    let (trace, _) = ids(line(&lines, "in request"));
    let short = format!("[it::trace_context] [{}] in request", &trace[..8]);
    assert!(console.contains(&short), "{console:?} lacks {short:?}");
    assert!(
        console.contains("[it::trace_context] outside"),
        "{console:?}"
    );
    let (_, console) = run(false, emit);
    assert!(
        console.contains("[it::trace_context] in request"),
        "off by default: {console:?}"
    );
}
