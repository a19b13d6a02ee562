//! Which columns an answer shows. On a table: a compact set by default (times to the second,
//! short ids, durations in units, one message), every column with `--wide`, the named ones
//! with `--columns`. JSON and CSV keep every column unless `--columns` names some.

use actionlog::query::Rows;
use actionlog::query::export::cell_text;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::fit::Give;
use crate::short_id;

/// The columns asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Tables show the answer's compact set; JSON and CSV every column.
    Compact,
    /// Every column, in every format.
    Wide,
    /// These columns of the answer, in this order, in every format.
    Named(Vec<String>),
}

impl Pick {
    /// `--wide` and `--columns` as given (clap keeps them apart).
    pub fn new(wide: bool, columns: Option<Vec<String>>) -> Self {
        match columns {
            Some(c) => Pick::Named(c),
            None if wide => Pick::Wide,
            None => Pick::Compact,
        }
    }

    /// Bad input unless every name is a column of one of the answer's `parts` (the sections of
    /// `jobs`, else one); the message names the first unknown one and lists the valid ones.
    pub fn check(&self, answer: &str, parts: &[&Rows]) -> Result<(), String> {
        let Pick::Named(names) = self else {
            return Ok(());
        };
        let mut valid: Vec<&str> = Vec::new();
        for c in parts.iter().flat_map(|r| &r.columns) {
            if !valid.contains(&c.as_str()) {
                valid.push(c);
            }
        }
        match names.iter().find(|n| !valid.contains(&n.as_str())) {
            Some(n) => Err(format!(
                "unknown column {n:?} for {answer}; valid columns: {}",
                valid.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// `rows` as JSON lines and CSV write them: every column, or the named ones this part has
    /// (`None` when it has none of them: the part is left out).
    pub fn project(&self, rows: &Rows) -> Option<Rows> {
        let Pick::Named(names) = self else {
            return Some(rows.clone());
        };
        let at: Vec<usize> = names
            .iter()
            .filter_map(|n| rows.columns.iter().position(|c| c == n))
            .collect();
        if at.is_empty() {
            return None;
        }
        Some(Rows {
            columns: at.iter().map(|i| rows.columns[*i].clone()).collect(),
            rows: rows
                .rows
                .iter()
                .map(|r| at.iter().map(|i| r[*i].clone()).collect())
                .collect(),
        })
    }

    /// `rows` as a table shows them: the compact set (`compact`, when the answer has one), or
    /// the columns [`Pick::project`] keeps, as stored (`None`: left out).
    pub fn grid(&self, rows: &Rows, compact: Option<&[Compact]>) -> Option<Grid> {
        if let (Pick::Compact, Some(set)) = (self, compact) {
            return Some(Grid {
                headers: set.iter().map(|c| c.header.to_owned()).collect(),
                give: set.iter().map(|c| c.give).collect(),
                cells: (0..rows.rows.len())
                    .map(|i| set.iter().map(|c| c.show.text(rows, i)).collect())
                    .collect(),
            });
        }
        let rows = self.project(rows)?;
        let cells: Vec<Vec<String>> = rows
            .rows
            .iter()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        Some(Grid {
            give: (0..rows.columns.len())
                .map(|c| give_of(&rows.columns[c], cells.iter().map(|r| r[c].as_str())))
                .collect(),
            headers: rows.columns,
            cells,
        })
    }
}

/// A table before it is fitted to the terminal: headers, how each column gives way, and the
/// cells' text (not yet escaped).
pub struct Grid {
    pub headers: Vec<String>,
    pub give: Vec<Give>,
    pub cells: Vec<Vec<String>>,
}

/// How a stored column gives way on a table: the free-text columns as text; a column of
/// UUIDs or times kept whole as long as anything else can give way; any other as a name.
fn give_of<'a>(column: &str, mut values: impl Iterator<Item = &'a str>) -> Give {
    match column {
        "result_message"
        | "error_message"
        | "last_execution_error"
        | "action_details"
        | "metadata"
        | "user_agent"
        | "logs" => Give::Text,
        _ if values.all(|v| {
            v.is_empty() || short_id::of(v) != v || DateTime::parse_from_rfc3339(v).is_ok()
        }) =>
        {
            Give::Keep
        }
        _ => Give::Cut,
    }
}

/// One column of a compact set.
pub struct Compact {
    header: &'static str,
    show: Show,
    give: Give,
}

/// What a compact column shows of a row.
enum Show {
    /// The column's value as stored.
    Value(&'static str),
    /// An RFC 3339 time to the second, in UTC as stored: `2026-11-03T10:00:05Z`.
    Time(&'static str),
    /// A UUID's last 8 hex digits (see [`short_id`]).
    ShortId(&'static str),
    /// Seconds in a unit that fits: `0.052s`, `12.3s`, `4m05s`, `2h03m`.
    Seconds(&'static str),
    /// The first of these columns that holds something.
    FirstOf(&'static [&'static str]),
    /// These columns' values, space-separated.
    Joined(&'static [&'static str]),
}

const fn col(header: &'static str, show: Show, give: Give) -> Compact {
    Compact { header, show, give }
}

/// `actions`: time, short id, type, status, user, job, duration, and the error or else the
/// result message.
pub const ACTIONS: &[Compact] = &[
    col("time", Show::Time("action_timestamp"), Give::Keep),
    col("id", Show::ShortId("id"), Give::Keep),
    col("type", Show::Value("action_type"), Give::Cut),
    col("status", Show::Value("status"), Give::Keep),
    col("user", Show::Value("user_id"), Give::Cut),
    col("job", Show::Value("job_id"), Give::Cut),
    col(
        "duration",
        Show::Seconds("request_duration_seconds"),
        Give::Keep,
    ),
    col(
        "message",
        Show::FirstOf(&["error_message", "result_message"]),
        Give::Text,
    ),
];

/// `runs`: start, short id, job, status, duration, error, metadata.
pub const RUNS: &[Compact] = &[
    col("started", Show::Time("started_at"), Give::Keep),
    col("id", Show::ShortId("id"), Give::Keep),
    col("job", Show::Value("job_id"), Give::Cut),
    col("status", Show::Value("status"), Give::Keep),
    col("duration", Show::Seconds("duration_seconds"), Give::Keep),
    col("error", Show::Value("error_message"), Give::Text),
    col("metadata", Show::Value("metadata"), Give::Text),
];

/// `jobs`' `scheduled_jobs_status`: job, status, schedule, last and next run, consecutive
/// failures, last error.
pub const JOB_STATUS: &[Compact] = &[
    col("job", Show::Value("job_id"), Give::Cut),
    col("status", Show::Value("job_status"), Give::Keep),
    col(
        "schedule",
        Show::Joined(&["schedule_type", "schedule_value"]),
        Give::Cut,
    ),
    col("last run", Show::Time("last_attempted_run"), Give::Keep),
    col("next run", Show::Time("next_scheduled_run"), Give::Keep),
    col("failures", Show::Value("consecutive_failures"), Give::Keep),
    col(
        "last error",
        Show::Value("last_execution_error"),
        Give::Text,
    ),
];

/// `jobs`' `job_execution_summary`: job, runs by outcome, success rate, mean duration, last
/// run.
pub const JOB_SUMMARY: &[Compact] = &[
    col("job", Show::Value("job_id"), Give::Cut),
    col("runs", Show::Value("total_executions"), Give::Keep),
    col("ok", Show::Value("successful_executions"), Give::Keep),
    col("failed", Show::Value("failed_executions"), Give::Keep),
    col("cancelled", Show::Value("cancelled_executions"), Give::Keep),
    col("rate %", Show::Value("success_rate"), Give::Keep),
    col("mean", Show::Seconds("avg_duration_seconds"), Give::Keep),
    col("last run", Show::Time("last_execution"), Give::Keep),
];

impl Show {
    fn text(&self, rows: &Rows, i: usize) -> String {
        let value = |c: &str| rows.get(i, c).map(cell_text).unwrap_or_default();
        match self {
            Show::Value(c) => value(c),
            Show::Time(c) => {
                let t = value(c);
                match DateTime::parse_from_rfc3339(&t) {
                    Ok(parsed) => parsed
                        .with_timezone(&Utc)
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                    Err(_) => t,
                }
            }
            Show::ShortId(c) => short_id::of(&value(c)).to_owned(),
            Show::Seconds(c) => match rows.get(i, c).and_then(seconds) {
                Some(s) => duration(s),
                None => value(c),
            },
            Show::FirstOf(cs) => cs
                .iter()
                .map(|c| value(c))
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
            Show::Joined(cs) => cs
                .iter()
                .map(|c| value(c))
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// A number of seconds, stored as a number or as its text.
fn seconds(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Seconds in a unit that fits a narrow column.
fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return format!("{s}s");
    }
    if s < 10.0 {
        format!("{s:.3}s")
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let whole = s as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        let whole = s as u64;
        format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], rows: Vec<Vec<Value>>) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    #[test]
    fn durations_in_units() {
        assert_eq!(duration(0.0523), "0.052s");
        assert_eq!(duration(12.34), "12.3s");
        assert_eq!(duration(245.9), "4m05s");
        assert_eq!(duration(7380.0), "2h03m");
    }

    #[test]
    fn compact_cells() {
        let r = rows(
            &[
                "id",
                "action_timestamp",
                "error_message",
                "result_message",
                "request_duration_seconds",
            ],
            vec![
                vec![
                    "01890a5d-ac96-774b-bcce-b302099a8057".into(),
                    "2026-11-03T10:00:05.123456Z".into(),
                    Value::Null,
                    "done".into(),
                    0.5.into(),
                ],
                vec![
                    "not-a-uuid".into(),
                    "yesterday".into(),
                    "boom".into(),
                    "done".into(),
                    Value::Null,
                ],
            ],
        );
        let g = Pick::Compact.grid(&r, Some(ACTIONS)).unwrap();
        assert_eq!(g.headers[0], "time");
        assert_eq!(g.cells[0][0], "2026-11-03T10:00:05Z");
        assert_eq!(g.cells[0][1], "099a8057");
        assert_eq!(g.cells[0][6], "0.500s");
        assert_eq!(g.cells[0][7], "done");
        assert_eq!(g.cells[1][0], "yesterday", "shown as stored");
        assert_eq!(g.cells[1][1], "not-a-uuid");
        assert_eq!(g.cells[1][6], "");
        assert_eq!(g.cells[1][7], "boom", "the error before the result");
    }

    #[test]
    fn named_columns_are_checked_and_kept_in_order() {
        let a = rows(&["job_id", "job_status"], vec![]);
        let b = rows(&["job_id", "total_executions"], vec![]);
        let pick = Pick::new(
            false,
            Some(vec!["total_executions".into(), "job_id".into()]),
        );
        assert_eq!(pick.check("jobs", &[&a, &b]), Ok(()));
        assert_eq!(pick.project(&a).unwrap().columns, ["job_id"]);
        assert_eq!(
            pick.project(&b).unwrap().columns,
            ["total_executions", "job_id"]
        );
        let only = Pick::new(false, Some(vec!["job_status".into()]));
        assert!(
            only.project(&b).is_none(),
            "a part without them is left out"
        );
        let bad = Pick::new(false, Some(vec!["job_id".into(), "colour".into()]));
        assert_eq!(
            bad.check("jobs", &[&a, &b]),
            Err(
                "unknown column \"colour\" for jobs; valid columns: job_id, job_status, total_executions"
                    .into()
            )
        );
    }
}
