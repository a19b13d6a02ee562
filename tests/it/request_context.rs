//! Request context reaches the action row under the names HTTP middleware and OpenTelemetry
//! give it: the client address, user agent and request id recorded on a request span (as
//! tracing-actix-web's root span, tower-http's `TraceLayer` with a custom `make_span_with`, or
//! a hand-written span name them) fill `ip_address`, `user_agent` and
//! `action_details.request_id` of every action inside it. The table is the README's "Which
//! fields fill which columns".

use crate::common;

use actionlog::sink::SqliteSink;
use actionlog::{ManualClock, PipelineConfig};
use common::actions::with_actions;
use rusqlite::Connection;
use serde_json::Value;

/// Runs `f`, returns the rows as (action_type, ip_address, user_agent, details).
fn rows(f: impl FnOnce()) -> Vec<(String, Option<String>, Option<String>, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("actions.db");
    let guard = with_actions(
        SqliteSink::open(&db).unwrap(),
        &dir.path().join("dead-letter"),
        &ManualClock::at(common::utc("2026-12-06T10:00:00Z")),
        PipelineConfig::default().no_spool(),
        f,
    );
    assert!(guard.flush());
    let c = Connection::open(&db).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT action_type, ip_address, user_agent, action_details FROM action_logs
             ORDER BY action_type",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            serde_json::from_str(&r.get::<_, String>(3)?).unwrap(),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tracing::instrument(fields(action_type = "subscribe"))]
fn handler(name: &str) {}

#[test]
fn the_middlewares_names_fill_the_columns() {
    let got = rows(|| {
        // tracing-actix-web's root span.
        tracing::info_span!(
            "HTTP request",
            "http.client_ip" = "203.0.113.7",
            "http.user_agent" = "curl/8.5.0",
            request_id = "5f0c1d2e",
        )
        .in_scope(|| handler("ana"));
        // OpenTelemetry's semantic conventions, as an instrumented tower-http span names them.
        tracing::info_span!(
            "request",
            "client.address" = "2001:db8::1",
            "user_agent.original" = "Mozilla/5.0",
            "http.request.header.x-request-id" = "req-42",
        )
        .in_scope(|| tracing::info!(action_type = "login", user_id = "ana"));
        // A socket address with its port, as axum's `ConnectInfo` gives it.
        tracing::info_span!("request", remote_addr = %"[2001:db8::2]:443".parse::<std::net::SocketAddr>().unwrap())
            .in_scope(|| tracing::info!(action_type = "logout"));
        // On the action itself; the action's own value wins over the request's.
        tracing::info_span!("request", client_ip = "198.51.100.1").in_scope(|| {
            tracing::info!(
                action_type = "pause_job",
                client_ip = "198.51.100.9",
                x_request_id = "own"
            )
        });
        // Not an address: too long for the column, kept as a detail instead of failing the row.
        tracing::info!(action_type = "odd", client_ip = %"x".repeat(60));
    });
    let expected: Vec<(&str, Option<&str>, Option<&str>, Value)> = vec![
        (
            "login",
            Some("2001:db8::1"),
            Some("Mozilla/5.0"),
            serde_json::json!({"request_id": "req-42"}),
        ),
        ("logout", Some("2001:db8::2"), None, serde_json::json!({})),
        (
            "odd",
            None,
            None,
            serde_json::json!({"client_ip": "x".repeat(60)}),
        ),
        (
            "pause_job",
            Some("198.51.100.9"),
            None,
            serde_json::json!({"request_id": "own"}),
        ),
        (
            "subscribe",
            Some("203.0.113.7"),
            Some("curl/8.5.0"),
            serde_json::json!({"request_id": "5f0c1d2e", "name": "ana"}),
        ),
    ];
    let got: Vec<(&str, Option<&str>, Option<&str>, Value)> = got
        .iter()
        .map(|(t, ip, ua, d)| (t.as_str(), ip.as_deref(), ua.as_deref(), d.clone()))
        .collect();
    assert_eq!(got, expected);
}
