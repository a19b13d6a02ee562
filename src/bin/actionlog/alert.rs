//! `actionlog alert`: the alert engine of `actionlog::alert` as a watcher — one pass with
//! `--once` (for cron and CI, `--exit-status` for its answer), else a pass every
//! `--interval`. Each pass's notifications are printed (a table on a terminal, JSON lines
//! otherwise); problems (a rule that could not be evaluated, a notifier that is down) go to
//! stderr, one line each, without secrets.

use std::path::{Path, PathBuf};

use actionlog::alert::{Config, Engine, PassReport, format_duration, parse_duration};
use actionlog::query::{Options, Rows, Target};
use clap::Args;
use serde_json::Value;

use crate::output::Out;
use crate::{Fail, pipe, terminal};

#[derive(Debug, Args)]
pub(crate) struct AlertArgs {
    /// The rule file (TOML): tunes the six default rules, adds rules, names the notifiers.
    /// Without it the defaults run and notifications are only printed.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The state file: open incidents and undelivered notifications (default
    /// <log-dir>/alert-state.json).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// One pass, then exit.
    #[arg(long)]
    once: bool,
    /// With --once: exit 1 when something is firing after the pass, 0 when clean (2 for a
    /// bad rule file or an unusable store).
    #[arg(long, requires = "once")]
    exit_status: bool,
    /// Time between passes: 30s, 5m, 1h.
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    interval: String,
    /// Read the rule file, print the rules and notifiers (what each rule reads), and exit.
    #[arg(long, conflicts_with = "once")]
    check: bool,
}

/// The notifications' columns, in the order a table shows them.
const EVENT_COLUMNS: [&str; 13] = [
    "event",
    "rule",
    "subject",
    "summary",
    "at",
    "started_at",
    "suppressed",
    "id",
    "kind",
    "details",
    "resolved_at",
    "store",
    "version",
];

pub(crate) fn run(
    a: &AlertArgs,
    target: Target,
    opts: Options,
    log_dir: &Path,
    out: &mut Out,
) -> Result<u8, Fail> {
    let interval = parse_duration(&a.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Fail(
                2,
                format!(
                    "--interval {:?}: a duration such as 30s, 5m, 1h",
                    a.interval
                ),
            )
        })?;
    let config = match &a.rules {
        Some(p) => Config::load(p).map_err(|e| Fail(2, e.to_string()))?,
        None => Config::default(),
    };
    if a.check {
        return check(&config, out);
    }
    let mut builder = Engine::builder(target)
        .config(config)
        .options(opts)
        .log_dir(log_dir);
    if let Some(s) = &a.state {
        builder = builder.state_file(s);
    }
    builder = match std::env::var("ACTIONLOG_NOW") {
        Ok(_) => builder.clock(actionlog::ManualClock::at(crate::now())),
        Err(_) => builder,
    };
    let mut engine = builder.build().map_err(|e| Fail(2, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        loop {
            match engine.pass().await {
                Ok(r) => {
                    let firing = show(&r, out, a.once)?;
                    if a.once {
                        if let Some(e) = &r.store_error {
                            // Said among the problems already.
                            return Ok(if e.is_bad_input() { 2 } else { 1 });
                        }
                        return Ok(u8::from(a.exit_status && firing));
                    }
                }
                Err(e) if a.once => return Err(Fail(1, format!("alert: {e}"))),
                Err(e) => {
                    eprintln!(
                        "actionlog: alert: {}",
                        terminal::escape_controls(&e.to_string())
                    )
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
}

/// Prints a pass: its notifications, its problems on stderr, and with `once` what is firing.
/// Whether something is firing.
fn show(r: &PassReport, out: &mut Out, once: bool) -> Result<bool, Fail> {
    if !r.events.is_empty() {
        let rows = Rows {
            columns: EVENT_COLUMNS.map(String::from).to_vec(),
            rows: r
                .events
                .iter()
                .map(|e| EVENT_COLUMNS.iter().map(|c| e[*c].clone()).collect())
                .collect(),
        };
        out.rows(Some("notifications"), &rows, None).map_err(pipe)?;
    }
    if once {
        let rows = Rows {
            columns: [
                "rule",
                "subject",
                "summary",
                "started_at",
                "last_notified_at",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .firing
                .iter()
                .map(|i| {
                    vec![
                        Value::from(i.rule.clone()),
                        Value::from(i.subject.clone()),
                        Value::from(i.summary.clone()),
                        Value::from(i.started_at.to_rfc3339()),
                        Value::from(i.last_notified_at.to_rfc3339()),
                    ]
                })
                .collect(),
        };
        out.rows(Some("firing"), &rows, None).map_err(pipe)?;
    }
    for p in &r.problems {
        eprintln!("actionlog: alert: {}", terminal::escape_controls(p));
    }
    if r.suppressed > 0 {
        eprintln!(
            "actionlog: alert: {} notifications held back by the throttle",
            r.suppressed
        );
    }
    Ok(r.firing())
}

/// `--check`: the rules and notifiers as the engine would run them.
fn check(config: &Config, out: &mut Out) -> Result<u8, Fail> {
    let rules = Rows {
        columns: ["name", "kind", "enabled", "repeat", "params", "reads"]
            .map(String::from)
            .to_vec(),
        rows: config
            .rules
            .iter()
            .map(|r| {
                vec![
                    Value::from(r.name.clone()),
                    Value::from(r.kind().name()),
                    Value::from(r.enabled),
                    r.repeat
                        .map(|d| Value::from(format_duration(d)))
                        .unwrap_or(Value::Null),
                    r.params.to_json(),
                    Value::from(r.kind().reads()),
                ]
            })
            .collect(),
    };
    out.rows(Some("rules"), &rules, None).map_err(pipe)?;
    let notifiers = Rows {
        columns: ["name", "kind", "to"].map(String::from).to_vec(),
        rows: config
            .notifiers
            .iter()
            .map(|n| {
                vec![
                    Value::from(n.name()),
                    Value::from(n.kind()),
                    Value::from(n.describe()),
                ]
            })
            .collect(),
    };
    out.rows(Some("notifiers"), &notifiers, None)
        .map_err(pipe)?;
    Ok(0)
}
