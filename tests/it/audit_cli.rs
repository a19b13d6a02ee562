//! `actionlog keygen` and `actionlog verify` as built: a key pair (the private half owner-only,
//! never overwritten), exit 0 on a clean trail, 1 naming what changed (or a store whose rows no
//! digest covers), 2 when it cannot verify (no key, a file that is not a key).
#![cfg(all(feature = "cli", feature = "sqlite", feature = "audit"))]

use crate::common;

use actionlog::audit::SigningKey;
use actionlog::sink::SqliteSink;
use common::audit::write_trail;
use common::cli::run;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn keygen_then_verify_clean_then_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["keygen", "--out", "audit.pem"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN PUBLIC KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("audit.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Never over an existing key.
    let again = run(d, &["keygen", "--out", "audit.pem"], &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));

    let key = SigningKey::from_file(d.join("audit.pem")).unwrap();
    let logs = d.join("logs");
    let sink = SqliteSink::open(logs.join("actions.db")).unwrap();
    write_trail(sink, &logs, &key, "web-1", 12);

    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--public-key", "audit.pem.pub"];
        args.extend_from_slice(extra);
        run(d, &args, &[])
    };
    let clean = verify(&[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let said = text(&clean);
    assert!(said.starts_with("clean: "), "{said}");
    assert!(said.contains("digest files compared"), "{said}");

    // The private key's environment variable gives the public key too.
    let pem = std::fs::read_to_string(d.join("audit.pem")).unwrap();
    let from_env = run(d, &["verify"], &[("ACTIONLOG_AUDIT_KEY", pem.as_str())]);
    assert_eq!(from_env.status.code(), Some(0), "{}", text(&from_env));
    assert!(!text(&from_env).contains("PRIVATE KEY"));

    let db = logs.join("actions.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let id: String = c
        .query_row(
            "SELECT id FROM action_logs WHERE status = 'completed' ORDER BY action_timestamp LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE action_logs SET result_message = 'rewritten' WHERE id = ?1",
        [&id],
    )
    .unwrap();
    let changed = verify(&[]);
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed));
    let said = text(&changed);
    assert!(
        said.lines()
            .any(|l| l.starts_with("PROBLEM modified") && l.contains(&id)),
        "{said}"
    );
    assert!(
        said.lines().last().unwrap().starts_with("CHANGED: "),
        "{said}"
    );
}

#[test]
fn verify_without_a_usable_key_exits_2_and_without_digests_proves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let no_key = run(d, &["verify"], &[]);
    assert_eq!(no_key.status.code(), Some(2), "{}", text(&no_key));
    assert!(text(&no_key).contains("--public-key"), "{}", text(&no_key));

    std::fs::write(d.join("not-a-key.pem"), "hello").unwrap();
    let bad = run(d, &["verify", "--public-key", "not-a-key.pem"], &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(!text(&bad).contains("hello"), "{}", text(&bad));

    let secret = "0f".repeat(32);
    let bad_env = run(d, &["verify"], &[("ACTIONLOG_AUDIT_KEY", "not hex at all")]);
    assert_eq!(bad_env.status.code(), Some(2), "{}", text(&bad_env));
    assert!(text(&bad_env).contains("ACTIONLOG_AUDIT_KEY"));
    assert!(!text(&bad_env).contains("not hex at all"));

    // A store no writer kept digests in: it cannot be verified, which is not "clean".
    let key = SigningKey::from_text(&secret, "test").unwrap();
    std::fs::write(d.join("k.pub"), key.public().to_pem().unwrap()).unwrap();
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let plain = tempfile::tempdir().unwrap();
    let guard = common::actions::with_actions(
        SqliteSink::open(logs.join("actions.db")).unwrap(),
        &plain.path().join("dead"),
        &actionlog::ManualClock::at(common::utc("2025-11-03T14:30:45Z")),
        actionlog::PipelineConfig::default(),
        || tracing::info!(action_type = "export", status = "completed"),
    );
    drop(guard);
    let none = run(d, &["verify", "--public-key", "k.pub"], &[]);
    let said = text(&none);
    // The table exists (the sink made it) but holds no digest: nothing is proven, which is
    // a problem, not a clean trail.
    assert_eq!(none.status.code(), Some(1), "{said}");
    assert!(said.contains("PROBLEM unproven   1 final rows"), "{said}");
}
