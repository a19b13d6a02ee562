//! The SQL the SQLite and PostgreSQL backends run, built for either dialect from a [`Filter`]:
//! only fixed column names are written into the text, every value becomes a placeholder.
// Each dialect is used only when its store's feature is on.
#![cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Cursor, Entity, Field, Filter, MAX_ROWS, Op, PageQuery, SECTION_ROWS};

/// Which SQL the text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Time(DateTime<Utc>),
}

/// How a time is written in SQLite's text columns (what the sink stores).
pub(crate) fn sqlite_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// SQL text with its parameters, in placeholder order.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    pub(super) dialect: Dialect,
}

impl Sql {
    pub(super) fn new(dialect: Dialect) -> Self {
        Sql {
            text: String::new(),
            params: Vec::new(),
            dialect,
        }
    }

    pub(super) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Adds a parameter; returns its placeholder.
    pub(super) fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }
}

/// The text of a column for comparisons.
fn text_of(d: Dialect, e: Entity, column: &str) -> String {
    if d == Dialect::Postgres && e.is_uuid(column) {
        format!("{column}::text")
    } else {
        column.to_owned()
    }
}

/// The WHERE conditions of `f` (without `WHERE`), `true` when there are none.
pub(super) fn conditions(sql: &mut Sql, f: &Filter) -> String {
    let d = sql.dialect;
    let mut parts: Vec<String> = Vec::new();
    for c in &f.conds {
        let lhs = match &c.field {
            Field::Column(col) => text_of(d, f.entity, col),
            Field::Text => {
                // Any of the text columns (the JSON column as its text); NULLs never match.
                let v = sql.bind(Param::Text(c.value.clone()));
                let any: Vec<String> = f
                    .entity
                    .text_columns()
                    .iter()
                    .map(|col| match d {
                        Dialect::Sqlite => format!("instr({col}, {v}) > 0"),
                        Dialect::Postgres => format!("strpos({col}::text, {v}) > 0"),
                    })
                    .collect();
                parts.push(format!("({})", any.join(" OR ")));
                continue;
            }
            Field::Json(key) => {
                let json = f.entity.json_column();
                match d {
                    Dialect::Postgres => {
                        let k = sql.bind(Param::Text(key.clone()));
                        format!("({json} ->> {k})")
                    }
                    // json_extract gives SQL values (1 for true): write them as PostgreSQL's
                    // ->> does, so `details.flag=true` means the same in both stores.
                    Dialect::Sqlite => {
                        let p = sql.bind(Param::Text(format!("$.{key}")));
                        format!(
                            "(CASE json_type({json}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                             WHEN 'object' THEN json_extract({json}, {p}) WHEN 'array' THEN json_extract({json}, {p}) \
                             ELSE CAST(json_extract({json}, {p}) AS TEXT) END)"
                        )
                    }
                }
            }
        };
        let v = sql.bind(Param::Text(c.value.clone()));
        parts.push(match (c.op, d) {
            (Op::Eq, _) => format!("{lhs} = {v}"),
            (Op::Ne, Dialect::Sqlite) => format!("{lhs} IS NOT {v}"),
            (Op::Ne, Dialect::Postgres) => format!("{lhs} IS DISTINCT FROM {v}"),
            (Op::Contains, Dialect::Sqlite) => format!("instr({lhs}, {v}) > 0"),
            (Op::Contains, Dialect::Postgres) => format!("strpos({lhs}, {v}) > 0"),
        });
    }
    time_range(sql, f.entity.time_column(), f, &mut parts);
    if parts.is_empty() {
        "true".into()
    } else {
        parts.join(" AND ")
    }
}

pub(super) fn time_param(d: Dialect, t: &DateTime<Utc>) -> Param {
    match d {
        Dialect::Sqlite => Param::Text(sqlite_time(t)),
        Dialect::Postgres => Param::Time(*t),
    }
}

fn time_range(sql: &mut Sql, col: &str, f: &Filter, parts: &mut Vec<String>) {
    let d = sql.dialect;
    if let Some(t) = &f.since {
        let p = sql.bind(time_param(d, t));
        parts.push(format!("{col} >= {p}"));
    }
    if let Some(t) = &f.until {
        let p = sql.bind(time_param(d, t));
        parts.push(format!("{col} < {p}"));
    }
}

/// The columns a page shows, with the casts PostgreSQL needs to hand back plain types.
fn page_columns(d: Dialect, e: Entity) -> &'static str {
    match (e, d) {
        (Entity::Actions, Dialect::Sqlite) => {
            "id, action_timestamp, action_type, status, user_id, source, job_id, job_execution_id, \
             result_message, error_message, request_duration_seconds, ip_address, user_agent, action_details"
        }
        (Entity::Actions, Dialect::Postgres) => {
            "id::text AS id, action_timestamp, action_type, status, user_id, source, job_id, \
             job_execution_id::text AS job_execution_id, result_message, error_message, \
             request_duration_seconds::float8 AS request_duration_seconds, ip_address, user_agent, action_details"
        }
        (Entity::Runs, Dialect::Sqlite) => {
            "id, started_at, job_id, status, completed_at, duration_seconds, error_message, metadata"
        }
        (Entity::Runs, Dialect::Postgres) => {
            "id::text AS id, started_at, job_id, status, completed_at, \
             duration_seconds::float8 AS duration_seconds, error_message, metadata"
        }
    }
}

/// One page, newest first by `(time, id)`, asking for one row more than the page to know
/// whether another page follows; with the trace ids when the table has them (`trace`).
pub(crate) fn page(d: Dialect, q: &PageQuery, trace: bool) -> Sql {
    let mut sql = Sql::new(d);
    let e = q.filter.entity;
    let time = e.time_column();
    let mut wheres = conditions(&mut sql, &q.filter);
    if let Some(Cursor { time: t, id }) = &q.before {
        let tp = match d {
            Dialect::Sqlite => Param::Text(t.clone()),
            Dialect::Postgres => Param::Time(
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default(),
            ),
        };
        let tp = sql.bind(tp);
        let ip = sql.bind(Param::Text(id.clone()));
        let ip = match d {
            Dialect::Sqlite => ip,
            Dialect::Postgres => format!("{ip}::text::uuid"),
        };
        // The plain bound too: planners use it as the time index's range, where the row
        // comparison alone would be a filter over every newer row (page 1 000 read 50 000).
        wheres.push_str(&format!(
            " AND {time} <= {tp} AND ({time}, id) < ({tp}, {ip})"
        ));
    }
    let limit = q.limit.clamp(1, MAX_ROWS) + 1;
    let trace_columns = if trace { ", trace_id, span_id" } else { "" };
    sql.text = format!(
        "SELECT {}{trace_columns} FROM {} WHERE {wheres} ORDER BY {time} DESC, id DESC LIMIT {limit}",
        page_columns(d, e),
        e.table()
    );
    sql
}

/// One run's captured log lines.
pub(crate) fn run_logs(d: Dialect, id: &str) -> Sql {
    let mut sql = Sql::new(d);
    let p = sql.bind(Param::Text(id.to_owned()));
    sql.text = format!(
        "SELECT logs FROM job_executions WHERE {} = {p} LIMIT 1",
        text_of(d, Entity::Runs, "id")
    );
    sql
}

/// `percentile_disc` for p = 0.5 and 0.95 of a histogram `hist` (columns `key`, `v`, `c`: one
/// row per key and distinct value, with its count: a hash or index aggregate, or a rollup)
/// instead of sorting every row: the smallest value whose cumulative count reaches p of the
/// total, which is what `percentile_disc` returns. Columns `key`, `timed`, `p50_seconds`,
/// `p95_seconds`.
pub(super) fn percentiles(d: Dialect, key: &str, hist: &str) -> String {
    let (v, timed) = match d {
        Dialect::Postgres => ("v::float8", "SUM(c)::int8"),
        Dialect::Sqlite => ("v", "SUM(c)"),
    };
    format!(
        "SELECT {key}, {timed} AS timed, \
         MIN({v}) FILTER (WHERE cum >= 0.5 * tot) AS p50_seconds, \
         MIN({v}) FILTER (WHERE cum >= 0.95 * tot) AS p95_seconds \
         FROM (SELECT {key}, v, c, SUM(c) OVER (PARTITION BY {key} ORDER BY v) AS cum, \
                 SUM(c) OVER (PARTITION BY {key}) AS tot FROM ({hist}) h) w \
         GROUP BY {key}"
    )
}

/// The histogram of `value` per `key` over the rows of `from` where `w` holds.
fn histogram(key: &str, value: &str, from: &str, w: &str) -> String {
    format!(
        "SELECT {key}, {value} AS v, COUNT(*) AS c FROM {from} \
         WHERE {value} IS NOT NULL AND {w} GROUP BY {key}, {value}"
    )
}

/// The stats sections over the range of `f` (its conditions are ignored), reading the
/// actions and the runs from `from` (the tables, or SQLite's `NOT INDEXED` / `INDEXED BY`
/// forms of them: the caller knows which access path is best); with `rollups`, the three
/// sections that have one sum it ([`super::rollup`]; with `hourly`, by type and status the
/// hourly one, [`super::hourly`], whose edges are hours) instead of scanning.
pub(crate) fn stats(
    d: Dialect,
    range: &Filter,
    from: [&str; 2],
    rollups: bool,
    hourly: bool,
) -> Vec<(&'static str, Sql)> {
    use super::rollup::{self, Section};
    let n = SECTION_ROWS;
    let [actions, runs] = from;
    let window = |col: &str| {
        let mut sql = Sql::new(d);
        let mut parts = Vec::new();
        time_range(&mut sql, col, range, &mut parts);
        let w = if parts.is_empty() {
            "true".to_owned()
        } else {
            parts.join(" AND ")
        };
        (sql, w)
    };
    let num = |e: &str| match d {
        Dialect::Postgres => format!("({e})::float8"),
        Dialect::Sqlite => e.to_owned(),
    };
    let uuid = |c: &str| match d {
        Dialect::Postgres => format!("{c}::text AS {c}"),
        Dialect::Sqlite => c.to_owned(),
    };
    let mut out = Vec::new();

    out.push((
        "actions_by_type_status",
        by_type_status(d, range, actions, rollups, hourly),
    ));

    let s = if rollups {
        rollup::section(d, range, Section::Users)
    } else {
        let (mut s, w) = window("action_timestamp");
        s.text = format!(
            "SELECT user_id, COUNT(*) AS action_count, COUNT(DISTINCT action_type) AS unique_actions \
             FROM {actions} WHERE {w} GROUP BY user_id ORDER BY action_count DESC, user_id LIMIT {n}"
        );
        s
    };
    out.push(("user_activity", s));

    let (mut s, w) = window("action_timestamp");
    s.text = format!(
        "SELECT {}, action_timestamp, action_type, user_id, job_id, error_message FROM action_logs \
         WHERE status = 'failed' AND {w} ORDER BY action_timestamp DESC, id DESC LIMIT {n}",
        uuid("id")
    );
    out.push(("failed_actions", s));

    let ok = "SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END)";
    let rate = num(&format!("ROUND(100.0 * {ok} / COUNT(*), 2)"));
    let (mut s, w) = window("started_at");
    s.text = format!(
        "SELECT j.job_id, j.total, j.successes, j.success_rate, p.p50_seconds, p.p95_seconds \
         FROM (SELECT job_id, COUNT(*) AS total, {ok} AS successes, {rate} AS success_rate \
               FROM {runs} WHERE {w} GROUP BY job_id) j \
         LEFT JOIN ({}) p ON p.job_id = j.job_id ORDER BY j.job_id LIMIT {n}",
        percentiles(
            d,
            "job_id",
            &histogram("job_id", "duration_seconds", runs, &w)
        )
    );
    out.push(("job_success_rate", s));

    let s = if rollups {
        rollup::section(d, range, Section::Durations)
    } else {
        let (mut s, w) = window("action_timestamp");
        s.text = format!(
            "{} ORDER BY action_type LIMIT {n}",
            percentiles(
                d,
                "action_type",
                &histogram("action_type", "request_duration_seconds", actions, &w)
            )
        );
        s
    };
    out.push(("action_durations", s));
    out
}

/// Actions by type and status over the range of `range` (its conditions are ignored): columns
/// `action_type`, `status`, `count`, most first, at most [`SECTION_ROWS`] rows. From the
/// hourly rollups with `rollups && hourly` (the partial hours at the ends from the table),
/// else the daily ones with `rollups`, else a scan of `actions` (the table, or a form of it
/// naming its access path) over the range.
pub(crate) fn by_type_status(
    d: Dialect,
    range: &Filter,
    actions: &str,
    rollups: bool,
    hourly: bool,
) -> Sql {
    if rollups && hourly {
        return super::hourly::by_type_status(d, range);
    }
    if rollups {
        return super::rollup::section(d, range, super::rollup::Section::ByTypeStatus);
    }
    let mut s = Sql::new(d);
    let mut parts = Vec::new();
    time_range(&mut s, "action_timestamp", range, &mut parts);
    let w = if parts.is_empty() {
        "true".to_owned()
    } else {
        parts.join(" AND ")
    };
    let n = SECTION_ROWS;
    s.text = format!(
        "SELECT action_type, status, COUNT(*) AS count FROM {actions} WHERE {w} \
         GROUP BY action_type, status ORDER BY count DESC, action_type, status LIMIT {n}"
    );
    s
}

/// The two job views; `overdue_only` keeps jobs that are overdue or at `failed_max_retries`.
pub(crate) fn jobs(d: Dialect, overdue_only: bool) -> (String, String) {
    let n = SECTION_ROWS;
    let f = |c: &str| match d {
        Dialect::Postgres => format!("{c}::float8 AS {c}"),
        Dialect::Sqlite => c.to_owned(),
    };
    let cond = if overdue_only {
        "WHERE job_status IN ('overdue', 'failed_max_retries')"
    } else {
        ""
    };
    (
        format!(
            "SELECT job_id, job_name, schedule_type, schedule_value, enabled, job_status, \
             last_successful_run, last_attempted_run, next_scheduled_run, consecutive_failures, \
             max_consecutive_failures, last_execution_status, last_execution_started_at, \
             last_execution_error FROM scheduled_jobs_status {cond} ORDER BY job_id LIMIT {n}"
        ),
        format!(
            "SELECT job_id, total_executions, successful_executions, failed_executions, \
             cancelled_executions, {}, {}, last_execution FROM job_execution_summary \
             ORDER BY last_execution DESC, job_id LIMIT {n}",
            f("success_rate"),
            f("avg_duration_seconds")
        ),
    )
}

/// The newest row of each table.
pub(crate) const NEWEST: &str = "SELECT 'action_logs' AS table_name, MAX(action_timestamp) AS newest FROM action_logs \
     UNION ALL SELECT 'job_executions', MAX(started_at) FROM job_executions";
