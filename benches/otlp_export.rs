//! Records/s delivered to a loopback OTLP/HTTP receiver (protobuf, gzip): actionlog's
//! `sink::OtlpSink` against the opentelemetry-otlp log exporter (0.33: HTTP, protobuf, gzip,
//! reqwest's blocking client, its default HTTP client) sending the same records in the same
//! run; then, for scale, each side's whole path from the application's call to the receiver.
//!
//! Four senders, one after the other within each round:
//! - **exporter alone**: the records made beforehand (opentelemetry SDK log records for the
//!   peer, action records for the sink), sent 512 per request, each request answered before
//!   the next is sent (`LogExporter::export` awaited, `Sink::write` awaited);
//! - **whole path, opentelemetry**: `SdkLoggerProvider` with the SDK's batch processor over the
//!   same exporter, one `Logger::emit` per record (the record made in the loop, as an
//!   application would), batches of 512, a queue as large as the round so nothing is dropped
//!   (drops are counted at the receiver and reported), `force_flush` at the end;
//! - **whole path, actionlog**: action events emitted through `tracing` inside a request span
//!   (its `traceparent` gives the trace, its `ip_address` is inherited), the action layer
//!   behind `ActionFilter` delivering to the OTLP sink with batches of 512, a queue as large as
//!   the round, no spool (the SDK has none), `Guard::flush` at the end.
//!
//! The clock of a whole path runs from the first event to the receiver counting the last
//! record; that of an exporter alone from the first request to the last answer.
//!
//! What makes the comparison fair:
//! - the same records: every sender's records carry the fields and attributes actionlog's
//!   mapping (`src/sink/otlp/mapping.rs`) gives a completed action — `event_name`
//!   `actionlog.action`, severity 9 `INFO`, the result message as the body, the trace and span
//!   ids (no trace flags: actionlog sends none), the ten attributes under the same keys with the
//!   same value types, the details as one key-value list — under the same resource (only
//!   `service.name`) and scope (`actionlog` and its version). In the warm-up round the receiver
//!   keeps one record of each sender and the bench checks they have the same shape (keys,
//!   value types, ids' lengths), and the summary prints the bytes per record each one sent;
//! - the same batch size (512), the same compression (gzip; each library at its own level:
//!   actionlog's fastest, opentelemetry-otlp flate2's default, so the bytes differ and are
//!   printed), each request answered before the next;
//! - the same receiver: a threaded HTTP/1.1 server that gunzips each body, decodes it with
//!   opentelemetry-proto's messages, counts its records and only then answers 200 with an
//!   empty `ExportLogsServiceResponse`;
//! - rounds interleaved (a change in the machine's load falls on every sender alike), the
//!   first round a warm-up that is discarded (connections, allocator, caches), the median of
//!   the other rounds reported, with each round's ratios.
//!
//! Run: `cargo bench --features otlp --bench otlp_export` (it prints its summary only).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actionlog::sink::otlp::{Compression, Protocol};
use actionlog::sink::{Batch, OtlpSink, Sink};
use actionlog::{ActionFilter, ActionLayer, ActionRecord, PipelineConfig};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as ProtoValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as ProtoAny, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord as ProtoRecord;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter as _, SdkLogRecord,
    SdkLoggerProvider,
};
use prost::Message;
use tracing_subscriber::prelude::*;

/// Records per request, as both batch by default (opentelemetry's batch processor exports 512
/// at a time; actionlog's pipeline is set to the same).
const BATCH: usize = 512;
/// Records per sender and round.
const RECORDS: usize = 51_200;
/// Measured rounds per sender (the median is reported), after one warm-up round.
const ROUNDS: usize = 5;

/// The action every sender sends (the trace and span ids of `TRACEPARENT`).
const ACTION_TYPE: &str = "data_collection_start";
const STATUS: &str = "completed";
const SOURCE: &str = "ui_button";
const CLIENT: &str = "203.0.113.7";
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64)";
const RESULT: &str = "collected 30 days";
const DURATION: f64 = 0.25;
const LOOKBACK_DAYS: i64 = 30;
const SYMBOL: &str = "AAPL";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const SERVICE: &str = "bench";
/// Distinct user ids, taken in turn.
const USERS: usize = 50;

/// What the receiver has counted so far.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    records: u64,
    requests: u64,
    gzip_bytes: u64,
    plain_bytes: u64,
}

impl Tally {
    fn since(self, before: Tally) -> Tally {
        Tally {
            records: self.records - before.records,
            requests: self.requests - before.requests,
            gzip_bytes: self.gzip_bytes - before.gzip_bytes,
            plain_bytes: self.plain_bytes - before.plain_bytes,
        }
    }
}

/// The last request's resource attributes, scope and first record, for the shape check.
#[derive(Clone)]
struct Sample {
    resource: Vec<ProtoKeyValue>,
    scope: (String, String),
    record: ProtoRecord,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    requests: AtomicU64,
    gzip_bytes: AtomicU64,
    plain_bytes: AtomicU64,
    sample: Mutex<Option<Sample>>,
}

/// The loopback receiver every sender posts to.
struct Receiver {
    endpoint: String,
    counters: Arc<Counters>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/logs", listener.local_addr().unwrap());
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let counters = shared.clone();
                std::thread::spawn(move || serve(conn, &counters));
            }
        });
        Receiver { endpoint, counters }
    }

    fn tally(&self) -> Tally {
        let c = &self.counters;
        Tally {
            records: c.records.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
            gzip_bytes: c.gzip_bytes.load(Ordering::SeqCst),
            plain_bytes: c.plain_bytes.load(Ordering::SeqCst),
        }
    }

    /// Waits (polling, no spinning: the senders need the cores) until `n` records were counted
    /// or `limit` passed; whether they were.
    fn wait_for(&self, n: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.counters.records.load(Ordering::SeqCst) >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn take_sample(&self) -> Sample {
        self.counters.sample.lock().unwrap().take().unwrap()
    }
}

/// One keep-alive connection: each request gunzipped, decoded and counted, then answered 200
/// with an empty `ExportLogsServiceResponse`.
fn serve(conn: TcpStream, counters: &Counters) {
    conn.set_nodelay(true).unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    let mut plain = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        let mut gzip = false;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            let (k, v) = (k.to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                len = v.parse().unwrap();
            } else if k == "content-encoding" {
                gzip = v.eq_ignore_ascii_case("gzip");
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        assert!(gzip, "every sender compresses");
        plain.clear();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .unwrap();
        let req = ExportLogsServiceRequest::decode(&plain[..]).unwrap();
        let n: usize = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        let (rl, sl) = (&req.resource_logs[0], &req.resource_logs[0].scope_logs[0]);
        let scope = sl.scope.clone().unwrap_or_default();
        *counters.sample.lock().unwrap() = Some(Sample {
            resource: rl.resource.clone().unwrap_or_default().attributes,
            scope: (scope.name, scope.version),
            record: sl.log_records[0].clone(),
        });
        counters.requests.fetch_add(1, Ordering::SeqCst);
        counters
            .gzip_bytes
            .fetch_add(body.len() as u64, Ordering::SeqCst);
        counters
            .plain_bytes
            .fetch_add(plain.len() as u64, Ordering::SeqCst);
        // Counted before the answer: a sender whose last request was answered is complete.
        counters.records.fetch_add(n as u64, Ordering::SeqCst);
        out.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap();
    }
}

/// The kind of an OTLP value, and the kinds of a key-value list's entries by key.
fn kind(v: &Option<ProtoAny>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        None => "empty".into(),
        Some(ProtoValue::StringValue(_)) => "string".into(),
        Some(ProtoValue::IntValue(_)) => "int".into(),
        Some(ProtoValue::DoubleValue(_)) => "double".into(),
        Some(ProtoValue::BoolValue(_)) => "bool".into(),
        Some(ProtoValue::ArrayValue(_)) => "array".into(),
        Some(ProtoValue::BytesValue(_)) => "bytes".into(),
        Some(ProtoValue::KvlistValue(kv)) => format!("{{{}}}", kinds(&kv.values)),
        Some(_) => "other".into(),
    }
}

fn kinds(kvs: &[ProtoKeyValue]) -> String {
    let mut v: Vec<String> = kvs
        .iter()
        .map(|kv| format!("{}:{}", kv.key, kind(&kv.value)))
        .collect();
    v.sort();
    v.join(",")
}

/// What must be alike in every sender's records: all but the ids' and times' values.
fn shape(s: &Sample) -> String {
    let r = &s.record;
    let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(ProtoValue::StringValue(b)) => b.clone(),
        _ => "not a string".into(),
    };
    let resource: Vec<String> = s
        .resource
        .iter()
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    format!(
        "resource [{}] scope {:?} event {} severity {} {} body {body:?} attributes [{}] \
         trace id {} bytes, span id {} bytes, flags {}, times set: {}",
        resource.join(","),
        s.scope,
        r.event_name,
        r.severity_number,
        r.severity_text,
        kinds(&r.attributes),
        r.trace_id.len(),
        r.span_id.len(),
        r.flags,
        r.time_unix_nano > 0 && r.observed_time_unix_nano > 0,
    )
}

/// The action records of the exporter-alone round: the action every sender sends.
fn actions(n: usize, users: &[&'static str]) -> Vec<ActionRecord> {
    (0..n)
        .map(|i| {
            let mut r = ActionRecord::blank(uuid::Uuid::now_v7(), ACTION_TYPE);
            r.status = STATUS.into();
            r.user_id = Some(users[i % USERS].into());
            r.source = Some(SOURCE.into());
            r.ip_address = Some(CLIENT.into());
            r.user_agent = Some(USER_AGENT.into());
            r.result_message = Some(RESULT.into());
            r.request_duration_seconds = Some(DURATION);
            r.action_details
                .insert("lookback_days".into(), LOOKBACK_DAYS.into());
            r.action_details.insert("symbol".into(), SYMBOL.into());
            r.trace_id = Some(TRACE_ID.into());
            r.span_id = Some(SPAN_ID.into());
            r
        })
        .collect()
}

/// Fills `rec` as actionlog's mapping fills the log record of that action: the same fields,
/// the same attribute keys in the same order, the same value types.
fn fill(
    rec: &mut SdkLogRecord,
    id: String,
    at: SystemTime,
    user: &'static str,
    ids: (TraceId, SpanId),
) {
    rec.set_event_name("actionlog.action");
    rec.set_timestamp(at);
    rec.set_severity_number(Severity::Info);
    rec.set_severity_text("INFO");
    rec.set_body(AnyValue::from(RESULT));
    // No flags: actionlog sends none.
    rec.set_trace_context(ids.0, ids.1, None);
    rec.add_attribute("actionlog.action_id", id);
    rec.add_attribute("actionlog.action_type", ACTION_TYPE);
    rec.add_attribute("actionlog.status", STATUS);
    rec.add_attribute("user.id", user);
    rec.add_attribute("client.address", CLIENT);
    rec.add_attribute("user_agent.original", USER_AGENT);
    rec.add_attribute("actionlog.result_message", RESULT);
    rec.add_attribute("actionlog.source", SOURCE);
    rec.add_attribute("actionlog.duration_seconds", DURATION);
    let details: HashMap<Key, AnyValue> = [
        (Key::from("lookback_days"), AnyValue::Int(LOOKBACK_DAYS)),
        (Key::from("symbol"), AnyValue::from(SYMBOL)),
    ]
    .into_iter()
    .collect();
    rec.add_attribute("actionlog.details", AnyValue::Map(Box::new(details)));
}

/// One action event, as an application records a completed action.
#[inline(never)]
fn emit_action(user: &'static str) {
    tracing::info!(
        action_type = ACTION_TYPE,
        status = STATUS,
        user_id = user,
        source = SOURCE,
        user_agent = USER_AGENT,
        result_message = RESULT,
        request_duration_seconds = DURATION,
        lookback_days = LOOKBACK_DAYS,
        symbol = SYMBOL,
    );
}

fn peer_exporter(receiver: &Receiver) -> opentelemetry_otlp::LogExporter {
    opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_endpoint(receiver.endpoint.as_str())
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .build()
        .unwrap()
}

fn our_sink(receiver: &Receiver) -> OtlpSink {
    OtlpSink::builder()
        .environment(false)
        .endpoint(receiver.endpoint.as_str())
        .protocol(Protocol::HttpProtobuf)
        .compression(Compression::Gzip)
        .service_name(SERVICE)
        .build()
        .unwrap()
}

/// Only `service.name`, as actionlog's sink sends it when no other resource attribute is set.
fn resource() -> Resource {
    Resource::builder_empty().with_service_name(SERVICE).build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("actionlog")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Drives the exporter's future on this thread: with reqwest's blocking client it does its
/// work within the first poll (and a tokio runtime would refuse the blocking client).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One sender's figures over the measured rounds.
#[derive(Default)]
struct Runs {
    rates: Vec<f64>,
    tally: Tally,
    dropped: u64,
}

impl Runs {
    fn add(&mut self, rate: f64, t: Tally) {
        self.rates.push(rate);
        self.tally.records += t.records;
        self.tally.requests += t.requests;
        self.tally.gzip_bytes += t.gzip_bytes;
        self.tally.plain_bytes += t.plain_bytes;
    }

    fn line(&self, name: &str) -> String {
        let t = self.tally;
        let per = |b: u64| b as f64 / t.records.max(1) as f64;
        format!(
            "  {name:<36} {:>9.0} records/s   {:>5.1} records/request, {:>5.1} bytes/record gzip ({:.1} plain){}",
            median(&self.rates),
            t.records as f64 / t.requests.max(1) as f64,
            per(t.gzip_bytes),
            per(t.plain_bytes),
            if self.dropped > 0 {
                format!(", {} DROPPED", self.dropped)
            } else {
                String::new()
            }
        )
    }
}

fn ratios(ours: &Runs, peer: &Runs) -> String {
    ours.rates
        .iter()
        .zip(&peer.rates)
        .map(|(o, p)| format!("{:.2}", o / p))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let receiver = Receiver::start();
    let users: Vec<&'static str> = (0..USERS)
        .map(|i| &*Box::leak(format!("user{i}").into_boxed_str()))
        .collect();
    let ids = (
        TraceId::from_hex(TRACE_ID).unwrap(),
        SpanId::from_hex(SPAN_ID).unwrap(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Exporters alone: the records made once, sent batch by batch.
    let records = actions(RECORDS, &users);
    let batches: Vec<Batch<ActionRecord>> =
        records.chunks(BATCH).map(|c| c.to_vec().into()).collect();
    let scope = scope();
    let made = SdkLoggerProvider::builder().build().logger("records");
    let sdk_records: Vec<SdkLogRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut rec = made.create_log_record();
            fill(
                &mut rec,
                r.id.to_string(),
                SystemTime::from(r.action_timestamp),
                users[i % USERS],
                ids,
            );
            rec.set_observed_timestamp(SystemTime::now());
            rec
        })
        .collect();
    let mut peer = peer_exporter(&receiver);
    peer.set_resource(&resource());
    let mut sink = our_sink(&receiver);

    // The opentelemetry SDK's whole path.
    let processor = BatchLogProcessor::builder(peer_exporter(&receiver))
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(RECORDS)
                .with_max_export_batch_size(BATCH)
                .build(),
        )
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_resource(resource())
        .with_log_processor(processor)
        .build();
    let logger = provider.logger_with_scope(scope.clone());

    // actionlog's whole path.
    let dead = tempfile::tempdir().unwrap();
    let (layer, guard) = ActionLayer::builder(our_sink(&receiver))
        .pipeline(
            PipelineConfig::default()
                .batch_size(BATCH)
                .queue_capacity(RECORDS)
                .no_spool()
                .dead_letter_dir(dead.path()),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer.with_filter(ActionFilter)),
    );

    let mut expected = receiver.tally().records;
    let (mut peer_alone, mut our_alone, mut peer_path, mut our_path) = (
        Runs::default(),
        Runs::default(),
        Runs::default(),
        Runs::default(),
    );
    for round in 0..=ROUNDS {
        let warm_up = round == 0;
        let mut shapes = Vec::new();

        // opentelemetry-otlp's exporter alone.
        let before = receiver.tally();
        let start = Instant::now();
        for chunk in sdk_records.chunks(BATCH) {
            let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                chunk.iter().map(|r| (r, &scope)).collect();
            block_on(peer.export(LogBatch::new(&refs))).unwrap();
        }
        expected += RECORDS as u64;
        assert!(receiver.wait_for(expected, Duration::from_secs(60)));
        let rate = RECORDS as f64 / start.elapsed().as_secs_f64();
        shapes.push(("opentelemetry-otlp exporter", receiver.take_sample()));
        if !warm_up {
            peer_alone.add(rate, receiver.tally().since(before));
        }

        // actionlog's sink alone.
        let before = receiver.tally();
        let start = Instant::now();
        for b in &batches {
            rt.block_on(sink.write(b)).unwrap();
        }
        expected += RECORDS as u64;
        assert!(receiver.wait_for(expected, Duration::from_secs(60)));
        let rate = RECORDS as f64 / start.elapsed().as_secs_f64();
        shapes.push(("actionlog OtlpSink", receiver.take_sample()));
        if !warm_up {
            our_alone.add(rate, receiver.tally().since(before));
        }

        // The opentelemetry SDK's whole path: a record made and emitted per action.
        let before = receiver.tally();
        let start = Instant::now();
        for i in 0..RECORDS {
            let mut rec = logger.create_log_record();
            fill(
                &mut rec,
                uuid::Uuid::now_v7().to_string(),
                SystemTime::now(),
                users[i % USERS],
                ids,
            );
            logger.emit(rec);
        }
        provider.force_flush().unwrap();
        let complete = receiver.wait_for(expected + RECORDS as u64, Duration::from_secs(10));
        let elapsed = start.elapsed().as_secs_f64();
        let got = receiver.tally().since(before);
        // Whatever did not arrive after the flush was dropped by the processor.
        expected += got.records;
        shapes.push(("opentelemetry SDK batch processor", receiver.take_sample()));
        if !warm_up {
            peer_path.dropped += RECORDS as u64 - got.records;
            peer_path.add(got.records as f64 / elapsed, got);
        }
        if !complete {
            eprintln!(
                "the SDK's batch processor dropped {} records",
                RECORDS as u64 - got.records
            );
        }

        // actionlog's whole path: action events through tracing.
        let before = receiver.tally();
        let stats = guard.stats();
        let start = Instant::now();
        tracing::dispatcher::with_default(&dispatch, || {
            let request =
                tracing::info_span!("request", traceparent = TRACEPARENT, ip_address = CLIENT);
            let _in = request.enter();
            for i in 0..RECORDS {
                emit_action(users[i % USERS]);
            }
        });
        assert!(guard.flush());
        expected += RECORDS as u64;
        assert!(receiver.wait_for(expected, Duration::from_secs(60)));
        let rate = RECORDS as f64 / start.elapsed().as_secs_f64();
        let after = guard.stats();
        assert_eq!(
            after.actions_recorded - stats.actions_recorded,
            RECORDS as u64
        );
        assert_eq!(after.actions_dropped, stats.actions_dropped);
        shapes.push(("actionlog action events", receiver.take_sample()));
        if !warm_up {
            our_path.add(rate, receiver.tally().since(before));
        }

        if warm_up {
            let first = shape(&shapes[0].1);
            for (name, s) in &shapes[1..] {
                assert_eq!(
                    shape(s),
                    first,
                    "{name}'s records differ from {}'s",
                    shapes[0].0
                );
            }
        }
    }
    let _ = provider.shutdown();
    let _ = guard.shutdown(Duration::from_secs(10));

    println!(
        "otlp_export: OTLP/HTTP protobuf + gzip to a loopback receiver, batches of {BATCH}, \
         {RECORDS} records per sender and round, median of {ROUNDS} interleaved rounds (1 warm-up discarded)"
    );
    println!("exporter alone (records made beforehand, each request answered before the next):");
    println!("{}", peer_alone.line("opentelemetry-otlp LogExporter"));
    println!("{}", our_alone.line("actionlog OtlpSink"));
    println!(
        "  actionlog / opentelemetry-otlp: {:.2}x (per round {})",
        median(&our_alone.rates) / median(&peer_alone.rates),
        ratios(&our_alone, &peer_alone)
    );
    println!("whole path (first call to the receiver counting the last record):");
    println!("{}", peer_path.line("opentelemetry SDK batch processor"));
    println!("{}", our_path.line("actionlog action events"));
    println!(
        "  actionlog / opentelemetry SDK: {:.2}x (per round {})",
        median(&our_path.rates) / median(&peer_path.rates),
        ratios(&our_path, &peer_path)
    );
    println!(
        "every sender's records checked alike: resource, scope, event name, severity, body, \
         attribute keys and value types, id lengths"
    );
}
