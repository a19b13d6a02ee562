//! `actionlog alert` as built: a bad rule file exits 2 naming its line and column; `--once
//! --exit-status` exits 1 while something fires and 0 when clean (for cron and CI), prints
//! each notification once across runs (the state file), and says a notifier that is down
//! without its URL's secret.
#![cfg(all(feature = "cli", feature = "sqlite"))]

use crate::common;

use common::alert as a;
use common::cli;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_bad_rule_file_exits_2_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    a::sqlite_store(dir.path(), "");
    for (file, body, at) in [
        (
            "type.toml",
            "[rules.job_overdue]\ngrace = 15\n",
            "type.toml:2:9: ",
        ),
        (
            "key.toml",
            "\n[rules.silence]\n  max_silense = \"1h\"\n",
            "key.toml:3:3: ",
        ),
        (
            "syntax.toml",
            "[alert]\nrepeat = \"1h\n",
            "syntax.toml:2:13: ",
        ),
        (
            "kind.toml",
            "[rules.mine]\nkind = \"typo\"\n",
            "kind.toml:2:8: ",
        ),
    ] {
        std::fs::write(dir.path().join(file), body).unwrap();
        for extra in [&["--once"][..], &["--check"][..]] {
            let mut args = vec!["alert", "--rules", file];
            args.extend_from_slice(extra);
            let out = cli::run(dir.path(), &args, &[]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{file}: {err}");
            assert!(
                err.starts_with(&format!("actionlog: {at}")),
                "{file}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(out.stdout.is_empty());
        }
    }
    // Nothing was started: no state file.
    assert!(!dir.path().join("logs/alert-state.json").exists());
    let out = cli::run(dir.path(), &["alert", "--once", "--interval", "soon"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn once_with_exit_status_answers_for_cron_and_ci() {
    let dir = tempfile::tempdir().unwrap();
    let db = a::sqlite_store(dir.path(), &a::firing_sql());
    let now = [("ACTIONLOG_NOW", a::T0)];
    let rules = "rules.toml";
    std::fs::write(
        dir.path().join(rules),
        "[rules.silence]\nmax_silence = \"30m\"\n\n[[notify]]\nkind = \"webhook\"\n\
         url = \"http://127.0.0.1:9/services/CANARY-cli?token=CANARY-cli\"\n\n\
         [alert]\nattempts = 1\ndeadline = \"2s\"\n",
    )
    .unwrap();
    let args = ["alert", "--rules", rules, "--once", "--exit-status"];
    let out = cli::run(dir.path(), &args, &now);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let section = |s: &str| lines.iter().filter(|l| l["section"] == s).count();
    assert_eq!(
        (section("notifications"), section("firing")),
        (4, 4),
        "{stdout}"
    );
    // The webhook on a closed port: said, without its secret, and kept for the next run.
    assert!(stderr.contains("notifier webhook-1"), "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:9/[REDACTED]"), "{stderr}");
    assert!(
        !stderr.contains("CANARY") && !stdout.contains("CANARY"),
        "{stderr}"
    );
    let state = std::fs::read_to_string(dir.path().join("logs/alert-state.json")).unwrap();
    assert!(!state.contains("CANARY"));

    // Again: still firing (exit 1), nothing notified twice.
    let out = cli::run(dir.path(), &args, &now);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !text(&out.stdout).contains("\"notifications\""),
        "{}",
        text(&out.stdout)
    );
    // Without --exit-status the answer is 0 whatever fires.
    let out = cli::run(dir.path(), &["alert", "--rules", rules, "--once"], &now);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Made right: the resolutions printed, and 0.
    a::sqlite_exec(&db, &a::fixed_sql(a::t0()));
    let out = cli::run(dir.path(), &args, &now);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("\"resolved\"").count(), 4, "{stdout}");
}

#[test]
fn an_unusable_store_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli::run(dir.path(), &["alert", "--once", "--exit-status"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such database file"));
}
