//! `actionlog prune`: `actionlog::retention` over the store the other commands read — actions
//! and job runs older than an age deleted in bounded batches, runs' captured logs trimmed
//! after an age of their own, the rollups kept. The ages come from the flags, else from
//! `ACTIONLOG_RETENTION` and `ACTIONLOG_RUN_LOG_RETENTION`. Prints one row per kind of row:
//! what went (or, with `--dry-run`, would go), before which time, in how many batches.

use actionlog::audit::{Audit, SigningKey};
use actionlog::query::{Options, Rows, Target};
use actionlog::retention::{Counts, DEFAULT_BATCH_SIZE, Prune, Pruned, parse_age};
use clap::Args;
use serde_json::Value;

use crate::output::Out;
use crate::{Fail, pipe};

/// The setting of `--older-than`.
const RETENTION_ENV: &str = "ACTIONLOG_RETENTION";
/// The setting of `--run-logs-older-than`.
const RUN_LOG_RETENTION_ENV: &str = "ACTIONLOG_RUN_LOG_RETENTION";

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Delete actions and job runs older than this: 90d, 12h, 30m, 2w (default:
    /// ACTIONLOG_RETENTION).
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
    /// Also empty the captured logs of runs older than this, keeping the runs (default:
    /// ACTIONLOG_RUN_LOG_RETENTION; without either, logs stay until their run goes).
    #[arg(long, value_name = "AGE")]
    run_logs_older_than: Option<String>,
    /// The most rows one batch deletes, in one short transaction: the application's writers
    /// write between batches.
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_name = "ROWS")]
    batch_size: usize,
    /// Count what would go; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// The audit trail's signing key (PEM or hex file), to record the prune in a signed digest
    /// before deleting, so `verify` stays clean (default: ACTIONLOG_AUDIT_KEY_FILE or
    /// ACTIONLOG_AUDIT_KEY). A store that keeps digests is not pruned without it.
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// Prune a store that keeps signed digests without recording it: `verify` will then name
    /// the pruned rows as deleted.
    #[arg(long, conflicts_with = "key")]
    unsigned: bool,
}

/// The age given by `flag`, else by the variable `env`; `None` when neither says.
fn age(given: Option<&str>, flag: &str, env: &str) -> Result<Option<std::time::Duration>, Fail> {
    let (value, from) = match given {
        Some(v) => (v.to_owned(), flag.to_owned()),
        None => match std::env::var(env) {
            Ok(v) if !v.trim().is_empty() => (v, env.to_owned()),
            _ => return Ok(None),
        },
    };
    parse_age(&value)
        .map(Some)
        .map_err(|e| Fail(2, format!("{from}: {e}")))
}

pub(crate) fn run(
    a: &PruneArgs,
    target: Target,
    opts: Options,
    log_dir: &std::path::Path,
    out: &mut Out,
) -> Result<u8, Fail> {
    let older_than = age(a.older_than.as_deref(), "--older-than", RETENTION_ENV)?.ok_or_else(
        || {
            Fail(
                2,
                format!(
                    "prune: how old must rows be to go? --older-than AGE or {RETENTION_ENV} (e.g. 90d)"
                ),
            )
        },
    )?;
    let run_logs = age(
        a.run_logs_older_than.as_deref(),
        "--run-logs-older-than",
        RUN_LOG_RETENTION_ENV,
    )?;
    let mut builder = Prune::builder(target)
        .older_than(older_than)
        .batch_size(a.batch_size)
        .dry_run(a.dry_run)
        .options(opts);
    if let Some(age) = run_logs {
        builder = builder.run_logs_older_than(age);
    }
    let key = match &a.key {
        Some(path) => Some(SigningKey::from_file(path).map_err(|e| Fail(2, e.to_string()))?),
        None => SigningKey::from_env().map_err(|e| Fail(2, e.to_string()))?,
    };
    if let Some(key) = key {
        builder = builder.audit(Audit::new(key));
    }
    builder = builder
        .digest_dir(actionlog::audit::digest_dir(log_dir))
        .unsigned(a.unsigned);
    if std::env::var("ACTIONLOG_NOW").is_ok() {
        builder = builder.clock(actionlog::ManualClock::at(crate::now()));
    }
    let prune = builder.build().map_err(|e| Fail(2, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // In a store that keeps signed digests, the prune is recorded in one before anything goes.
    let pruned = rt.block_on(prune.run());
    let pruned = pruned.map_err(|e| Fail(if e.is_bad_input() { 2 } else { 1 }, e.to_string()))?;
    let section = if pruned.dry_run { "dry_run" } else { "pruned" };
    out.rows(Some(section), &rows(&pruned), None)
        .map_err(pipe)?;
    Ok(0)
}

/// One row per kind: `what`, `before`, `rows`, `batches`.
fn rows(p: &Pruned) -> Rows {
    let time = |t: &chrono::DateTime<chrono::Utc>| {
        Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let row = |what: &str, before: Value, c: Counts| {
        vec![
            Value::from(what),
            before,
            Value::from(c.rows),
            Value::from(c.batches),
        ]
    };
    let mut rows = vec![
        row("actions", time(&p.actions_before), p.actions),
        row("runs", time(&p.runs_before), p.runs),
    ];
    if let Some(t) = &p.run_logs_before {
        rows.push(row("run_logs", time(t), p.run_logs));
    }
    if p.digests.rows > 0 {
        rows.push(row("digests", Value::Null, p.digests));
    }
    Rows {
        columns: ["what", "before", "rows", "batches"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}
