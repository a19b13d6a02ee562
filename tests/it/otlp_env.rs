//! The OTLP sink set up by the standard environment variables alone (`OtlpSink::from_env`),
//! each case in a child process with its own environment, sending to a loopback receiver
//! (`common::otlp`, standing in for a collector): the generic variables (endpoint as a base
//! URL, headers percent-decoded, gzip, OTLP/JSON, service name, resource attributes), the
//! logs-specific ones winning over them (endpoint used as it is, headers, protocol,
//! compression, timeout), and a bad value in each failing with an error that names the
//! variable and never repeats the value (`grpc` saying to use the OTLP/HTTP receiver).
#![cfg(feature = "otlp")]

use crate::common;

use std::time::Duration;

use actionlog::ManualClock;
use actionlog::sink::Sink;
use actionlog::sink::otlp::OtlpSink;
use common::otlp::{Fault, Receiver, str_attr};

const CHILD: &str = "ACTIONLOG_OTLP_ENV_CHILD";

/// Child mode: the sink from the environment, then three actions through it; or the error.
fn child() {
    match OtlpSink::from_env() {
        Err(e) => eprintln!("BUILD-ERROR: {e} | {e:?}"),
        Ok(sink) => {
            eprintln!("SINK: {} {sink:?}", sink.target());
            let dead = tempfile::tempdir().unwrap();
            let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
            let config = actionlog::PipelineConfig::default()
                .no_spool()
                .retry_backoff(Duration::from_millis(10), Duration::from_millis(200));
            let guard = common::actions::with_actions(sink, dead.path(), &clock, config, || {
                for seq in 0..3 {
                    tracing::info!(action_type = "env_probe", seq);
                }
            });
            let stats = guard.shutdown(Duration::from_secs(20)).stats;
            common::actions::assert_accounted(&stats);
            assert_eq!(stats.actions_delivered, 3, "{stats:?}");
        }
    }
}

/// Runs test `name` as a child with only `env` of the OTLP variables; returns its stderr.
fn run(name: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the child failed:\n{stderr}");
    stderr
}

#[test]
fn the_generic_variables_set_up_the_sink() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let rx = Receiver::start_at("/otlp/v1/logs");
    let base = format!("{}/otlp", rx.base);
    let stderr = run(
        "the_generic_variables_set_up_the_sink",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=CANARY%2Dgeneric%20key, x-team=audit",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_SERVICE_NAME", "from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=overridden,deployment.environment.name=staging,team=a%2Cb",
            ),
        ],
    );
    assert!(!stderr.contains("CANARY"), "{stderr}");
    assert!(
        stderr.contains(&format!("SINK: {base}/v1/logs ")),
        "{stderr}"
    );
    let got = rx.received();
    assert!(!got.is_empty());
    assert!(rx.violations().is_empty(), "{:?}", rx.violations());
    for r in &got {
        assert_eq!(r.path, "/otlp/v1/logs");
        assert!(r.gzip && r.json);
        assert_eq!(r.header("api-key"), Some("CANARY-generic key"));
        assert_eq!(r.header("x-team"), Some("audit"));
        let resource = &r.request.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert_eq!(str_attr(resource, "service.name"), Some("from-env"));
        assert_eq!(
            str_attr(resource, "deployment.environment.name"),
            Some("staging")
        );
        assert_eq!(str_attr(resource, "team"), Some("a,b"));
    }
    assert_eq!(rx.accepted().len(), 3);
}

#[test]
fn the_logs_variables_win_over_the_generic_ones() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let rx = Receiver::start_at("/custom/logs");
    // The first answer comes after the logs timeout (300 ms) but well within the generic one.
    rx.push(Fault::Slow(Duration::from_secs(2)));
    let stderr = run(
        "the_logs_variables_win_over_the_generic_ones",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                &format!("{}/custom/logs", rx.base),
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=CANARY-generic"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "api-key=CANARY-logs"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "300"),
        ],
    );
    assert!(!stderr.contains("CANARY"), "{stderr}");
    assert!(stderr.contains("timed out after 300ms"), "{stderr}");
    let got = rx.received();
    assert!(got.len() >= 2, "the slow answer was not retried: {got:?}");
    for r in &got {
        assert_eq!(r.path, "/custom/logs", "the logs endpoint is used as it is");
        assert!(!r.gzip && !r.json);
        let keys: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "api-key")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(keys, ["CANARY-logs"]);
        let resource = &r.request.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert!(
            str_attr(resource, "service.name")
                .unwrap()
                .starts_with("unknown_service:"),
        );
    }
}

#[test]
fn a_bad_value_fails_naming_its_variable_and_never_the_value() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let cases: [(&str, &str, &str); 12] = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "CANARY-not-a-url", "http(s)"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "ftp://CANARY/v1/logs",
            "http(s)",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key:CANARY", "key=value"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "bad name=CANARY",
            "header name",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=CANARY%0A",
            "not allowed",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=CANARY%FF",
            "percent-encoded",
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "CANARY", "gzip or none"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "CANARY",
            "http/protobuf or http/json",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "CANARY", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "0", "milliseconds"),
        ("OTEL_RESOURCE_ATTRIBUTES", "CANARY", "key=value"),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "OTLP/HTTP receiver (port 4318",
        ),
    ];
    for (var, value, says) in cases {
        let stderr = run(
            "a_bad_value_fails_naming_its_variable_and_never_the_value",
            &[(var, value)],
        );
        let line = stderr
            .lines()
            .find(|l| l.starts_with("BUILD-ERROR: "))
            .unwrap_or_else(|| panic!("{var}={value} was accepted:\n{stderr}"));
        assert!(
            line.contains(&format!("invalid {var}: ")) && line.contains(says),
            "{var}={value}: {line}"
        );
        assert!(!stderr.contains("CANARY"), "{var}: {stderr}");
    }
}
