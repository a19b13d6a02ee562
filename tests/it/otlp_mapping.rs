//! The OTLP sink's log records, decoded by a loopback receiver with the official OTLP
//! definitions (`common::otlp`, standing in for a collector): every action record and job run
//! arrives as one log record with the event name, times, severity, trace context, body,
//! attributes, resource and scope the README's mapping says; and the OTLP/JSON encoding,
//! decoded through opentelemetry-proto's serde support, is the same data as the protobuf one,
//! written as the JSON mapping requires (hex ids, enum numbers, camelCase names, 64-bit
//! integers as strings).
#![cfg(feature = "otlp")]

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use actionlog::sink::otlp::{Compression, OtlpSink, Protocol};
use actionlog::sink::{Batch, Sink};
use actionlog::{ActionRecord, JobExecution, ManualClock};
use common::otlp::{Receiver, attr, str_attr};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::json;

const KEY: &str = "CANARY-otlp-key-51c0";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];

fn nanos(t: &str) -> u64 {
    common::utc(t).timestamp_nanos_opt().unwrap() as u64
}

/// The last record of each `id_key` value (an action's latest state), by that value.
fn by_id<'a>(records: &'a [LogRecord], id_key: &str) -> HashMap<String, &'a LogRecord> {
    records
        .iter()
        .filter_map(|r| Some((str_attr(&r.attributes, id_key)?.to_owned(), r)))
        .collect()
}

fn kvlist(attrs: &[KeyValue], key: &str) -> HashMap<String, Value> {
    match attr(attrs, key) {
        Some(Value::KvlistValue(kv)) => kv
            .values
            .iter()
            // The empty value (a JSON null) is left out here; see its own check.
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
            .collect(),
        other => panic!("{key} is not a kvlist: {other:?}"),
    }
}

fn string(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(s.into())),
    })
}

#[test]
fn every_record_arrives_mapped_as_specified() {
    let rx = Receiver::start();
    let dead = tempfile::tempdir().unwrap();
    let sink = OtlpSink::builder()
        .environment(false)
        .endpoint(rx.endpoint())
        .header("api-key", KEY)
        .service_name("tracker")
        .resource_attribute("deployment.environment.name", "test")
        .build()
        .unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let guard = common::jobs::with_jobs(sink, dead.path(), &clock, "info", 64 * 1024, || {
        tracing::info_span!("request", traceparent = TRACEPARENT).in_scope(|| {
            tracing::info_span!(
                "order",
                action_type = "order_paid",
                user_id = "ana",
                client.address = "203.0.113.7:52100",
                user_agent.original = "curl/8.5",
                source = "api",
                result_message = "paid",
                amount = 12,
                ratio = 0.5,
                gift = true,
                note = "two \"quoted\" words",
            )
            .in_scope(|| clock.advance(chrono::Duration::milliseconds(1500)));
        });
        tracing::error!(
            action_type = "refund",
            error = "card declined",
            "refund failed"
        );
        common::jobs::workload(&clock);
    });
    let done = guard.shutdown(Duration::from_secs(10));
    common::actions::assert_accounted(&done.stats);
    assert!(done.complete);
    assert_eq!(done.stats.actions_delivered, done.stats.actions_recorded);
    assert_eq!(done.stats.actions_dead_lettered, 0);
    assert!(rx.violations().is_empty(), "{:?}", rx.violations());

    let requests = rx.received();
    for r in &requests {
        assert_eq!(r.header("api-key"), Some(KEY));
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert!(!r.gzip && !r.json);
        assert!(r.header("user-agent").unwrap().starts_with("actionlog/"));
        let [resource_logs] = &r.request.resource_logs[..] else {
            panic!("one resource per request")
        };
        let resource = &resource_logs.resource.as_ref().unwrap().attributes;
        assert_eq!(str_attr(resource, "service.name"), Some("tracker"));
        assert_eq!(
            str_attr(resource, "deployment.environment.name"),
            Some("test")
        );
        let [scope_logs] = &resource_logs.scope_logs[..] else {
            panic!("one scope per request")
        };
        let scope = scope_logs.scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("actionlog", env!("CARGO_PKG_VERSION"))
        );
    }
    let records = rx.accepted();
    for r in &records {
        assert!(r.observed_time_unix_nano > 0);
        assert!(r.time_unix_nano > 0);
    }
    let (actions, jobs): (Vec<LogRecord>, Vec<LogRecord>) = records
        .into_iter()
        .partition(|r| r.event_name == "actionlog.action");
    assert!(
        jobs.iter()
            .all(|r| r.event_name == "actionlog.job_execution")
    );

    let actions = by_id(&actions, "actionlog.action_id");
    let of_type = |t: &str| {
        *actions
            .values()
            .find(|r| str_attr(&r.attributes, "actionlog.action_type") == Some(t))
            .unwrap_or_else(|| panic!("no {t}"))
    };
    // The span action, in its final state.
    let order = of_type("order_paid");
    let a = &order.attributes;
    uuid::Uuid::parse_str(str_attr(a, "actionlog.action_id").unwrap()).unwrap();
    assert_eq!(str_attr(a, "actionlog.status"), Some("completed"));
    assert_eq!(str_attr(a, "user.id"), Some("ana"));
    assert_eq!(str_attr(a, "client.address"), Some("203.0.113.7"));
    assert_eq!(str_attr(a, "user_agent.original"), Some("curl/8.5"));
    assert_eq!(str_attr(a, "actionlog.source"), Some("api"));
    assert_eq!(str_attr(a, "actionlog.result_message"), Some("paid"));
    assert_eq!(str_attr(a, "error.message"), None);
    assert_eq!(
        attr(a, "actionlog.duration_seconds"),
        Some(&Value::DoubleValue(1.5))
    );
    let details = kvlist(a, "actionlog.details");
    assert_eq!(details["amount"], Value::IntValue(12));
    assert_eq!(details["ratio"], Value::DoubleValue(0.5));
    assert_eq!(details["gift"], Value::BoolValue(true));
    assert_eq!(
        details["note"],
        Value::StringValue("two \"quoted\" words".into())
    );
    assert_eq!(order.time_unix_nano, nanos("2025-11-03T14:30:45Z"));
    assert_eq!(
        (order.severity_number, order.severity_text.as_str()),
        (9, "INFO")
    );
    assert_eq!(order.body, string("paid"));
    // In the caller's trace, with a span id of its own.
    assert_eq!(order.trace_id, TRACE_ID);
    assert_eq!(order.span_id.len(), 8);
    assert_ne!(
        order.span_id,
        [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert_eq!(order.flags, 0);

    // A failed one-shot action: ERROR, its error as body and `error.message`.
    let refund = of_type("refund");
    assert_eq!(
        (refund.severity_number, refund.severity_text.as_str()),
        (17, "ERROR")
    );
    assert_eq!(
        str_attr(&refund.attributes, "actionlog.status"),
        Some("failed")
    );
    assert_eq!(refund.body, string("card declined"));
    assert_eq!(
        str_attr(&refund.attributes, "error.message"),
        Some("card declined")
    );
    // An action inside a job run names the run.
    let stored = of_type("store_disclosures");
    assert_eq!(
        str_attr(&stored.attributes, "actionlog.job_id"),
        Some("data_collection")
    );
    assert!(str_attr(&stored.attributes, "actionlog.job_execution_id").is_some());
    // An action without a result: its type as body.
    assert_eq!(stored.body, string("store_disclosures"));

    // Job runs: the workload's four.
    let jobs = by_id(&jobs, "actionlog.job_execution_id");
    assert_eq!(jobs.len(), 4);
    let mut statuses: Vec<(&str, &str, i32)> = jobs
        .values()
        .map(|r| {
            (
                str_attr(&r.attributes, "actionlog.job_id").unwrap(),
                str_attr(&r.attributes, "actionlog.status").unwrap(),
                r.severity_number,
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            ("data_collection", "failed", 17),
            ("data_collection", "success", 9),
            ("ticker_backfill", "cancelled", 9),
            ("ticker_backfill", "failed", 17),
        ]
    );
    let run = jobs
        .values()
        .find(|r| {
            str_attr(&r.attributes, "actionlog.status") == Some("success")
                && str_attr(&r.attributes, "actionlog.job_id") == Some("data_collection")
        })
        .unwrap();
    assert_eq!(run.time_unix_nano, nanos("2025-11-03T14:30:46.5Z"));
    assert_eq!(run.body, string("data_collection"));
    assert_eq!(
        attr(&run.attributes, "actionlog.duration_seconds"),
        Some(&Value::DoubleValue(1.5))
    );
    assert!(
        str_attr(&run.attributes, "actionlog.logs")
            .unwrap()
            .contains("collected")
    );
    let metadata = kvlist(&run.attributes, "actionlog.metadata");
    assert_eq!(metadata["trigger"], Value::StringValue("scheduled".into()));
    // The run's secret field was redacted before it left the process.
    assert!(!format!("{metadata:?}").contains("canary-job-token"));
    uuid::Uuid::parse_str(str_attr(&run.attributes, "actionlog.job_execution_id").unwrap())
        .unwrap();
    let failed = jobs
        .values()
        .find(|r| {
            str_attr(&r.attributes, "actionlog.job_id") == Some("ticker_backfill")
                && str_attr(&r.attributes, "actionlog.status") == Some("failed")
        })
        .unwrap();
    assert!(
        str_attr(&failed.attributes, "error.message")
            .unwrap()
            .contains("quota exceeded")
    );
    assert_eq!(
        failed.body,
        string(str_attr(&failed.attributes, "error.message").unwrap())
    );
}

/// Records with every field, trace ids, nested details, odd text and numbers.
fn rows() -> (Vec<ActionRecord>, Vec<JobExecution>) {
    let mut a = ActionRecord::blank(uuid::Uuid::now_v7(), "order_paid");
    a.action_timestamp = common::utc("2025-11-03T14:30:45.123456Z");
    a.status = "failed".into();
    a.user_id = Some("ana".into());
    a.ip_address = Some("2001:db8::1".into());
    a.user_agent = Some("Mozilla/5.0 (X11; Linux)".into());
    a.error_message = Some("line one\nline \"two\"\t\u{1F600} \u{0007}".into());
    a.result_message = Some("r".into());
    a.source = Some("api".into());
    a.job_id = Some("j".into());
    a.job_execution_id = Some(uuid::Uuid::now_v7().to_string());
    a.request_duration_seconds = Some(0.000123);
    a.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    a.span_id = Some("00f067aa0ba902b7".into());
    let details = json!({
        "int": -42,
        "big": u64::MAX,
        "float": 1e300,
        "yes": false,
        "none": null,
        "list": [1, "two", [3.5], {"k": "v"}],
        "nested": {"a": {"b": "c"}, "empty": {}},
        "ünï\"code": "vä\\lue",
    });
    a.action_details = details.as_object().unwrap().clone();
    let plain = ActionRecord::blank(uuid::Uuid::now_v7(), "plain");
    let mut j = JobExecution::new(
        uuid::Uuid::now_v7(),
        "nightly",
        "success",
        common::utc("2025-11-03T01:00:00Z"),
    );
    j.completed_at = Some(common::utc("2025-11-03T01:00:02.5Z"));
    j.duration_seconds = Some(2.5);
    j.logs = "a\nb".into();
    j.metadata.insert("attempt".into(), json!(3));
    j.trace_id = Some("0af7651916cd43dd8448eb211c80319c".into());
    j.span_id = Some("b7ad6b7169203331".into());
    (vec![a, plain], vec![j])
}

/// What a sink with `protocol` and `compression` sends for [`rows`]: the decoded request and
/// the raw body (gunzipped).
fn send(
    rx: &Receiver,
    actions: &Batch<ActionRecord>,
    jobs: &Batch<JobExecution>,
    protocol: Protocol,
    compression: Compression,
) -> Vec<(ExportLogsServiceRequest, Vec<u8>)> {
    let before = rx.received().len();
    let mut sink = OtlpSink::builder()
        .environment(false)
        .endpoint(rx.endpoint())
        .service_name("svc")
        .resource_attribute("k8s.pod.name", "pod-1")
        .protocol(protocol)
        .compression(compression)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(sink.write(actions)).unwrap();
    rt.block_on(sink.write_jobs(jobs)).unwrap();
    let got = rx.received()[before..].to_vec();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.json, protocol == Protocol::HttpJson);
        assert_eq!(r.gzip, compression == Compression::Gzip);
        assert_eq!(
            r.header("content-encoding").is_some(),
            compression == Compression::Gzip
        );
    }
    got.into_iter()
        .map(|r| {
            let mut req = r.request;
            // The one field that differs between two sends: when each was made.
            for rl in &mut req.resource_logs {
                for sl in &mut rl.scope_logs {
                    for lr in &mut sl.log_records {
                        assert!(lr.observed_time_unix_nano > 0);
                        lr.observed_time_unix_nano = 0;
                    }
                }
            }
            (req, r.raw)
        })
        .collect()
}

#[test]
fn the_json_encoding_is_the_protobuf_one_in_the_otlp_json_mapping() {
    let rx = Receiver::start();
    let (actions, jobs) = rows();
    let (actions, jobs): (Batch<_>, Batch<_>) = (actions.into(), jobs.into());
    let proto = send(
        &rx,
        &actions,
        &jobs,
        Protocol::HttpProtobuf,
        Compression::None,
    );
    let gzipped = send(
        &rx,
        &actions,
        &jobs,
        Protocol::HttpProtobuf,
        Compression::Gzip,
    );
    let json = send(&rx, &actions, &jobs, Protocol::HttpJson, Compression::None);
    let json_gzipped = send(&rx, &actions, &jobs, Protocol::HttpJson, Compression::Gzip);
    assert!(rx.violations().is_empty(), "{:?}", rx.violations());
    for i in 0..2 {
        assert_eq!(proto[i].0, gzipped[i].0);
        assert_eq!(proto[i].0, json[i].0, "JSON and protobuf differ");
        assert_eq!(json[i].0, json_gzipped[i].0);
    }

    // The details, through the official definitions: nested values keep their types.
    let record = &proto[0].0.resource_logs[0].scope_logs[0].log_records[0];
    let details = kvlist(&record.attributes, "actionlog.details");
    assert_eq!(details["int"], Value::IntValue(-42));
    assert_eq!(details["big"], Value::DoubleValue(u64::MAX as f64));
    assert_eq!(details["float"], Value::DoubleValue(1e300));
    assert_eq!(details["yes"], Value::BoolValue(false));
    assert_eq!(details["ünï\"code"], Value::StringValue("vä\\lue".into()));
    assert!(!details.contains_key("none"));
    let Some(Value::KvlistValue(all)) = attr(&record.attributes, "actionlog.details") else {
        panic!("details")
    };
    let none = all.values.iter().find(|kv| kv.key == "none").unwrap();
    assert_eq!(
        none.value,
        Some(AnyValue { value: None }),
        "null is the empty value"
    );
    let Value::ArrayValue(list) = &details["list"] else {
        panic!("list")
    };
    assert_eq!(list.values.len(), 4);
    assert_eq!(list.values[1], string("two").unwrap());
    let Value::KvlistValue(nested) = &details["nested"] else {
        panic!("nested")
    };
    assert_eq!(nested.values[0].key, "a");
    assert_eq!(
        record.trace_id,
        [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36
        ]
    );
    assert_eq!(record.time_unix_nano, nanos("2025-11-03T14:30:45.123456Z"));
    let plain = &proto[0].0.resource_logs[0].scope_logs[0].log_records[1];
    assert!(plain.trace_id.is_empty() && plain.span_id.is_empty());

    // The JSON text itself, as the OTLP/JSON mapping writes it.
    let text: serde_json::Value = serde_json::from_slice(&json[0].1).unwrap();
    let lr = &text["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(lr["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(lr["spanId"], "00f067aa0ba902b7");
    assert_eq!(lr["severityNumber"], 17);
    assert_eq!(lr["severityText"], "ERROR");
    assert_eq!(
        lr["timeUnixNano"],
        nanos("2025-11-03T14:30:45.123456Z").to_string()
    );
    assert!(
        lr["observedTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(lr["eventName"], "actionlog.action");
    let detail = |key: &str| {
        let attrs = lr["attributes"].as_array().unwrap();
        let d = attrs
            .iter()
            .find(|kv| kv["key"] == "actionlog.details")
            .unwrap();
        d["value"]["kvlistValue"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(detail("int"), json!({"intValue": "-42"}));
    assert_eq!(detail("none"), json!({}));
    assert_eq!(detail("yes"), json!({"boolValue": false}));
    assert_eq!(
        detail("list")["arrayValue"]["values"][1],
        json!({"stringValue": "two"})
    );
    assert_eq!(
        text["resourceLogs"][0]["scopeLogs"][0]["scope"],
        json!({"name": "actionlog", "version": env!("CARGO_PKG_VERSION")})
    );
    // Every field name is lowerCamelCase (attribute keys are values, not field names).
    fn names(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    names(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    for body in [&json[0].1, &json[1].1] {
        let mut all = Vec::new();
        names(&serde_json::from_slice(body).unwrap(), &mut all);
        for n in &all {
            assert!(
                !n.contains('_') && n.starts_with(|c: char| c.is_ascii_lowercase()),
                "field name {n}"
            );
        }
        assert!(all.iter().any(|n| n == "observedTimeUnixNano"));
    }
    let job: serde_json::Value = serde_json::from_slice(&json[1].1).unwrap();
    let job = &job["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(job["eventName"], "actionlog.job_execution");
    assert_eq!(job["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(job["severityNumber"], 9);
}
