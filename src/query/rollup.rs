//! `stats` over the per-day rollups (`migrations/0004_rollups.sql`, and the SQLite sink's
//! copy of them): the whole UTC days of the range are read from the rollups, the partial days
//! at its ends from `action_logs` through the time index, and the two are summed. Results are
//! the same as the full scans of [`super::sql::stats`] give (a test compares them over ranges
//! of every shape); percentiles are exact at the millisecond resolution durations are stored
//! at (PostgreSQL's `DECIMAL(10,3)`; SQLite's REAL rounded to 3 decimals).
//!
//! Sections without a rollup (the failed actions, a capped list in time order, and the job
//! runs, a table a tenth the size) are the full-scan queries.

use chrono::{DateTime, Duration, NaiveTime, Utc};

use super::sql::{self, Dialect, Param, Sql};
use super::{Filter, SECTION_ROWS};

/// The rollup table that readers look for: it exists only complete.
pub(crate) const MARKER: &str = "action_logs_daily_status";

/// A time range cut at UTC midnights: whole days for the rollups, partial days for the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    /// First whole day (inclusive), if bounded.
    pub from_day: Option<DateTime<Utc>>,
    /// End of the whole days (exclusive), if bounded.
    pub to_day: Option<DateTime<Utc>>,
    /// Whether there are whole days at all.
    pub any_days: bool,
    /// The partial-day ranges `[since, until)` read from the table.
    pub edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Ranges read from the table and subtracted: the rest of a day whose whole is read from
    /// the rollup in place of its partial edge ([`complement`]).
    pub minus: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// Cuts `[since, until)` at midnights.
pub(crate) fn split(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Split {
    split_at(since, until, midnight, Duration::days(1))
}

/// Cuts `[since, until)` at the starts of units (`floor` gives the unit's start, `step` its
/// length): whole units for a rollup, partial ones for the table. (The fields say "day" for
/// any unit.)
pub(crate) fn split_at(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    floor: fn(DateTime<Utc>) -> DateTime<Utc>,
    step: Duration,
) -> Split {
    let from_day = since.map(|s| {
        let m = floor(s);
        if m == s { m } else { m + step }
    });
    let to_day = until.map(floor);
    if let (Some(s), Some(u), Some(a), Some(b)) = (since, until, from_day, to_day) {
        // Within one unit. (A range across one boundary, `a == b`, is two partial units and
        // no whole one: each edge can then be complemented on its own.)
        if a > b {
            return Split {
                from_day,
                to_day,
                any_days: false,
                edges: vec![(s, u)],
                minus: Vec::new(),
            };
        }
    }
    let mut edges = Vec::new();
    if let (Some(s), Some(a)) = (since, from_day) {
        if s < a {
            edges.push((s, a));
        }
    }
    if let (Some(u), Some(b)) = (until, to_day) {
        if b < u {
            edges.push((b, u));
        }
    }
    Split {
        from_day,
        to_day,
        any_days: true,
        edges,
        minus: Vec::new(),
    }
}

/// `sp` with each partial day whose rest reads fewer rows taken as the whole day (from the
/// rollup) less that rest (from the table): exact either way, as the counts are sums. The
/// rows read are judged by time, up to `now`: the rest of today is the future, which holds no
/// rows (a range ending now, the overview's, reads nearly nothing for today).
pub(crate) fn complement(mut sp: Split, now: DateTime<Utc>) -> Split {
    if !sp.any_days {
        return sp;
    }
    let day = Duration::days(1);
    let len = |a: DateTime<Utc>, b: DateTime<Utc>| (b.min(now) - a).max(Duration::zero());
    let mut edges = Vec::new();
    for (a, b) in std::mem::take(&mut sp.edges) {
        if Some(b) == sp.from_day && len(b - day, a) < len(a, b) {
            sp.from_day = Some(b - day);
            sp.minus.push((b - day, a));
        } else if Some(a) == sp.to_day && len(b, a + day) < len(a, b) {
            sp.to_day = Some(a + day);
            sp.minus.push((b, a + day));
        } else {
            edges.push((a, b));
        }
    }
    sp.edges = edges;
    sp
}

/// The rollup day conditions and the table's edge conditions of `split` (each with the count
/// it adds: `COUNT(*)`, or `-COUNT(*)` for the ranges subtracted), bound into `sql`.
fn conditions(sql: &mut Sql, sp: &Split, unbounded: bool) -> (String, Vec<(String, &'static str)>) {
    let d = sql.dialect();
    let day = |sql: &mut Sql, t: &DateTime<Utc>| {
        let p = sql.bind(Param::Text(t.format("%Y-%m-%d").to_string()));
        match d {
            Dialect::Postgres => format!("{p}::text::date"),
            Dialect::Sqlite => p,
        }
    };
    let mut days = vec!["n > 0".to_owned()];
    if !sp.any_days {
        days.push("false".into());
    }
    if let Some(t) = &sp.from_day {
        let p = day(sql, t);
        days.push(format!("day >= {p}"));
    }
    if let Some(t) = &sp.to_day {
        let p = day(sql, t);
        days.push(format!("day < {p}"));
    }
    if !unbounded && sp.from_day.is_none() {
        // Rows without a timestamp are in no bounded range (as `action_timestamp < $1`).
        days.push(match d {
            Dialect::Postgres => "day <> '-infinity'".into(),
            Dialect::Sqlite => "day <> ''".into(),
        });
    }
    let plus = sp.edges.iter().map(|r| (r, "COUNT(*)"));
    let minus = sp.minus.iter().map(|r| (r, "-COUNT(*)"));
    let edges = plus
        .chain(minus)
        .map(|((a, b), count)| {
            let a = sql.bind(sql::time_param(d, a));
            let b = sql.bind(sql::time_param(d, b));
            (
                format!("action_timestamp >= {a} AND action_timestamp < {b}"),
                count,
            )
        })
        .collect();
    (days.join(" AND "), edges)
}

/// `rollup` (already restricted to whole days) plus `table(edge, count)` for each partial day
/// or subtracted range (one index range each): the UNION ALL a section sums.
fn union(rollup: String, edges: &[(String, &str)], table: impl Fn(&str, &str) -> String) -> String {
    let mut out = rollup;
    for (e, count) in edges {
        out.push_str(" UNION ALL ");
        out.push_str(&table(e, count));
    }
    out
}

/// The three sections that have a rollup.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Section {
    /// `actions_by_type_status`.
    ByTypeStatus,
    /// `user_activity`.
    Users,
    /// `action_durations`.
    Durations,
}

/// `section` over `range`: the whole days from its rollup, the partial days from the table.
pub(crate) fn section(d: Dialect, range: &Filter, section: Section) -> Sql {
    let n = SECTION_ROWS;
    let sp = complement(split(range.since, range.until), chrono::Utc::now());
    let unbounded = range.since.is_none() && range.until.is_none();
    let sum = match d {
        Dialect::Postgres => "SUM(n)::int8",
        Dialect::Sqlite => "SUM(n)",
    };
    let null_if = |flag: &str, col: &str| format!("CASE WHEN {flag} THEN NULL ELSE {col} END");
    // SQLite keeps durations as REAL: the rollup keys them at milliseconds, so must the edges.
    // Its planner, without ANALYZE statistics, would walk the time index and look each row
    // up: the covering index made with the rollups answers from the index alone.
    let (duration, actions) = match d {
        Dialect::Postgres => ("request_duration_seconds", "action_logs"),
        Dialect::Sqlite => (
            "round(request_duration_seconds, 3)",
            "action_logs INDEXED BY idx_action_logs_stats",
        ),
    };

    let mut q = Sql::new(d);
    let (days, edges) = conditions(&mut q, &sp, unbounded);
    q.text = match section {
        Section::ByTypeStatus => {
            let inner = union(
                format!(
                    "SELECT action_type, {} AS status, n FROM {MARKER} WHERE {days}",
                    null_if("status_null", "status")
                ),
                &edges,
                |e, count| {
                    format!(
                        "SELECT action_type, status, {count} AS n FROM {actions} \
                             WHERE {e} GROUP BY action_type, status"
                    )
                },
            );
            format!(
                "SELECT action_type, status, {sum} AS count FROM ({inner}) x \
                     GROUP BY action_type, status HAVING SUM(n) > 0 \
                     ORDER BY count DESC, action_type, status LIMIT {n}"
            )
        }
        Section::Users => {
            let inner = union(
                format!(
                    "SELECT {} AS user_id, action_type, n FROM action_logs_daily_users WHERE {days}",
                    null_if("user_null", "user_id")
                ),
                &edges,
                |e, count| {
                    format!(
                        "SELECT user_id, action_type, {count} AS n FROM {actions} \
                             WHERE {e} GROUP BY user_id, action_type"
                    )
                },
            );
            // Netted per user and type first: a subtracted range can empty a pair.
            format!(
                "SELECT user_id, {sum} AS action_count, COUNT(action_type) AS unique_actions \
                     FROM (SELECT user_id, action_type, SUM(n) AS n FROM ({inner}) x \
                           GROUP BY user_id, action_type HAVING SUM(n) > 0) y \
                     GROUP BY user_id ORDER BY action_count DESC, user_id LIMIT {n}"
            )
        }
        Section::Durations => {
            let inner = union(
                format!(
                    "SELECT action_type, duration AS v, n FROM action_logs_daily_durations WHERE {days}"
                ),
                &edges,
                |e, count| {
                    format!(
                        "SELECT action_type, {duration} AS v, {count} AS n FROM {actions} \
                             WHERE request_duration_seconds IS NOT NULL AND {e} \
                             GROUP BY action_type, {duration}"
                    )
                },
            );
            let hist = format!(
                "SELECT action_type, v, SUM(n) AS c FROM ({inner}) x GROUP BY action_type, v \
                 HAVING SUM(n) > 0"
            );
            format!(
                "{} ORDER BY action_type LIMIT {n}",
                sql::percentiles(d, "action_type", &hist)
            )
        }
    };
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cuts_at_midnights() {
        let sp = split(Some(t("2026-11-03T10:00:00Z")), None);
        assert_eq!(sp.from_day, Some(t("2026-11-04T00:00:00Z")));
        assert_eq!(
            sp.edges,
            vec![(t("2026-11-03T10:00:00Z"), t("2026-11-04T00:00:00Z"))]
        );
        let sp = split(
            Some(t("2026-11-03T00:00:00Z")),
            Some(t("2026-11-05T00:00:00Z")),
        );
        assert!(sp.any_days && sp.edges.is_empty());
        let sp = split(
            Some(t("2026-11-03T10:00:00Z")),
            Some(t("2026-11-03T11:00:00Z")),
        );
        assert!(!sp.any_days);
        assert_eq!(
            sp.edges,
            vec![(t("2026-11-03T10:00:00Z"), t("2026-11-03T11:00:00Z"))]
        );
        let sp = split(
            Some(t("2026-11-03T10:00:00Z")),
            Some(t("2026-11-05T06:00:00Z")),
        );
        assert_eq!(sp.edges.len(), 2);
        assert!(sp.any_days);
        // Across one midnight: no whole day, two partial ones.
        let one = split(
            Some(t("2026-11-03T10:00:00Z")),
            Some(t("2026-11-04T10:00:00Z")),
        );
        assert!(one.any_days && one.from_day == one.to_day);
        assert_eq!(one.edges.len(), 2);
        // 10:00 → midnight is longer than midnight → 10:00: the whole day less that; and
        // the rest of the last day is after `now`, so it reads nothing.
        let sp = complement(sp, t("2026-11-05T06:00:00Z"));
        assert_eq!(sp.from_day, Some(t("2026-11-03T00:00:00Z")));
        assert_eq!(sp.to_day, Some(t("2026-11-06T00:00:00Z")));
        assert!(sp.edges.is_empty());
        assert_eq!(
            sp.minus,
            vec![
                (t("2026-11-03T00:00:00Z"), t("2026-11-03T10:00:00Z")),
                (t("2026-11-05T06:00:00Z"), t("2026-11-06T00:00:00Z"))
            ]
        );
    }
}
