//! The command reads a `DATABASE_URL` as the sink does, TLS included (feature `postgres-tls`),
//! against the real PostgreSQL, which serves Debian's self-signed "snakeoil" certificate for
//! the machine's host name: `sslmode=require` connects encrypted (a build without TLS could
//! not: the driver refuses a plain connection for it); `verify-full` with the default roots
//! refuses the certificate, in one line that names the target and never the password;
//! `verify-ca` trusting that certificate (`sslrootcert`) connects although we dial 127.0.0.1.
#![cfg(all(feature = "cli", feature = "postgres-tls"))]

use crate::common;
use crate::common::cli;

use common::pg::TestDb;

#[test]
fn database_urls_with_sslmode_work_as_for_the_sink() {
    let Some(db) = TestDb::new("cli_tls") else {
        return;
    };
    if db.psql("SHOW ssl").trim() != "on" {
        eprintln!("SKIPPED: the test server has ssl = off");
        return;
    }
    let cert = db.psql("SHOW ssl_cert_file").trim().to_owned();
    for m in ["0001_action_logs.sql", "0002_jobs.sql", "0004_rollups.sql"] {
        db.psql_file(&format!("{}/migrations/{m}", env!("CARGO_MANIFEST_DIR")));
    }
    db.psql("INSERT INTO action_logs (action_type, status) VALUES ('pause_job', 'completed')");
    // A password the server ignores (trust auth), to show it never reaches a message.
    let base = db.url.replacen("://root@", "://root:CANARY@", 1);
    let url = |params: &str| format!("{base}?options=-c%20search_path%3D{}&{params}", db.schema);
    let dir = tempfile::tempdir().unwrap();
    let stats = |u: &str| {
        cli::run(
            dir.path(),
            &["stats", "--format", "json"],
            &[("DATABASE_URL", u)],
        )
    };

    let ok = stats(&url("sslmode=require"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("pause_job"));

    let refused = stats(&url("sslmode=verify-full"));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("postgres://root@127.0.0.1"), "{err}");
    assert!(!err.contains("CANARY"), "{err}");

    let trusted = stats(&url(&format!("sslmode=verify-ca&sslrootcert={cert}")));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
}
