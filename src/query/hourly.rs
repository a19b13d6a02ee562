//! The dashboard's status histogram and failures grouped by error message over the per-hour
//! rollups (`migrations/0005_hourly_rollups.sql`, and the SQLite sink's copy of them): the whole
//! UTC hours of the range are read from the rollups, the partial hours at its ends (at most two)
//! from `action_logs` through a time index, and the two are summed — as [`super::rollup`] does
//! with days for `stats`. Results equal the scans of [`super::dashboard`] (a test compares
//! them over ranges of every shape, after updates and deletes).
//!
//! They answer only when the filter narrows by time alone ([`applies`]), and the histogram
//! only for buckets of an hour or more; any other filter is the scan, with the same result.
// Each dialect is used only when its store's feature is on.
#![cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use chrono::{DateTime, Duration, Utc};

use super::dashboard::{Bucket, pg_bucket};
use super::rollup::{Split, split_at};
use super::sql::{self, Dialect, Param, Sql};
use super::{Entity, Filter, MAX_ROWS, SECTION_ROWS};

/// The hourly rollup table that readers look for: it exists only complete.
pub(crate) const MARKER: &str = "action_logs_hourly_status";

/// Whether the rollups can answer for `f`: actions narrowed by their time range alone.
pub(crate) fn applies(f: &Filter) -> bool {
    f.entity == Entity::Actions && f.conds.is_empty()
}

/// Whether the histogram's buckets are whole hours (so whole rollup hours fall in one bucket).
pub(crate) fn whole_hours(b: Bucket) -> bool {
    matches!(b, Bucket::Hour | Bucket::Day | Bucket::Month)
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp().div_euclid(3_600) * 3_600;
    DateTime::from_timestamp(s, 0).unwrap_or(t)
}

/// The rollup's hour conditions and the table's edge conditions of `f`'s range, bound into
/// `sql`.
fn conditions(sql: &mut Sql, f: &Filter) -> (String, Vec<String>) {
    let d = sql.dialect();
    let sp: Split = split_at(f.since, f.until, hour_floor, Duration::hours(1));
    let unbounded = f.since.is_none() && f.until.is_none();
    let hour = |sql: &mut Sql, t: &DateTime<Utc>| match d {
        Dialect::Postgres => {
            let p = sql.bind(Param::Text(t.format("%Y-%m-%d %H:00:00").to_string()));
            format!("{p}::text::timestamp")
        }
        Dialect::Sqlite => sql.bind(Param::Text(t.format("%Y-%m-%dT%H").to_string())),
    };
    let mut hours = vec!["n > 0".to_owned()];
    if !sp.any_days {
        hours.push("false".into());
    }
    if let Some(t) = &sp.from_day {
        let p = hour(sql, t);
        hours.push(format!("hour >= {p}"));
    }
    if let Some(t) = &sp.to_day {
        let p = hour(sql, t);
        hours.push(format!("hour < {p}"));
    }
    if !unbounded && sp.from_day.is_none() {
        // Rows without a timestamp are in no bounded range (as `action_timestamp < $1`).
        hours.push(match d {
            Dialect::Postgres => "hour <> '-infinity'".into(),
            Dialect::Sqlite => "hour <> ''".into(),
        });
    }
    let edges = sp
        .edges
        .iter()
        .map(|(a, b)| {
            let a = sql.bind(sql::time_param(d, a));
            let b = sql.bind(sql::time_param(d, b));
            format!("action_timestamp >= {a} AND action_timestamp < {b}")
        })
        .collect();
    (hours.join(" AND "), edges)
}

/// `rollup` plus `table(edge)` for each partial hour, as one UNION ALL.
fn union(rollup: String, edges: &[String], table: impl Fn(&str) -> String) -> String {
    edges.iter().fold(rollup, |mut out, e| {
        out.push_str(" UNION ALL ");
        out.push_str(&table(e));
        out
    })
}

/// The histogram (columns and order of [`super::dashboard::histogram`]) of `f`'s range in
/// buckets `b` (whole hours: see [`whole_hours`]).
pub(crate) fn histogram(d: Dialect, f: &Filter, b: Bucket) -> Sql {
    let mut sql = Sql::new(d);
    let (hours, edges) = conditions(&mut sql, f);
    let n = b.prefix_len();
    let status = "CASE WHEN status_null THEN NULL ELSE status END";
    sql.text = match d {
        // An hour is its time's first 13 characters, so its bucket is a prefix of it too.
        Dialect::Sqlite => {
            let inner = union(
                format!(
                    "SELECT NULLIF(substr(hour, 1, {n}), '') AS bucket, {status} AS status, n \
                     FROM {MARKER} WHERE {hours}"
                ),
                &edges,
                |e| {
                    format!(
                        "SELECT substr(action_timestamp, 1, {n}), status, COUNT(*) \
                         FROM action_logs INDEXED BY idx_action_logs_stats WHERE {e} GROUP BY 1, 2"
                    )
                },
            );
            format!(
                "SELECT bucket, status, SUM(n) AS count FROM ({inner}) x GROUP BY 1, 2 \
                 HAVING SUM(n) > 0 ORDER BY 1, 2 LIMIT {MAX_ROWS}"
            )
        }
        // The bucket's start as a timestamp, formatted once per bucket (as the scan does).
        Dialect::Postgres => {
            let k = pg_bucket(b, "hour");
            let inner = union(
                format!(
                    "SELECT CASE WHEN hour = '-infinity' THEN NULL ELSE {k} END AS k, \
                     {status} AS status, n FROM {MARKER} WHERE {hours}"
                ),
                &edges,
                |e| {
                    format!(
                        "SELECT {}, status, COUNT(*) FROM action_logs WHERE {e} GROUP BY 1, 2",
                        pg_bucket(b, "(action_timestamp AT TIME ZONE 'UTC')")
                    )
                },
            );
            format!(
                "SELECT substr(to_char(k, 'YYYY-MM-DD\"T\"HH24:MI:SS'), 1, {n}) AS bucket, status, count \
                 FROM (SELECT k, status, SUM(n)::int8 AS count FROM ({inner}) x GROUP BY 1, 2 \
                       HAVING SUM(n) > 0) h ORDER BY 1, 2 LIMIT {MAX_ROWS}"
            )
        }
    };
    sql
}

/// `stats`' `actions_by_type_status` section (its columns and order: see
/// [`super::rollup::section`]) over `f`'s range, whose partial edges are then hours, not days.
pub(crate) fn by_type_status(d: Dialect, f: &Filter) -> Sql {
    let mut sql = Sql::new(d);
    let (hours, edges) = conditions(&mut sql, f);
    let (sum, actions) = match d {
        Dialect::Postgres => ("SUM(n)::int8", "action_logs"),
        Dialect::Sqlite => ("SUM(n)", "action_logs INDEXED BY idx_action_logs_stats"),
    };
    let inner = union(
        format!(
            "SELECT action_type, CASE WHEN status_null THEN NULL ELSE status END AS status, n \
             FROM {MARKER} WHERE {hours}"
        ),
        &edges,
        |e| {
            format!(
                "SELECT action_type, status, COUNT(*) FROM {actions} WHERE {e} \
                 GROUP BY action_type, status"
            )
        },
    );
    sql.text = format!(
        "SELECT action_type, status, {sum} AS count FROM ({inner}) x \
         GROUP BY action_type, status HAVING SUM(n) > 0 \
         ORDER BY count DESC, action_type, status LIMIT {SECTION_ROWS}"
    );
    sql
}

/// The failures grouped by message (columns and order of
/// [`super::dashboard::failure_groups`]) of `f`'s range.
pub(crate) fn failure_groups(d: Dialect, f: &Filter) -> Sql {
    let mut sql = Sql::new(d);
    let (hours, edges) = conditions(&mut sql, f);
    let sum = match d {
        Dialect::Postgres => "SUM(n)::int8",
        Dialect::Sqlite => "SUM(n)",
    };
    let inner = union(
        format!(
            "SELECT CASE WHEN error_null THEN NULL ELSE error_message END AS error_message, n, \
             first_seen, last_seen FROM action_logs_hourly_failures WHERE {hours}"
        ),
        &edges,
        |e| {
            format!(
                "SELECT error_message, COUNT(*), MIN(action_timestamp), MAX(action_timestamp) \
                 FROM action_logs WHERE status = 'failed' AND {e} GROUP BY error_message"
            )
        },
    );
    sql.text = format!(
        "SELECT error_message, {sum} AS count, MIN(first_seen) AS first_seen, \
         MAX(last_seen) AS last_seen FROM ({inner}) x GROUP BY error_message \
         ORDER BY count DESC, error_message LIMIT {SECTION_ROWS}"
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_floor_and_cut() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            hour_floor(t("2026-11-03T10:59:59.9Z")),
            t("2026-11-03T10:00:00Z")
        );
        let sp = split_at(
            Some(t("2026-11-03T10:30:00Z")),
            Some(t("2026-11-03T12:15:00Z")),
            hour_floor,
            Duration::hours(1),
        );
        assert_eq!(sp.from_day, Some(t("2026-11-03T11:00:00Z")));
        assert_eq!(sp.to_day, Some(t("2026-11-03T12:00:00Z")));
        assert_eq!(sp.edges.len(), 2);
    }
}
