//! The audit trail's reads: every action and run as the store keeps it, oldest first by
//! `(time, id)` and page by page by key ([`Store::scan_actions`], [`Store::scan_runs`]), and
//! the signed digests of `audit_digests` ([`Store::digests`]).
//!
//! A scan returns rows, not display values: each column as stored, built straight from the
//! driver's row (no JSON detour on SQLite and PostgreSQL) so that a verifier can read millions;
//! what each store keeps of a written record is listed on [`Store::scan_actions`]. A column
//! NULL where the record has no `Option` comes back empty (`status` `""`, `action_details` /
//! `metadata` `{}`, `logs` `""` with [`ScannedRun::logs_null`] set); a value no record can
//! hold (an id that is not a UUID, details that are not a JSON object) is an error naming the
//! row, never passed over.
//!
//! [`Store::scan_actions`]: super::Store::scan_actions
//! [`Store::scan_runs`]: super::Store::scan_runs
//! [`Store::digests`]: super::Store::digests

#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(dead_code)
)]

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::sql::Dialect;
use super::{Entity, Error, MAX_ROWS};
use crate::rows::JobExecution;

/// One `job_executions` row as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScannedRun {
    /// The run; `logs` is empty when the column is NULL.
    pub run: JobExecution,
    /// Whether `logs` is NULL in the store (rather than an empty text).
    pub logs_null: bool,
}

/// Where a scan starts and how much it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    /// Rows at or after this time.
    pub(crate) from: Option<DateTime<Utc>>,
    /// Rows after this `(time, id)`: the last row of the previous page.
    pub(crate) after: Option<(DateTime<Utc>, Uuid)>,
    /// Rows to read: the caller's limit, at most [`MAX_ROWS`].
    pub(crate) limit: usize,
}

impl Scan {
    /// `None` for a limit of 0 (nothing to read).
    pub(crate) fn new(
        from: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Option<Scan> {
        (limit > 0).then(|| Scan {
            from,
            after,
            limit: limit.min(MAX_ROWS),
        })
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    /// The SQL of this scan of `e`'s table for SQLite or PostgreSQL: the columns of
    /// [`action_columns`] / [`run_columns`] in order; placeholders in the order `from`,
    /// `after`'s time, `after`'s id (those present), then the limit.
    pub(crate) fn sql(&self, d: Dialect, e: Entity, trace: bool) -> String {
        let casts = d == Dialect::Postgres;
        let cols = match e {
            Entity::Actions => action_columns(casts, trace),
            Entity::Runs => run_columns(casts, trace),
        };
        let time = e.time_column();
        let mut n = 0;
        let mut mark = || {
            n += 1;
            match d {
                Dialect::Sqlite => format!("?{n}"),
                Dialect::Postgres => format!("${n}"),
            }
        };
        let mut wheres = vec![format!("{time} IS NOT NULL")];
        if self.from.is_some() {
            wheres.push(format!("{time} >= {}", mark()));
        }
        if self.after.is_some() {
            let (t, id) = (mark(), mark());
            // The time alone first, so the time index bounds the range; then the tie-break.
            wheres.push(format!("{time} >= {t} AND ({time} > {t} OR id > {id})"));
        }
        format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {time}, id LIMIT {}",
            cols.join(", "),
            e.table(),
            wheres.join(" AND "),
            mark()
        )
    }
}

/// The `action_logs` columns a scan reads, in [`crate::ActionRecord`]'s order; with `casts`
/// (PostgreSQL), the job run's UUID and the NUMERIC duration as their text (the duration
/// through its exact decimal text).
pub(crate) fn action_columns(casts: bool, trace: bool) -> Vec<&'static str> {
    let mut cols = vec![
        "id",
        "action_type",
        "user_id",
        "action_timestamp",
        "action_details",
        "job_id",
        if casts {
            "job_execution_id::text"
        } else {
            "job_execution_id"
        },
        "status",
        "result_message",
        "error_message",
        "source",
        "ip_address",
        "user_agent",
        if casts {
            "request_duration_seconds::text"
        } else {
            "request_duration_seconds"
        },
    ];
    if trace {
        cols.extend(Entity::TRACE_COLUMNS);
    }
    cols
}

/// The `job_executions` columns a scan reads, in [`JobExecution`]'s order; `casts` as for
/// [`action_columns`].
pub(crate) fn run_columns(casts: bool, trace: bool) -> Vec<&'static str> {
    let mut cols = vec![
        "id",
        "job_id",
        "status",
        "started_at",
        "completed_at",
        if casts {
            "duration_seconds::text"
        } else {
            "duration_seconds"
        },
        "error_message",
        "logs",
        "metadata",
    ];
    if trace {
        cols.extend(Entity::TRACE_COLUMNS);
    }
    cols
}

/// A stored JSON column as the record's map: NULL as `{}`; anything but an object is refused
/// (the record cannot hold it, and the row must not pass for another).
pub(crate) fn json_map(v: Option<Value>) -> Result<Map<String, Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(format!("holds JSON that is not an object: {other}")),
    }
}

/// A duration as PostgreSQL prints its NUMERIC: the nearest `f64` to that decimal.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn decimal(text: Option<String>) -> Result<Option<f64>, String> {
    text.map(|t| {
        t.parse::<f64>()
            .map_err(|_| format!("holds a duration that is not a number: {t:?}"))
    })
    .transpose()
}

/// A stored time: RFC 3339, kept to the microsecond.
#[cfg_attr(not(any(feature = "sqlite", feature = "supabase")), allow(dead_code))]
pub(crate) fn time(text: &str) -> Result<DateTime<Utc>, String> {
    crate::rows::time_from_json(text)
        .ok_or_else(|| format!("holds a time that is not RFC 3339: {text:?}"))
}

/// The error for a stored row a record cannot hold: its table, id and what is wrong.
pub(crate) fn bad_row(target: &str, e: Entity, id: &dyn std::fmt::Display, what: &str) -> Error {
    Error::Query {
        target: target.to_owned(),
        reason: format!("{} row {id}: {what}", e.table()),
    }
}

/// Digests as [`super::Store::digests`] returns them: ordered by writer (byte order of its
/// text, whatever the database's collation) and seq.
pub(crate) fn ordered(mut rows: Vec<(String, i64, String)>) -> Vec<String> {
    rows.sort_by(|a, b| (a.0.as_bytes(), a.1).cmp(&(b.0.as_bytes(), b.1)));
    rows.into_iter().map(|(_, _, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_binds_in_order() {
        let t = Utc::now();
        let all = Scan::new(None, None, 5).unwrap();
        assert_eq!(
            all.sql(Dialect::Sqlite, Entity::Runs, false),
            "SELECT id, job_id, status, started_at, completed_at, duration_seconds, error_message, \
             logs, metadata FROM job_executions WHERE started_at IS NOT NULL \
             ORDER BY started_at, id LIMIT ?1"
        );
        let both = Scan::new(Some(t), Some((t, Uuid::nil())), 5).unwrap();
        let sql = both.sql(Dialect::Postgres, Entity::Actions, true);
        assert!(
            sql.ends_with(
                "WHERE action_timestamp IS NOT NULL AND action_timestamp >= $1 AND \
                 action_timestamp >= $2 AND (action_timestamp > $2 OR id > $3) \
                 ORDER BY action_timestamp, id LIMIT $4"
            ),
            "{sql}"
        );
        assert!(sql.contains("request_duration_seconds::text, trace_id, span_id FROM"));
        assert!(Scan::new(None, None, 0).is_none());
        assert_eq!(Scan::new(None, None, usize::MAX).unwrap().limit, MAX_ROWS);
    }

    #[test]
    fn digests_in_byte_order_of_writer_then_seq() {
        let rows = vec![
            ("b".into(), 1, "b1".into()),
            ("B".into(), 2, "B2".into()),
            ("a-b".into(), 1, "a-b1".into()),
            ("a".into(), 10, "a10".into()),
            ("a".into(), 9, "a9".into()),
            ("ab".into(), 1, "ab1".into()),
        ];
        assert_eq!(ordered(rows), ["B2", "a9", "a10", "a-b1", "ab1", "b1"]);
    }
}
