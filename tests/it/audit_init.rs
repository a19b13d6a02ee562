//! `init()` with the signing key in the environment: `ACTIONLOG_AUDIT_KEY_FILE` turns the
//! trail on (digests in the store and the digest file, verifying clean); a key that cannot be
//! read fails `init()` naming the variable, never the value. Each case is a child process
//! (`init` once per process, its environment its own).
#![cfg(all(feature = "audit", feature = "query", feature = "sqlite"))]

use crate::common;

use actionlog::audit::SigningKey;
use actionlog::query::Target;

const CHILD: &str = "ACTIONLOG_AUDIT_INIT_CHILD";

/// Child mode: `init` with the defaults, one action, guard dropped; an `init` error is
/// printed and the child exits 3.
fn child(dir: &str) {
    let guard = match actionlog::builder()
        .log_dir(dir)
        .console(false)
        .signals(false)
        .init()
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("init failed: {e}");
            std::process::exit(3);
        }
    };
    tracing::info!(action_type = "audit_init_probe", status = "completed");
    drop(guard);
}

fn run(name: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = common::rerun(module_path!(), name);
    cmd.env(CHILD, dir);
    for var in [
        "ACTIONLOG_DATABASE_URL",
        "DATABASE_URL",
        "SUPABASE_URL",
        "ACTIONLOG_AUDIT_KEY",
        "ACTIONLOG_AUDIT_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

#[test]
fn a_key_file_in_the_environment_turns_the_trail_on() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let key_file = dir.path().join("audit.pem");
    std::fs::write(&key_file, key.to_pem().unwrap()).unwrap();
    let out = run(
        "a_key_file_in_the_environment_turns_the_trail_on",
        dir.path(),
        &[("ACTIONLOG_AUDIT_KEY_FILE", key_file.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = common::audit::verify(
        &Target::Sqlite(dir.path().join("actions.db")),
        &key.public(),
        &[dir.path().join("digests")],
    );
    common::audit::assert_clean(&r);
    assert_eq!(r.verified, 1, "{r:?}");
}

#[test]
fn a_bad_key_fails_init_without_showing_it() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        "a_bad_key_fails_init_without_showing_it",
        dir.path(),
        &[("ACTIONLOG_AUDIT_KEY", "CANARY-not-a-key")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("ACTIONLOG_AUDIT_KEY"), "{stderr}");
    assert!(!stderr.contains("CANARY"), "{stderr}");
}
