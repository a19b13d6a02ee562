//! The rules: what each kind checks, its parameters and their defaults, and its evaluation
//! over one pass's [`Observations`]. A rule gives a [`Finding`] per subject that is wrong now
//! (a job id, an action type, the store); the engine turns findings into incidents.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::observe::Observations;

/// What a rule checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// A job whose `consecutive_failures` reached its `max_consecutive_failures` (the views'
    /// `failed_max_retries`). Subject: the job id.
    JobFailedMaxRetries,
    /// A job whose `next_scheduled_run` is past by more than a grace period. Subject: the job
    /// id.
    JobOverdue,
    /// An action type whose share of failed actions over a window reaches a threshold, with a
    /// minimum count. Subject: the action type.
    FailureRate,
    /// Dead-lettered records present (notified again when they grow). Subject:
    /// `dead_letters`.
    DeadLetters,
    /// The spool growing pass after pass (or over a window). Subject: `spool`.
    SpoolGrowing,
    /// No new action or run for longer than a given time: the dead man's switch. Subject:
    /// `actions`, `runs` or `store` (either).
    Silence,
}

impl RuleKind {
    /// Every kind, in the order the default rules are listed.
    pub const ALL: [RuleKind; 6] = [
        RuleKind::JobFailedMaxRetries,
        RuleKind::JobOverdue,
        RuleKind::FailureRate,
        RuleKind::DeadLetters,
        RuleKind::SpoolGrowing,
        RuleKind::Silence,
    ];

    /// The kind's name in a rule file (`kind = "…"`), and the name of its default rule.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::JobFailedMaxRetries => "job_failed_max_retries",
            RuleKind::JobOverdue => "job_overdue",
            RuleKind::FailureRate => "failure_rate",
            RuleKind::DeadLetters => "dead_letters",
            RuleKind::SpoolGrowing => "spool_growing",
            RuleKind::Silence => "silence",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// What a pass reads for a rule of this kind, as the README and the `/alerts` page say.
    pub fn reads(self) -> &'static str {
        match self {
            RuleKind::JobFailedMaxRetries => {
                "scheduled_jobs_status: consecutive_failures against max_consecutive_failures (enabled jobs)"
            }
            RuleKind::JobOverdue => {
                "scheduled_jobs_status: next_scheduled_run against the clock (enabled jobs)"
            }
            RuleKind::FailureRate => {
                "actions by type and status over the window: the hourly rollups for whole hours, action_logs for the partial hours at its ends"
            }
            RuleKind::DeadLetters => {
                "the dead-letter files of every store under the log directory (records counted)"
            }
            RuleKind::SpoolGrowing => {
                "the spool segments' sizes under the log directory, kept pass after pass in the state file"
            }
            RuleKind::Silence => "the newest action_timestamp and started_at (two index lookups)",
        }
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which table's newest row the dead man's switch watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceOf {
    /// `action_logs` only.
    Actions,
    /// `job_executions` only.
    Runs,
    /// Whichever is newer: silent only when neither has a new row.
    Either,
}

impl SilenceOf {
    /// Its name in a rule file (`of = "…"`) and as a subject.
    pub fn name(self) -> &'static str {
        match self {
            SilenceOf::Actions => "actions",
            SilenceOf::Runs => "runs",
            SilenceOf::Either => "either",
        }
    }
}

/// A rule's kind with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    /// See [`RuleKind::JobFailedMaxRetries`].
    JobFailedMaxRetries {
        /// Only this job (default: every job).
        job_id: Option<String>,
    },
    /// See [`RuleKind::JobOverdue`].
    JobOverdue {
        /// How late a run may be before it counts (default 5 minutes).
        grace: Duration,
        /// Only this job (default: every job).
        job_id: Option<String>,
    },
    /// See [`RuleKind::FailureRate`].
    FailureRate {
        /// The window ending now (default 1 hour).
        window: Duration,
        /// Failed over finished actions, 0 to 1 (default 0.5).
        threshold: f64,
        /// The fewest finished actions of the type in the window for the rate to count
        /// (default 10).
        min_count: u64,
        /// Only this action type (default: every type).
        action_type: Option<String>,
    },
    /// See [`RuleKind::DeadLetters`].
    DeadLetters {
        /// The fewest records that fire (default 1).
        min_records: u64,
    },
    /// See [`RuleKind::SpoolGrowing`].
    SpoolGrowing {
        /// Fires when the spool grew on each of this many passes in a row (default 3).
        passes: u32,
        /// Or, when set: when it grew over this window, never shrinking within it.
        window: Option<Duration>,
    },
    /// See [`RuleKind::Silence`].
    Silence {
        /// The longest time without a new row (default 1 hour).
        max_silence: Duration,
        /// Which table (default either).
        of: SilenceOf,
    },
}

impl Params {
    /// The kind's defaults.
    pub fn default_for(kind: RuleKind) -> Params {
        match kind {
            RuleKind::JobFailedMaxRetries => Params::JobFailedMaxRetries { job_id: None },
            RuleKind::JobOverdue => Params::JobOverdue {
                grace: Duration::from_secs(300),
                job_id: None,
            },
            RuleKind::FailureRate => Params::FailureRate {
                window: Duration::from_secs(3600),
                threshold: 0.5,
                min_count: 10,
                action_type: None,
            },
            RuleKind::DeadLetters => Params::DeadLetters { min_records: 1 },
            RuleKind::SpoolGrowing => Params::SpoolGrowing {
                passes: 3,
                window: None,
            },
            RuleKind::Silence => Params::Silence {
                max_silence: Duration::from_secs(3600),
                of: SilenceOf::Either,
            },
        }
    }

    /// Its kind.
    pub fn kind(&self) -> RuleKind {
        match self {
            Params::JobFailedMaxRetries { .. } => RuleKind::JobFailedMaxRetries,
            Params::JobOverdue { .. } => RuleKind::JobOverdue,
            Params::FailureRate { .. } => RuleKind::FailureRate,
            Params::DeadLetters { .. } => RuleKind::DeadLetters,
            Params::SpoolGrowing { .. } => RuleKind::SpoolGrowing,
            Params::Silence { .. } => RuleKind::Silence,
        }
    }

    /// The parameters as JSON (durations as text like `5m`), for the state file and pages.
    pub fn to_json(&self) -> Value {
        let d = |d: &Duration| Value::from(format_duration(*d));
        match self {
            Params::JobFailedMaxRetries { job_id } => json!({ "job_id": job_id }),
            Params::JobOverdue { grace, job_id } => json!({ "grace": d(grace), "job_id": job_id }),
            Params::FailureRate {
                window,
                threshold,
                min_count,
                action_type,
            } => json!({
                "window": d(window), "threshold": threshold, "min_count": min_count,
                "action_type": action_type,
            }),
            Params::DeadLetters { min_records } => json!({ "min_records": min_records }),
            Params::SpoolGrowing { passes, window } => {
                json!({ "passes": passes, "window": window.as_ref().map(d) })
            }
            Params::Silence { max_silence, of } => {
                json!({ "max_silence": d(max_silence), "of": of.name() })
            }
        }
    }
}

/// One rule: a name (unique, the incidents' key), whether it is on, how often a lasting
/// incident is notified again, and what it checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name: a default rule is named by its kind.
    pub name: String,
    /// Off rules are not evaluated, and their incidents resolve.
    pub enabled: bool,
    /// A lasting incident is notified again this often; `None`: never.
    pub repeat: Option<Duration>,
    /// What it checks.
    pub params: Params,
}

impl Rule {
    /// A rule named `name` checking `params`, on, repeating hourly.
    pub fn new(name: impl Into<String>, params: Params) -> Rule {
        Rule {
            name: name.into(),
            enabled: true,
            repeat: Some(DEFAULT_REPEAT),
            params,
        }
    }

    /// The default rule of `kind`.
    pub fn default_for(kind: RuleKind) -> Rule {
        Rule::new(kind.name(), Params::default_for(kind))
    }

    /// Its kind.
    pub fn kind(&self) -> RuleKind {
        self.params.kind()
    }
}

/// How often a lasting incident is notified again, unless the rule file says otherwise.
pub const DEFAULT_REPEAT: Duration = Duration::from_secs(3600);

/// The six default rules, one of each kind, with their defaults: what works without a rule
/// file.
pub fn default_rules() -> Vec<Rule> {
    RuleKind::ALL.into_iter().map(Rule::default_for).collect()
}

pub use crate::duration::{format_duration, parse_duration};

/// A subject that is wrong now, by one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The job id, action type, `dead_letters`, `spool` or the silent table.
    pub subject: String,
    /// One line saying what is wrong, for people.
    pub summary: String,
    /// A measure whose growth is notified at once (the dead-letter records).
    pub value: Option<u64>,
    /// The values the rule saw, as JSON.
    pub details: Value,
}

/// The longest subject kept: longer store values are cut (`job_id` and `action_type` are
/// bounded by the schema; this bounds a hand-made table).
const MAX_SUBJECT: usize = 200;

/// `d` as a chrono duration; one too long for chrono (no rule file asks for one) as a
/// thousand years, which no incident outlasts. (`TimeDelta::MAX` is newer than the lowest
/// chrono this crate builds with.)
pub(super) fn span_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::days(365_000))
}

fn subject(s: &str) -> String {
    s.chars().take(MAX_SUBJECT).collect()
}

fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

fn ago(d: chrono::Duration) -> String {
    format_duration(Duration::from_secs(d.num_seconds().max(0) as u64))
}

/// The statuses an action is still open with (not counted in a failure rate).
const OPEN: [&str; 2] = ["initiated", "in_progress"];

/// Evaluates `rule` over `obs` at `now`: the subjects wrong now, or why the rule could not
/// be evaluated (its observation failed).
pub(crate) fn evaluate(
    rule: &Rule,
    obs: &Observations,
    now: DateTime<Utc>,
) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    match &rule.params {
        Params::JobFailedMaxRetries { job_id } => {
            let rows = obs.jobs.as_ref().map_err(Clone::clone)?;
            for i in 0..rows.rows.len() {
                let g = |c: &str| rows.get(i, c);
                let id = g("job_id").and_then(Value::as_str).unwrap_or_default();
                if job_id.as_deref().is_some_and(|j| j != id) || !enabled(g("enabled")) {
                    continue;
                }
                let (Some(failures), Some(max)) = (
                    int(g("consecutive_failures")),
                    int(g("max_consecutive_failures")),
                ) else {
                    continue;
                };
                if failures >= max {
                    let error = g("last_execution_error").cloned().unwrap_or_default();
                    out.push(Finding {
                        subject: subject(id),
                        summary: format!(
                            "job {id} failed {failures} times in a row (its maximum is {max})"
                        ),
                        value: None,
                        details: json!({
                            "job_id": id, "consecutive_failures": failures,
                            "max_consecutive_failures": max, "last_execution_error": error,
                        }),
                    });
                }
            }
        }
        Params::JobOverdue { grace, job_id } => {
            let rows = obs.jobs.as_ref().map_err(Clone::clone)?;
            let grace_c = span_of(*grace);
            for i in 0..rows.rows.len() {
                let g = |c: &str| rows.get(i, c);
                let id = g("job_id").and_then(Value::as_str).unwrap_or_default();
                if job_id.as_deref().is_some_and(|j| j != id) || !enabled(g("enabled")) {
                    continue;
                }
                let Some(next) = parse_time(g("next_scheduled_run")) else {
                    continue;
                };
                let late = now - next;
                if late > grace_c {
                    out.push(Finding {
                        subject: subject(id),
                        summary: format!(
                            "job {id} is overdue by {} (its next run was due at {})",
                            ago(late),
                            next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                        value: None,
                        details: json!({
                            "job_id": id, "next_scheduled_run": crate::query::export::cell_text(g("next_scheduled_run").unwrap_or(&Value::Null)),
                            "overdue_seconds": late.num_seconds(), "grace": format_duration(*grace),
                            "last_attempted_run": g("last_attempted_run").cloned().unwrap_or_default(),
                        }),
                    });
                }
            }
        }
        Params::FailureRate {
            window,
            threshold,
            min_count,
            action_type,
        } => {
            let rows = obs
                .counts
                .get(window)
                .ok_or_else(|| "no counts were read for this window".to_owned())?
                .as_ref()
                .map_err(Clone::clone)?;
            // (failed, finished) per type, in the order types first appear.
            let mut per: Vec<(String, u64, u64)> = Vec::new();
            for i in 0..rows.rows.len() {
                let ty = rows
                    .get(i, "action_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if action_type.as_deref().is_some_and(|a| a != ty) {
                    continue;
                }
                let status = rows.get(i, "status").and_then(Value::as_str);
                let n = int(rows.get(i, "count")).unwrap_or(0).max(0) as u64;
                let Some(status) = status.filter(|s| !OPEN.contains(s)) else {
                    continue;
                };
                let at = match per.iter().position(|(t, _, _)| t == ty) {
                    Some(p) => p,
                    None => {
                        per.push((ty.to_owned(), 0, 0));
                        per.len() - 1
                    }
                };
                per[at].2 += n;
                if status == "failed" {
                    per[at].1 += n;
                }
            }
            per.sort();
            for (ty, failed, total) in per {
                if total == 0 || total < *min_count {
                    continue;
                }
                let rate = failed as f64 / total as f64;
                if rate >= *threshold {
                    out.push(Finding {
                        subject: subject(&ty),
                        summary: format!(
                            "{ty}: {failed} of {total} actions failed in the last {} ({:.0} %, threshold {:.0} %)",
                            format_duration(*window),
                            rate * 100.0,
                            threshold * 100.0
                        ),
                        value: None,
                        details: json!({
                            "action_type": ty, "failed": failed, "finished": total, "rate": rate,
                            "threshold": threshold, "window": format_duration(*window),
                        }),
                    });
                }
            }
        }
        Params::DeadLetters { min_records } => {
            let files = obs.files.as_ref().ok_or("the log directory was not read")?;
            let records = files.dead_letters.records.unwrap_or(0);
            if records >= (*min_records).max(1) {
                out.push(Finding {
                    subject: "dead_letters".into(),
                    summary: format!(
                        "{records} dead-lettered records in {} files (newest {})",
                        files.dead_letters.files,
                        files.dead_letters.newest.as_deref().unwrap_or("?")
                    ),
                    value: Some(records),
                    details: json!({
                        "records": records, "files": files.dead_letters.files,
                        "bytes": files.dead_letters.bytes, "newest": files.dead_letters.newest,
                        "problems": files.dead_letters.problems,
                    }),
                });
            }
        }
        Params::SpoolGrowing { passes, window } => {
            let samples = &obs.spool_samples;
            let growing = match window {
                Some(w) => grew_over_window(samples, now, *w),
                None => grew_on_passes(samples, *passes),
            };
            if let Some((from, to)) = growing {
                out.push(Finding {
                    subject: "spool".into(),
                    summary: format!(
                        "the spool keeps growing: {from} → {to} bytes{}",
                        match window {
                            Some(w) => format!(" over {}", format_duration(*w)),
                            None => format!(" over the last {passes} passes"),
                        }
                    ),
                    value: None,
                    details: json!({ "from_bytes": from, "to_bytes": to }),
                });
            }
        }
        Params::Silence { max_silence, of } => {
            let rows = obs.newest.as_ref().map_err(Clone::clone)?;
            let newest = |table: &str| {
                (0..rows.rows.len())
                    .find(|&i| rows.rows[i].first().and_then(Value::as_str) == Some(table))
                    .and_then(|i| parse_time(rows.get(i, "newest")))
            };
            let (actions, runs) = (newest("action_logs"), newest("job_executions"));
            let last = match of {
                SilenceOf::Actions => actions,
                SilenceOf::Runs => runs,
                SilenceOf::Either => actions.max(runs),
            };
            let max = span_of(*max_silence);
            let silent = last.is_none_or(|t| now - t > max);
            if silent {
                let what = match of {
                    SilenceOf::Actions => "action",
                    SilenceOf::Runs => "job run",
                    SilenceOf::Either => "action or job run",
                };
                let time = |t: Option<DateTime<Utc>>| {
                    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                };
                out.push(Finding {
                    subject: match of {
                        SilenceOf::Either => "store".into(),
                        o => o.name().into(),
                    },
                    summary: match last {
                        Some(t) => format!(
                            "no new {what} for {} (longer than {}; the newest is from {})",
                            ago(now - t),
                            format_duration(*max_silence),
                            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                        None => format!("no {what} was ever recorded"),
                    },
                    value: None,
                    details: json!({
                        "newest_action": time(actions), "newest_run": time(runs),
                        "silent_seconds": last.map(|t| (now - t).num_seconds()),
                        "max_silence": format_duration(*max_silence),
                    }),
                });
            }
        }
    }
    Ok(out)
}

/// `enabled` as the views give it (a boolean; SQLite's integer read as one).
fn enabled(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        _ => true,
    }
}

/// The spool's sizes (oldest first): grown on each of the last `passes` passes?
fn grew_on_passes(samples: &[(DateTime<Utc>, u64)], passes: u32) -> Option<(u64, u64)> {
    let n = passes.max(1) as usize + 1;
    if samples.len() < n {
        return None;
    }
    let last = &samples[samples.len() - n..];
    last.windows(2)
        .all(|w| w[1].1 > w[0].1)
        .then(|| (last[0].1, last[n - 1].1))
}

/// Grown over `window`: a sample at least `window` old exists, none since then shrank, and
/// the newest is larger than the oldest of the window.
fn grew_over_window(
    samples: &[(DateTime<Utc>, u64)],
    now: DateTime<Utc>,
    window: Duration,
) -> Option<(u64, u64)> {
    let w = chrono::Duration::from_std(window).ok()?;
    let start = samples.iter().rposition(|(t, _)| now - *t >= w)?;
    let span = &samples[start..];
    let (first, last) = (span.first()?.1, span.last()?.1);
    (span.windows(2).all(|p| p[1].1 >= p[0].1) && last > first).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_over_passes_and_windows() {
        let t = |m: i64| {
            "2026-11-03T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(m)
        };
        let s = vec![(t(0), 1), (t(1), 2), (t(2), 3), (t(3), 4)];
        assert_eq!(grew_on_passes(&s, 3), Some((1, 4)));
        assert_eq!(grew_on_passes(&s[..3], 3), None);
        let flat = vec![(t(0), 1), (t(1), 2), (t(2), 2), (t(3), 4)];
        assert_eq!(grew_on_passes(&flat, 3), None);
        assert_eq!(
            grew_over_window(&flat, t(3), Duration::from_secs(180)),
            Some((1, 4))
        );
        assert_eq!(
            grew_over_window(&flat, t(3), Duration::from_secs(600)),
            None
        );
        let down = vec![(t(0), 5), (t(1), 2), (t(3), 4)];
        assert_eq!(
            grew_over_window(&down, t(3), Duration::from_secs(180)),
            None
        );
    }
}
