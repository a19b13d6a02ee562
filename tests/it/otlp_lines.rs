//! The log lines shipped to an OpenTelemetry collector (`Builder::ship_lines` with the OTLP
//! sink), against the loopback receiver (`common::otlp`, decoding every request with the
//! official definitions): each line arrives as a log record mapped from the day file's line —
//! severity, body, the logger as the scope, metadata as typed attributes, the same trace and
//! span ids as the day file's line, secrets redacted — over protobuf and JSON alike; with the
//! day files off nothing but the spool is ever written under the log directory; a collector
//! down for a while loses no line while the action records go on reaching their store; a
//! shutdown while it is down spools the lines and the next run replays them; a sink that does
//! not take lines fails `build`; and the store of lines' counters add up, drops and dead
//! letters included.
#![cfg(all(feature = "otlp", feature = "sqlite"))]

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actionlog::sink::SqliteSink;
use actionlog::sink::otlp::{OtlpSink, Protocol};
use actionlog::{Carries, Error, Overflow, Stats, StoreStats};
use common::otlp::{Fault, Receiver, attr, str_attr};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use tracing::Dispatch;
use tracing_subscriber::Registry;
use tracing_subscriber::prelude::*;

fn sink(rx: &Receiver, protocol: Protocol) -> OtlpSink {
    OtlpSink::builder()
        .environment(false)
        .endpoint(rx.endpoint())
        .protocol(protocol)
        .service_name("lines-test")
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The builder every test starts from: `dir` the log directory, no console, UTC.
fn builder(dir: &Path) -> actionlog::Builder {
    actionlog::builder()
        .log_dir(dir)
        .console(false)
        .timezone(actionlog::Timezone::Utc)
        .signals(false)
        .panic_hook(false)
}

/// The dispatcher of `layer`, for emitting on any thread.
fn dispatch(layer: impl tracing_subscriber::Layer<Registry> + Send + Sync + 'static) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The store of lines among `stores`, checked to be there once.
fn lines_store(stores: &[StoreStats]) -> StoreStats {
    let lines: Vec<&StoreStats> = stores
        .iter()
        .filter(|s| s.carries == Carries::Lines)
        .collect();
    assert_eq!(lines.len(), 1, "{stores:?}");
    assert_eq!(lines[0].sink, "otlp");
    lines[0].clone()
}

/// The accounting of a store whose queue is empty.
fn assert_accounted(s: &Stats) {
    assert_eq!(
        s.actions_recorded + s.actions_replayed,
        s.actions_delivered + s.actions_dead_lettered + s.actions_dropped + s.actions_spooled,
        "lines unaccounted for: {s:?}"
    );
}

/// The integer attribute `key`.
fn int_attr(r: &LogRecord, key: &str) -> Option<i64> {
    match attr(&r.attributes, key)? {
        Value::IntValue(n) => Some(*n),
        _ => None,
    }
}

/// The `n` attribute of every line the receiver kept.
fn kept_ns(rx: &Receiver) -> Vec<i64> {
    rx.accepted()
        .iter()
        .filter_map(|r| int_attr(r, "n"))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The store of lines' directory under `log_dir`: `stores/otlp-<hash>-lines/`.
fn lines_dir(log_dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(log_dir.join("stores"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-lines"))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn lines_arrive_mapped_with_the_ids_of_the_day_files_lines() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let rx = Receiver::start();
        let dir = tempfile::tempdir().unwrap();
        let (layer, guard) = builder(dir.path())
            .actions(false)
            .filter("trace")
            .ship_lines(sink(&rx, protocol))
            .build::<Registry>()
            .unwrap();
        tracing::dispatcher::with_default(&dispatch(layer), || {
            tracing::info!(target: "app::boot", "outside every span");
            let span = tracing::info_span!("checkout", request_id = 7);
            let _in = span.enter();
            tracing::warn!(
                target: "app::disk",
                free = 12u64,
                delta = -3i64,
                ratio = 0.5,
                ok = false,
                path = "/srv",
                password = "hunter2",
                "disk low"
            );
            tracing::trace!(target: "app::web", "a trace line");
            tracing::debug!(target: "app::web", "a debug line");
            tracing::error!(target: "app::web", "an error line");
        });
        assert!(guard.flush());
        let day = common::day_files(dir.path());
        assert_eq!(day.len(), 1);
        let lines = common::json_lines(&day[0]);
        assert_eq!(lines.len(), 5, "{lines:?}");

        let requests = rx.received();
        assert!(
            requests
                .iter()
                .all(|r| r.status == 200 && r.json == (protocol == Protocol::HttpJson))
        );
        let resource = &requests[0].request.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert_eq!(str_attr(resource, "service.name"), Some("lines-test"));
        let records: HashMap<String, (String, LogRecord)> = requests
            .iter()
            .flat_map(|r| r.scoped_records())
            .map(
                |(scope, r)| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(Value::StringValue(body)) => (body.clone(), (scope, r)),
                    other => panic!("a body that is not a string: {other:?}"),
                },
            )
            .collect();
        assert_eq!(records.len(), lines.len(), "one record per day-file line");

        for line in &lines {
            let message = line["message"].as_str().unwrap();
            let (scope, r) = &records[message];
            assert_eq!(scope, line["logger"].as_str().unwrap(), "{message}");
            let level = line["level"].as_str().unwrap();
            assert_eq!(r.severity_text, level);
            let number = match level {
                "TRACE" => 1,
                "DEBUG" => 5,
                "INFO" => 9,
                "WARNING" => 13,
                "ERROR" => 17,
                other => panic!("level {other}"),
            };
            assert_eq!(r.severity_number, number, "{level}");
            let at =
                chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).unwrap();
            assert_eq!(r.time_unix_nano, at.timestamp_nanos_opt().unwrap() as u64);
            assert!(r.observed_time_unix_nano >= r.time_unix_nano);
            assert_eq!(r.event_name, "", "a plain line is not an event");
            // The same ids as the day file's line for the same event (none outside a span).
            assert_eq!(
                hex(&r.trace_id),
                line["trace_id"].as_str().unwrap_or(""),
                "{message}"
            );
            assert_eq!(
                hex(&r.span_id),
                line["span_id"].as_str().unwrap_or(""),
                "{message}"
            );
            let metadata = line["metadata"].as_object().unwrap();
            assert_eq!(r.attributes.len(), metadata.len(), "{message}");
        }
        let (_, disk) = &records["disk low"];
        assert_eq!(disk.trace_id.len(), 16);
        assert_eq!(int_attr(disk, "free"), Some(12));
        assert_eq!(int_attr(disk, "delta"), Some(-3));
        assert_eq!(int_attr(disk, "request_id"), Some(7), "the span's field");
        assert_eq!(
            attr(&disk.attributes, "ratio"),
            Some(&Value::DoubleValue(0.5))
        );
        assert_eq!(attr(&disk.attributes, "ok"), Some(&Value::BoolValue(false)));
        assert_eq!(str_attr(&disk.attributes, "path"), Some("/srv"));
        assert_eq!(str_attr(&disk.attributes, "password"), Some("[REDACTED]"));
        assert!(
            !requests
                .iter()
                .any(|r| String::from_utf8_lossy(&r.raw).contains("hunter2"))
        );
        assert!(records["outside every span"].1.trace_id.is_empty());

        let done = guard.shutdown(Duration::from_secs(10));
        assert!(done.complete);
        assert_eq!(done.stats.lines_written, 5);
        assert_eq!(
            done.stats.actions_recorded, 0,
            "lines are not in the action totals"
        );
        let store = lines_store(&done.stores);
        assert_eq!(store.stats.actions_delivered, 5);
        assert_accounted(&store.stats);
        assert!(rx.violations().is_empty(), "{:?}", rx.violations());
    }
}

#[test]
fn with_the_day_files_off_only_the_collector_gets_the_lines() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (layer, guard) = builder(&logs)
        .actions(false)
        .day_files(false)
        .ship_lines(sink(&rx, Protocol::HttpProtobuf))
        .build::<Registry>()
        .unwrap();
    let d = dispatch(layer);
    std::thread::scope(|s| {
        for t in 0..2i64 {
            let d = &d;
            s.spawn(move || {
                tracing::dispatcher::with_default(d, || {
                    for i in 0..250i64 {
                        tracing::info!(n = t * 1000 + i, "shipped only");
                    }
                })
            });
        }
    });
    drop(d);
    let done = guard.shutdown(Duration::from_secs(10));
    assert!(done.complete);
    assert_eq!(done.stats.lines_written, 0, "no day file, no stdout");
    let store = lines_store(&done.stores);
    assert_eq!(store.stats.actions_recorded, 500);
    assert_eq!(store.stats.actions_delivered, 500);
    assert_accounted(&store.stats);
    let kept: BTreeSet<i64> = kept_ns(&rx).into_iter().collect();
    let sent: BTreeSet<i64> = (0..2)
        .flat_map(|t| (0..250).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(kept, sent);
    // Nothing under the log directory but, had the collector been slow, the spool of lines.
    let spool = store.spool_dir.clone().unwrap();
    assert!(spool.starts_with(logs.join("stores")), "{spool:?}");
    for f in files_under(dir.path()) {
        assert!(f.starts_with(&spool), "{} was written", f.display());
    }
}

#[test]
fn a_collector_down_for_a_while_loses_no_line_and_the_audit_trail_does_not_wait() {
    let rx = Receiver::start();
    rx.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let (layer, guard) = builder(dir.path())
        .day_files(false)
        .sink(SqliteSink::open(&db).unwrap())
        .ship_lines_with(sink(&rx, Protocol::HttpProtobuf), |p| {
            // A small queue: it spills to the spool long before the collector is back.
            p.queue_capacity(64)
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
        })
        .build::<Registry>()
        .unwrap();
    const LINES: i64 = 1000;
    const ACTIONS: i64 = 20;
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for n in 0..LINES {
            tracing::info!(n, "while the collector is down");
            if n % (LINES / ACTIONS) == 0 {
                // An action is a line too (it passes the log filter).
                tracing::info!(n = LINES + n, action_type = "order_paid", "paid");
            }
        }
    });
    // The audit trail does not wait for the lines: every record reaches SQLite meanwhile.
    common::wait_until(
        "the action records in SQLite",
        Duration::from_secs(20),
        || guard.store_stats()[0].stats.actions_delivered == ACTIONS as u64,
    );
    let count: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM action_logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, ACTIONS);
    let store = lines_store(&guard.store_stats());
    assert_eq!(store.stats.actions_delivered, 0);
    assert!(rx.accepted().is_empty());
    assert_eq!(store.carries, Carries::Lines);
    common::wait_until("lines spooled while down", Duration::from_secs(20), || {
        lines_store(&guard.store_stats()).stats.actions_spooled > 0
    });

    rx.set_down(false);
    let total = (LINES + ACTIONS) as usize;
    common::wait_until(
        "every line at the collector",
        Duration::from_secs(60),
        || kept_ns(&rx).into_iter().collect::<BTreeSet<_>>().len() == total,
    );
    let done = guard.shutdown(Duration::from_secs(10));
    assert!(done.complete);
    let store = lines_store(&done.stores);
    assert_eq!(store.stats.actions_recorded, total as u64);
    assert_eq!(store.stats.actions_dropped, 0);
    assert_eq!(store.stats.actions_dead_lettered, 0);
    assert!(store.stats.actions_retried > 0);
    assert_accounted(&store.stats);
    let mut expected: BTreeSet<i64> = (0..LINES).collect();
    expected.extend(
        (0..LINES)
            .step_by((LINES / ACTIONS) as usize)
            .map(|n| LINES + n),
    );
    assert_eq!(kept_ns(&rx).into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(done.stores[0].carries, Carries::Records, "records first");
    assert_eq!(done.stores[0].stats.actions_delivered, ACTIONS as u64);
}

#[test]
fn a_shutdown_while_the_collector_is_down_spools_the_lines_and_the_next_run_replays_them() {
    let rx = Receiver::start();
    rx.set_down_with(Fault::Reset);
    let dir = tempfile::tempdir().unwrap();
    let run = |n: std::ops::Range<i64>| {
        let (layer, guard) = builder(dir.path())
            .actions(false)
            .day_files(false)
            .ship_lines_with(sink(&rx, Protocol::HttpProtobuf), |p| {
                p.retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
            })
            .build::<Registry>()
            .unwrap();
        tracing::dispatcher::with_default(&dispatch(layer), || {
            for n in n {
                tracing::info!(n, "a line");
            }
        });
        guard
    };

    let first = run(0..300).shutdown(Duration::from_secs(3));
    assert!(first.complete);
    let store = lines_store(&first.stores);
    assert_eq!(store.stats.actions_spooled, 300);
    assert_eq!(store.stats.actions_delivered, 0);
    assert_accounted(&store.stats);
    assert!(rx.accepted().is_empty());
    let spool = lines_dir(dir.path()).join("spool");
    assert_eq!(store.spool_dir.as_deref(), Some(spool.as_path()));
    let segments = || {
        std::fs::read_dir(&spool)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("seg-")
                })
                .count()
            })
            .unwrap_or(0)
    };
    assert!(segments() > 0, "the lines wait in {}", spool.display());

    rx.set_down(false);
    let guard = run(1000..1005);
    common::wait_until(
        "the first run's lines replayed",
        Duration::from_secs(30),
        || kept_ns(&rx).into_iter().collect::<BTreeSet<_>>().len() == 305,
    );
    let second = guard.shutdown(Duration::from_secs(10));
    assert!(second.complete);
    let store = lines_store(&second.stores);
    assert_eq!(store.stats.actions_replayed, 300);
    assert_eq!(store.stats.actions_delivered, 305);
    assert_accounted(&store.stats);
    let expected: BTreeSet<i64> = (0..300).chain(1000..1005).collect();
    assert_eq!(kept_ns(&rx).into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(segments(), 0, "delivered segments are deleted");
}

#[test]
fn a_sink_that_does_not_take_lines_fails_build() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let sqlite = || SqliteSink::open(dir.path().join("actions.db")).unwrap();
    let err = builder(&logs)
        .actions(false)
        .ship_lines(sqlite())
        .build::<Registry>()
        .err()
        .expect("refused");
    match &err {
        Error::Config(why) => assert!(why.contains("does not take log lines"), "{err}"),
        other => panic!("not a configuration error: {other}"),
    }
    assert!(!logs.exists(), "nothing was made before the refusal");
    let err = actionlog::FileLayer::builder(&logs)
        .day_files(false)
        .ship_lines(sqlite())
        .build()
        .expect_err("refused");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn the_store_of_lines_counts_drops_and_dead_letters_and_they_add_up() {
    let rx = Receiver::start();
    // The first batch taken only in part: dead-lettered whole. The second held until released.
    rx.push(Fault::PartialSuccess(1, "too old".into()));
    rx.push(Fault::Held);
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = builder(dir.path())
        .actions(false)
        .ship_lines_with(sink(&rx, Protocol::HttpProtobuf), |p| {
            p.queue_capacity(4)
                .no_spool()
                .overflow(Overflow::DropNewest)
        })
        .build::<Registry>()
        .unwrap();
    let d = dispatch(layer);
    let emit = |n: std::ops::Range<i64>| {
        tracing::dispatcher::with_default(&d, || {
            for n in n {
                tracing::info!(n, "counted");
            }
        })
    };
    emit(0..3);
    assert!(guard.flush());
    emit(3..4);
    common::wait_until("the held request", Duration::from_secs(10), || {
        rx.received().len() == 2
    });
    // The worker is held in that request: four lines fit in the queue, the rest are dropped.
    emit(4..104);
    common::wait_until("the drops counted", Duration::from_secs(10), || {
        lines_store(&guard.store_stats()).stats.actions_dropped == 96
    });
    rx.release();
    let done = guard.shutdown(Duration::from_secs(10));
    assert!(done.complete);
    assert_eq!(
        done.stats.lines_written, 104,
        "the day files keep every line"
    );
    let s = lines_store(&done.stores).stats;
    assert_eq!(s.actions_recorded, 104);
    assert_eq!(s.actions_dead_lettered, 3);
    assert_eq!(s.actions_partially_rejected, 1);
    assert_eq!(s.actions_dropped, 96);
    assert_eq!(s.actions_delivered, 5);
    assert_eq!(s.actions_spooled, 0);
    assert_accounted(&s);
    // The receiver kept two of the first three, then the held one and the four queued.
    assert_eq!(rx.accepted().len() as u64, s.actions_delivered + 2);

    let letters = common::actions::dead_letters(&lines_dir(dir.path()).join("dead-letter"));
    assert_eq!(letters.len(), 3);
    for l in &letters {
        assert_eq!(l["sink"], "otlp");
        assert_eq!(l["record"]["_table"], "log_lines");
        let line: serde_json::Value =
            serde_json::from_str(l["record"]["line"].as_str().unwrap()).unwrap();
        assert_eq!(line["message"], "counted");
    }
}
