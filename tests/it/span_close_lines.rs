//! Span close lines: one line when a span closes, with its name, its fields (redacted like any
//! other) and its times — elapsed, busy (entered on some thread), idle — for a request span
//! entered and left across awaits, spans entered many times and on several threads; none when
//! the setting is off or the log filter disables the span. Times come from a manual clock, so
//! the values are exact.

use crate::common;

use std::sync::mpsc;

use actionlog::{ConsoleLayer, FileLayer, ManualClock, Timezone};
use chrono::Duration;
use common::{SharedBuf, json_lines, utc};
use serde_json::{Value, json};
use tracing::Instrument;
use tracing_subscriber::prelude::*;

const START: &str = "2025-11-03T14:30:45Z";

fn clock() -> ManualClock {
    ManualClock::at(utc(START))
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

/// Runs `f` under a file layer (close lines `on`) on `clock`; returns the day's lines.
fn file_lines(on: bool, clock: &ManualClock, f: impl FnOnce()) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = FileLayer::builder(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .span_close_lines(on)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    drop(guard);
    json_lines(&dir.path().join("2025-11-03.log"))
}

fn closes(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["message"].as_str().unwrap().starts_with("close "))
        .collect()
}

/// A request handler: busy 1 ms, then waits (5 ms pass meanwhile, the span not entered), then
/// busy 2 ms more.
async fn handler(clock: ManualClock, go: tokio::sync::oneshot::Receiver<()>) {
    clock.advance(ms(1));
    tracing::info!("accepted");
    go.await.unwrap();
    clock.advance(ms(2));
    tracing::info!("answered");
}

/// The request span across an await: one close line, with the span's fields (the secret one
/// redacted), elapsed = busy + idle exactly, and the events inside it still there.
#[test]
fn a_request_span_across_an_await_closes_with_its_fields_and_times() {
    let clock = clock();
    let lines = file_lines(true, &clock, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::info_span!(
            target: "app::routes",
            "subscribe",
            request_id = 7,
            user = "ana",
            password = "hunter2",
            status = tracing::field::Empty
        );
        let request = handler(clock.clone(), rx).instrument(span.clone());
        let other = async {
            // Not inside the span: idle time for it.
            clock.advance(ms(5));
            tx.send(()).unwrap();
        };
        rt.block_on(async { tokio::join!(request, other) });
        span.record("status", 200);
        drop(span);
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["message"], "accepted");
    assert_eq!(lines[1]["message"], "answered");
    let close = &lines[2];
    assert_eq!(close["message"], "close subscribe");
    assert_eq!(close["level"], "INFO");
    assert_eq!(close["logger"], "app::routes");
    assert_eq!(close["timestamp"], "2025-11-03T14:30:45.008000+00:00");
    assert_eq!(
        close["metadata"],
        json!({
            "elapsed_ms": 8.0, "busy_ms": 3.0, "idle_ms": 5.0,
            "request_id": 7, "user": "ana", "password": "[REDACTED]", "status": 200
        })
    );
    assert!(!serde_json::to_string(close).unwrap().contains("hunter2"));
}

/// A span entered again and again (a task polled many times) adds up its entries; its
/// parents' fields follow as they do for events, the innermost first.
#[test]
fn a_span_entered_many_times_adds_up_its_entries() {
    let clock = clock();
    let lines = file_lines(true, &clock, || {
        let outer = tracing::warn_span!("job", job = "sync", attempt = 1);
        let _o = outer.enter();
        let span = tracing::debug_span!("step", attempt = 2);
        for _ in 0..3 {
            clock.advance(ms(10)); // idle
            let _in = span.enter();
            clock.advance(ms(1)); // busy
        }
        clock.advance(ms(4));
        drop(span);
    });
    let closes = closes(&lines);
    assert_eq!(closes.len(), 2, "{lines:#?}");
    assert_eq!(closes[0]["message"], "close step");
    assert_eq!(closes[0]["level"], "DEBUG");
    assert_eq!(
        closes[0]["metadata"],
        json!({"elapsed_ms": 37.0, "busy_ms": 3.0, "idle_ms": 34.0, "attempt": 2, "job": "sync"})
    );
    // The outer span, entered throughout, closes after it.
    assert_eq!(closes[1]["message"], "close job");
    assert_eq!(closes[1]["level"], "WARNING");
    assert_eq!(
        closes[1]["metadata"],
        json!({"elapsed_ms": 37.0, "busy_ms": 37.0, "idle_ms": 0.0, "job": "sync", "attempt": 1})
    );
}

/// Entered on several threads — one after another, and two at once — and closed on another:
/// busy counts the time some thread was inside, once.
#[test]
fn a_span_on_several_threads_counts_its_busy_time_once() {
    let clock = clock();
    let lines = file_lines(true, &clock, || {
        let span = tracing::info_span!("shared", n = 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _in = span.enter();
                clock.advance(ms(1));
            })
            .join()
            .unwrap();
            // Two threads inside at once for 2 ms: busy 2 ms, not 4.
            let (inside_tx, inside_rx) = mpsc::channel();
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (span, inside_tx) = (&span, inside_tx.clone());
                    let (leave_tx, leave_rx) = mpsc::channel::<()>();
                    let worker = s.spawn(move || {
                        let _in = span.enter();
                        inside_tx.send(()).unwrap();
                        leave_rx.recv().unwrap();
                    });
                    (leave_tx, worker)
                })
                .collect();
            inside_rx.recv().unwrap();
            inside_rx.recv().unwrap();
            clock.advance(ms(2));
            for (leave_tx, worker) in workers {
                leave_tx.send(()).unwrap();
                worker.join().unwrap();
            }
            clock.advance(ms(7));
        });
        // Closed on yet another thread.
        std::thread::spawn(move || drop(span)).join().unwrap();
    });
    let closes = closes(&lines);
    assert_eq!(closes.len(), 1, "{lines:#?}");
    assert_eq!(
        closes[0]["metadata"],
        json!({"elapsed_ms": 10.0, "busy_ms": 3.0, "idle_ms": 7.0, "n": 1})
    );
}

/// Off (the default), a span's close writes nothing.
#[test]
fn no_close_line_when_off() {
    let clock = clock();
    let lines = file_lines(false, &clock, || {
        let span = tracing::info_span!("subscribe", request_id = 7);
        span.in_scope(|| tracing::info!("inside"));
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["message"], "inside");
}

/// Through the crate's builder: the log filter that drops an event drops a span's close line
/// alike, and the console prints the same line in its own layout.
#[test]
fn the_log_filter_applies_and_the_console_prints_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (layer, guard) = actionlog::builder()
        .log_dir(dir.path())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .filter("info")
        .console(false)
        .actions(false)
        .span_close_lines(true)
        .build()
        .unwrap();
    let console = SharedBuf::default();
    let console_layer = ConsoleLayer::with_writer(console.clone())
        .timezone(Timezone::Utc)
        .clock(clock.clone())
        .span_close_lines(true);
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(console_layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug_span!("hidden", n = 1).in_scope(|| clock.advance(ms(1)));
        let span = tracing::info_span!(target: "app", "shown", token = "s3cr3t", n = 2);
        span.in_scope(|| clock.advance(ms(2)));
    });
    drop(guard);
    let lines = json_lines(&dir.path().join("2025-11-03.log"));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["message"], "close shown");
    assert_eq!(
        lines[0]["metadata"],
        json!({"elapsed_ms": 2.0, "busy_ms": 2.0, "idle_ms": 0.0, "token": "[REDACTED]", "n": 2})
    );
    assert_eq!(
        console.text(),
        "2025-11-03T14:30:45 INFO     [app] close shown {\"elapsed_ms\": 2.0, \"busy_ms\": 2.0, \
         \"idle_ms\": 0.0, \"token\": \"[REDACTED]\", \"n\": 2}\n"
    );
}
