//! Trace ids from OpenTelemetry (feature `opentelemetry`): with the real tracing-opentelemetry
//! layer and the OpenTelemetry SDK exporting to memory, every line of a request-shaped span
//! tree carries the trace id and span id of the exported span it was logged in — whichever
//! order the layers are in, and with a remote parent set from an inbound request. Without the
//! OpenTelemetry layer, the lines keep actionlog's own ids.
#![cfg(feature = "opentelemetry")]

use crate::common;

use std::collections::HashMap;

use actionlog::{FileLayer, ManualClock, Timezone};
use common::{json_lines, utc};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN: &str = "00f067aa0ba902b7";

/// A request: a server span, a handler inside it with a database call, a background task
/// made with the request as its explicit parent on another thread. `remote`: the request's
/// parent, as a service takes it from the `traceparent` header.
fn request(remote: bool) {
    let server = tracing::info_span!("server", path = "/orders");
    if remote {
        let sc = SpanContext::new(
            TraceId::from_hex(REMOTE_TRACE).unwrap(),
            SpanId::from_hex(REMOTE_SPAN).unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        server
            .set_parent(opentelemetry::Context::new().with_remote_span_context(sc))
            .unwrap();
    }
    server.in_scope(|| {
        tracing::info!("accepted");
        tracing::info_span!("handler", order = 7).in_scope(|| {
            tracing::info!("handling");
            tracing::info_span!("db").in_scope(|| tracing::warn!("slow query"));
            tracing::info!("handled");
        });
    });
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let parent = server.clone();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!(parent: &parent, "task").in_scope(|| tracing::info!("in task"));
        })
    })
    .join()
    .unwrap();
    tracing::info!(parent: &server, "answered");
    drop(server);
}

/// The span each message is logged in.
const LOGGED_IN: [(&str, &str); 6] = [
    ("accepted", "server"),
    ("handling", "handler"),
    ("slow query", "db"),
    ("handled", "handler"),
    ("in task", "task"),
    ("answered", "server"),
];

/// Runs [`request`] under a file layer and the OpenTelemetry layer (the file layer first if
/// `files_first`); returns the day's lines and the exported spans by name.
fn run(files_first: bool, remote: bool) -> (Vec<Value>, HashMap<String, SpanContext>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45Z")))
        .build()
        .unwrap();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("trace_otel");
    if files_first {
        let otel = tracing_opentelemetry::layer().with_tracer(tracer);
        let subscriber = tracing_subscriber::registry().with(files).with(otel);
        tracing::subscriber::with_default(subscriber, || request(remote));
    } else {
        let otel = tracing_opentelemetry::layer().with_tracer(tracer);
        let subscriber = tracing_subscriber::registry().with(otel).with(files);
        tracing::subscriber::with_default(subscriber, || request(remote));
    }
    drop(guard);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let mut parents = Vec::new();
    let by_name: HashMap<String, SpanContext> = spans
        .iter()
        .map(|s| {
            parents.push(format!("{}<-{}", s.name, s.parent_span_id));
            (s.name.to_string(), s.span_context.clone())
        })
        .collect();
    assert_eq!(
        by_name.len(),
        4,
        "one exported span per tracing span: {parents:?}"
    );
    (
        json_lines(&dir.path().join("2025-11-03.log")),
        by_name,
        parents,
    )
}

fn check(files_first: bool, remote: bool) {
    let (lines, spans, parents) = run(files_first, remote);
    let trace = spans["server"].trace_id();
    for s in spans.values() {
        assert_eq!(s.trace_id(), trace, "one exported trace: {parents:?}");
    }
    if remote {
        assert_eq!(trace.to_string(), REMOTE_TRACE);
    }
    for (message, span) in LOGGED_IN {
        let line = lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?}"));
        let exported = &spans[span];
        assert_eq!(
            line["trace_id"],
            exported.trace_id().to_string(),
            "{message} (files first: {files_first}, remote: {remote}): {line}"
        );
        assert_eq!(
            line["span_id"],
            exported.span_id().to_string(),
            "{message} (files first: {files_first}, remote: {remote}): {line}"
        );
    }
}

#[test]
fn every_line_carries_the_ids_of_its_exported_span() {
    for files_first in [true, false] {
        check(files_first, false);
    }
}

#[test]
fn a_remote_parent_set_on_the_request_span_gives_the_lines_its_trace() {
    for files_first in [true, false] {
        check(files_first, true);
    }
}

#[test]
fn without_the_opentelemetry_layer_the_lines_keep_their_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45Z")))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(files);
    tracing::subscriber::with_default(subscriber, || request(false));
    drop(guard);
    let lines = json_lines(&dir.path().join("2025-11-03.log"));
    let trace = lines[0]["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(trace.len(), 32);
    for l in &lines {
        assert_eq!(
            l["trace_id"],
            trace.as_str(),
            "one trace for the request: {l}"
        );
        assert_eq!(l["span_id"].as_str().map(str::len), Some(16), "{l}");
    }
}

/// The rows too: with the OpenTelemetry layer under actionlog's (`registry().with(otel)
/// .with(actionlog)`), an action span's row, the job run it sits in and an action event's
/// row carry the ids of the exported spans they were made in.
#[test]
fn action_rows_and_job_runs_carry_the_exported_spans_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = actionlog::builder()
        .log_dir(dir.path())
        .console(false)
        .timezone(Timezone::Utc)
        .build()
        .unwrap();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("trace_otel"));
    let subscriber = tracing_subscriber::registry().with(otel).with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("job_execution", job_id = "nightly").in_scope(|| {
            tracing::info_span!("order", action_type = "order_paid").in_scope(|| {
                tracing::info!("charging");
            });
            tracing::info!(action_type = "mail_sent", "mail sent");
        });
    });
    assert!(guard.flush());
    provider.force_flush().unwrap();
    let spans: HashMap<String, SpanContext> = exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|s| (s.name.to_string(), s.span_context.clone()))
        .collect();
    let c = rusqlite::Connection::open(dir.path().join("actions.db")).unwrap();
    let row = |sql: &str| -> (String, String) {
        c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    };
    let ids = |name: &str| {
        let s = &spans[name];
        (s.trace_id().to_string(), s.span_id().to_string())
    };
    assert_eq!(
        row("SELECT trace_id, span_id FROM action_logs WHERE action_type = 'mail_sent'"),
        ids("job_execution"),
        "an action event's row: the span it is in"
    );
    assert_eq!(
        row("SELECT trace_id, span_id FROM action_logs WHERE action_type = 'order_paid'"),
        ids("order"),
        "an action span's row"
    );
    assert_eq!(
        row("SELECT trace_id, span_id FROM job_executions"),
        ids("job_execution"),
        "a job run"
    );
    drop(guard);
}

const CHECK_CHILD: &str = "ACTIONLOG_TEST_OTEL_CHECK";
/// What the child prints once its subscriber is built, before any span.
const BUILT: &str = "subscriber built";

/// The child of [`a_subscriber_without_a_readable_layer_is_reported_when_built`]: builds a
/// subscriber with the file layer and `kind`'s OpenTelemetry layer (`none`; `this`, the
/// version actionlog reads; `other`, another version), says so, then serves a request.
fn check_child(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (files, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(ManualClock::at(utc("2025-11-03T14:30:45Z")))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(InMemorySpanExporter::default())
        .build();
    let dispatch = match kind {
        "none" => tracing::Dispatch::new(tracing_subscriber::registry().with(files)),
        "this" => tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("check")))
                .with(files),
        ),
        "other" => tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(tracing_opentelemetry_other::layer())
                .with(files),
        ),
        _ => unreachable!(),
    };
    eprintln!("{BUILT}");
    tracing::dispatcher::with_default(&dispatch, || request(false));
    drop(dispatch);
    drop(guard);
    for l in json_lines(&dir.path().join("2025-11-03.log")) {
        assert_eq!(l["trace_id"].as_str().map(str::len), Some(32), "{l}");
    }
}

/// A subscriber without a tracing-opentelemetry layer actionlog can read — none, or one of
/// another version, as when an application depends on a tracing-opentelemetry other than
/// actionlog's — is reported once, when it is built, before any span; one with the layer is
/// not reported at all.
#[test]
fn a_subscriber_without_a_readable_layer_is_reported_when_built() {
    if let Ok(kind) = std::env::var(CHECK_CHILD) {
        return check_child(&kind);
    }
    let name = "a_subscriber_without_a_readable_layer_is_reported_when_built";
    for kind in ["none", "other", "this"] {
        let out = common::rerun(module_path!(), name)
            .env(CHECK_CHILD, kind)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the {kind} child failed:\n{stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("actionlog:") || *l == BUILT)
            .collect();
        if kind == "this" {
            assert_eq!(lines, [BUILT], "{kind}: nothing to report:\n{stderr}");
        } else {
            assert_eq!(lines.len(), 2, "{kind}: one report:\n{stderr}");
            assert!(
                lines[0].contains("has no layer of tracing-opentelemetry 0.34")
                    && lines[0].contains("cargo tree -i tracing-opentelemetry"),
                "{kind}: reported before the first span, naming the version: {lines:?}"
            );
            assert_eq!(lines[1], BUILT);
        }
    }
}
