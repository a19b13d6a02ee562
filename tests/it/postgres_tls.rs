//! TLS to the real PostgreSQL (feature `postgres-tls`), with libpq's `sslmode` meanings. The
//! local server uses Debian's self-signed "snakeoil" certificate, issued for the machine's host
//! name, so: `require` encrypts without checking; `verify-full` with the default (Mozilla) roots
//! refuses it; `verify-ca` trusting that certificate accepts it although we connect to
//! 127.0.0.1; `verify-full` trusting it still refuses the host name.
#![cfg(feature = "postgres-tls")]

use crate::common;

use std::time::Duration;

use actionlog::{ManualClock, PipelineConfig};
use common::actions::{dead_letters, with_actions};
use common::pg::TestDb;

/// The server's certificate file, or `None` (skip) when the server has TLS off.
fn server_cert(db: &TestDb) -> Option<String> {
    if db.psql("SHOW ssl").trim() != "on" {
        eprintln!("SKIPPED: the test server has ssl = off");
        return None;
    }
    Some(db.psql("SHOW ssl_cert_file").trim().to_owned())
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}{}{params}", if url.contains('?') { '&' } else { '?' })
}

fn fast() -> PipelineConfig {
    PipelineConfig::default()
        .no_spool()
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
}

/// Delivers 5 actions through `url`; returns the shutdown result and the dead letters.
fn deliver(db: &TestDb, url: &str) -> (actionlog::Shutdown, Vec<serde_json::Value>, bool) {
    let dead = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(common::utc("2025-11-03T14:30:45Z"));
    let app = format!("al_tls_{}", std::process::id());
    let url = with_params(url, &format!("application_name={app}"));
    let guard = with_actions(db.sink_at(&url), dead.path(), &clock, fast(), || {
        for i in 0..5 {
            tracing::info!(action_type = "add_cron_job", seq = i);
        }
    });
    let delivered = guard.flush();
    // While the sink's connection is open, ask the server whether it is encrypted.
    let ssl = delivered
        && db
            .psql(&format!(
                "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '{app}'"
            ))
            .trim()
            == "t";
    let done = guard.shutdown(Duration::from_millis(500));
    (done, dead_letters(dead.path()), ssl)
}

#[test]
fn sslmode_require_encrypts() {
    let Some(db) = TestDb::new("tlsrequire") else {
        return;
    };
    if server_cert(&db).is_none() {
        return;
    }
    let (done, letters, ssl) = deliver(&db, &with_params(&db.url, "sslmode=require"));
    assert_eq!(done.stats.actions_delivered, 5, "{done:?} {letters:?}");
    assert!(ssl, "the sink's connection is encrypted");
}

#[test]
fn verify_full_with_public_roots_refuses_a_self_signed_server() {
    let Some(db) = TestDb::new("tlsfull") else {
        return;
    };
    if server_cert(&db).is_none() {
        return;
    }
    let (done, letters, _) = deliver(&db, &with_params(&db.url, "sslmode=verify-full"));
    assert_eq!(
        (
            done.stats.actions_delivered,
            done.stats.actions_dead_lettered
        ),
        (0, 5),
        "{done:?}"
    );
    let why = letters[0]["error"].as_str().unwrap();
    assert!(
        why.contains("certificate") || why.contains("Certificate"),
        "{why}"
    );
}

#[test]
fn verify_ca_with_the_servers_root_accepts_and_verify_full_checks_the_name() {
    let Some(db) = TestDb::new("tlsca") else {
        return;
    };
    let Some(cert) = server_cert(&db) else { return };
    if std::fs::read(&cert).is_err() {
        eprintln!("SKIPPED: cannot read the server certificate {cert}");
        return;
    }
    let (done, letters, ssl) = deliver(
        &db,
        &with_params(&db.url, &format!("sslmode=verify-ca&sslrootcert={cert}")),
    );
    assert_eq!(done.stats.actions_delivered, 5, "{done:?} {letters:?}");
    assert!(ssl);
    // Same root, but the certificate names the machine, not 127.0.0.1.
    let (done, letters, _) = deliver(
        &db,
        &with_params(&db.url, &format!("sslmode=verify-full&sslrootcert={cert}")),
    );
    assert_eq!(done.stats.actions_delivered, 0, "{done:?}");
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{letters:?}"
    );
}
