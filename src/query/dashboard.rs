//! The two aggregates the dashboard needs beyond [`super::Stats`]: actions over time by status
//! (a histogram whose buckets are calendar units, so SQLite and PostgreSQL cut them the same
//! way from the time's text) and failures grouped by error message with first and last seen.
//! Both honour the whole filter (conditions and range), and both are bounded like every query.
// Each dialect is used only when its store's feature is on.
#![cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use chrono::{DateTime, Duration, Utc};

use super::sql::{Dialect, Sql, conditions};
use super::{Filter, MAX_ROWS, SECTION_ROWS};

/// A histogram bucket: a calendar unit, named by how much of an RFC 3339 UTC time
/// (`2026-11-03T10:20:30…`) it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One second.
    Second,
    /// Ten seconds.
    TenSeconds,
    /// One minute.
    Minute,
    /// Ten minutes.
    TenMinutes,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
    /// One calendar month (UTC).
    Month,
}

impl Bucket {
    /// The finest unit that cuts `span` into at most `max` buckets.
    pub fn fit(span: Duration, max: i64) -> Bucket {
        use Bucket::*;
        [Second, TenSeconds, Minute, TenMinutes, Hour, Day]
            .into_iter()
            .find(|b| b.approx_seconds() * max >= span.num_seconds())
            .unwrap_or(Month)
    }

    fn approx_seconds(self) -> i64 {
        match self {
            Bucket::Second => 1,
            Bucket::TenSeconds => 10,
            Bucket::Minute => 60,
            Bucket::TenMinutes => 600,
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
            Bucket::Month => 31 * 86_400,
        }
    }

    /// The bucket's name in `actionlog_histogram` (`migrations/0005_hourly_rollups.sql`).
    #[cfg_attr(not(feature = "supabase"), allow(dead_code))]
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Bucket::Second => "second",
            Bucket::TenSeconds => "10 seconds",
            Bucket::Minute => "minute",
            Bucket::TenMinutes => "10 minutes",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Month => "month",
        }
    }

    /// How many leading characters of the time text name the bucket.
    pub fn prefix_len(self) -> usize {
        match self {
            Bucket::Second => 19,
            Bucket::TenSeconds => 18,
            Bucket::Minute => 16,
            Bucket::TenMinutes => 15,
            Bucket::Hour => 13,
            Bucket::Day => 10,
            Bucket::Month => 7,
        }
    }

    /// The bucket's start and end from its name (a prefix of a time, as the query returns).
    pub fn range(self, name: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        const ZERO: &str = "0000-01-01T00:00:00Z";
        let n = self.prefix_len();
        let start: DateTime<Utc> = format!("{}{}", name.get(..n)?, &ZERO[n..]).parse().ok()?;
        let end = match self {
            Bucket::Month => start.checked_add_months(chrono::Months::new(1))?,
            b => start + Duration::seconds(b.approx_seconds()),
        };
        Some((start, end))
    }
}

/// The start of `t`'s bucket `b` in PostgreSQL, `t` a UTC `timestamp`: truncated per row
/// (cheap) and formatted once per group (`to_char` per row cost as much as the rest of the
/// query).
pub(crate) fn pg_bucket(b: Bucket, t: &str) -> String {
    match b {
        Bucket::Second => format!("date_trunc('second', {t})"),
        Bucket::TenSeconds => format!(
            "date_trunc('minute', {t}) + floor(extract(second FROM {t}) / 10) * interval '10 seconds'"
        ),
        Bucket::Minute => format!("date_trunc('minute', {t})"),
        Bucket::TenMinutes => format!(
            "date_trunc('hour', {t}) + floor(extract(minute FROM {t}) / 10) * interval '10 minutes'"
        ),
        Bucket::Hour => format!("date_trunc('hour', {t})"),
        Bucket::Day => format!("date_trunc('day', {t})"),
        Bucket::Month => format!("date_trunc('month', {t})"),
    }
}

/// `bucket`, `status`, `count` over the actions `f` selects, oldest bucket first; from the
/// hourly rollups when the store has them (`hourly`) and they can answer (see
/// [`super::hourly`]), else by a scan of the range's rows.
pub(crate) fn histogram(d: Dialect, f: &Filter, b: Bucket, hourly: bool) -> Sql {
    if hourly && super::hourly::applies(f) && super::hourly::whole_hours(b) {
        return super::hourly::histogram(d, f, b);
    }
    let mut sql = Sql::new(d);
    let w = conditions(&mut sql, f);
    let n = b.prefix_len();
    sql.text = match d {
        // The stored text is RFC 3339 UTC: the bucket is its first n characters.
        Dialect::Sqlite => format!(
            "SELECT substr(action_timestamp, 1, {n}) AS bucket, status, COUNT(*) AS count \
             FROM action_logs WHERE {w} GROUP BY 1, 2 ORDER BY 1, 2 LIMIT {MAX_ROWS}"
        ),
        // The same text as SQLite's prefix.
        Dialect::Postgres => {
            let k = pg_bucket(b, "(action_timestamp AT TIME ZONE 'UTC')");
            format!(
                "SELECT substr(to_char(k, 'YYYY-MM-DD\"T\"HH24:MI:SS'), 1, {n}) AS bucket, status, count \
                 FROM (SELECT {k} AS k, status, COUNT(*) AS count FROM action_logs WHERE {w} \
                       GROUP BY 1, 2) h ORDER BY 1, 2 LIMIT {MAX_ROWS}"
            )
        }
    };
    sql
}

/// `error_message`, `count`, `first_seen`, `last_seen` of the failed actions `f` selects,
/// most frequent first; from the hourly rollups when the store has them (`hourly`) and the
/// filter allows, else by a scan.
pub(crate) fn failure_groups(d: Dialect, f: &Filter, hourly: bool) -> Sql {
    if hourly && super::hourly::applies(f) {
        return super::hourly::failure_groups(d, f);
    }
    let mut sql = Sql::new(d);
    let w = conditions(&mut sql, f);
    sql.text = format!(
        "SELECT error_message, COUNT(*) AS count, MIN(action_timestamp) AS first_seen, \
         MAX(action_timestamp) AS last_seen FROM action_logs WHERE status = 'failed' AND {w} \
         GROUP BY error_message ORDER BY count DESC, error_message LIMIT {SECTION_ROWS}"
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_fit_and_name_their_range() {
        assert_eq!(Bucket::fit(Duration::hours(24), 60), Bucket::Hour);
        assert_eq!(Bucket::fit(Duration::seconds(15), 60), Bucket::Second);
        assert_eq!(Bucket::fit(Duration::days(400), 60), Bucket::Month);
        let (a, b) = Bucket::TenMinutes.range("2026-11-03T10:2").unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-03T10:20:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-11-03T10:30:00+00:00");
        let (_, b) = Bucket::Month.range("2026-12").unwrap();
        assert_eq!(b.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
