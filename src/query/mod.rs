//! Read-only queries over the stores actionlog writes (cargo feature `query`): the SQLite file
//! (`logs/actions.db`, with `sqlite`), PostgreSQL (`DATABASE_URL`, with `postgres`) and
//! Supabase's REST API (with `supabase`), plus the day files and the pipeline's own files.
//! The `actionlog` command is built on it, and so will the dashboard be.
//!
//! Guarantees, whatever the store:
//! - **Nothing is written.** SQLite is opened `SQLITE_OPEN_READ_ONLY` with `PRAGMA query_only`
//!   (a missing file is an error, never created); PostgreSQL runs every query in a `READ ONLY`
//!   transaction; Supabase is only sent `GET`s (tables, the two views, and the `STABLE` function
//!   `actionlog_stats` of `migrations/0003_query.sql` for aggregates).
//! - **Every user value is a bound parameter.** [`Filter`] admits only known column names and
//!   plain JSON keys; values, times and cursors travel as parameters (query-string values,
//!   percent-encoded, for PostgREST).
//! - **Every query is bounded**: at most [`MAX_ROWS`] rows (each stats section at most
//!   [`SECTION_ROWS`]), and a statement timeout ([`Options::statement_timeout`], default 10 s:
//!   `statement_timeout` on PostgreSQL, an interrupt on SQLite, the HTTP timeout on Supabase).
//! - **Aggregates from rollups**: `stats` sums the per-day rollups that the stores keep
//!   beside `action_logs` (`migrations/0004_rollups.sql`; the SQLite sink's own copy) for the
//!   whole days of its range, and reads only the partial days at its ends from the table, so
//!   its cost follows the number of days and keys, not of actions; a store without them is
//!   scanned row by row ([`Options::use_rollups`]), with the same result.
//! - **Pages by key, not by offset**: newest first by `(time, id)`; a [`Cursor`] names the last
//!   row shown, so page 1 000 costs what page 1 costs.
//! - **The audit trail's reads** ([`Store::scan_actions`], [`Store::scan_runs`],
//!   [`Store::digests`]): rows as the store keeps them, oldest first by `(time, id)`, each page
//!   at most [`MAX_ROWS`] rows; the digests come whole (in pages of [`MAX_ROWS`] from Supabase).
//!
//! The module reads the stores' schema only; it shares no code with the layers or the pipeline.

mod dashboard;
pub mod dayfiles;
pub mod export;
pub mod files;
mod filter;
mod hourly;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod rollup;
mod scan;
#[cfg(feature = "supabase")]
mod shapes;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
#[cfg(feature = "supabase")]
mod supabase;
#[cfg(feature = "audit")]
mod verify;

use std::time::Duration;

pub use dashboard::Bucket;
#[cfg(all(test, feature = "web"))]
pub(crate) use filter::arbitrary;
#[cfg_attr(not(feature = "web"), allow(unused_imports))]
pub(crate) use filter::percent_decode;
pub use filter::{Cond, Entity, Field, Filter, Op, parse_time};
pub use scan::ScannedRun;
pub use store::{Store, Target};
#[cfg(feature = "audit")]
pub use verify::{VerifyError, verify_trail};

/// A time as every store prints it: RFC 3339, UTC, microseconds (what the SQLite sink writes).
#[cfg(any(feature = "postgres", feature = "supabase"))]
pub(crate) fn postgres_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Which tables of a store have the trace context columns (`trace_id`, `span_id`): a store
/// made before `migrations/0006_trace_context.sql` lacks them, and is read without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(dead_code)
)]
pub(crate) struct TraceColumns {
    /// `action_logs` has them.
    pub(crate) actions: bool,
    /// `job_executions` has them.
    pub(crate) runs: bool,
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(dead_code)
)]
impl TraceColumns {
    /// Whether the table of `e` has them.
    pub(crate) fn has(self, e: Entity) -> bool {
        match e {
            Entity::Actions => self.actions,
            Entity::Runs => self.runs,
        }
    }

    /// Refuses a filter on a trace column the table lacks, saying why, rather than let the
    /// store answer with an undefined column.
    pub(crate) fn check(self, f: &Filter, target: &str) -> Result<(), Error> {
        if f.uses_trace_columns() && !self.has(f.entity) {
            return Err(Error::BadFilter(format!(
                "{target}: {} has no trace_id/span_id columns, so it cannot be filtered by them \
                 (run migrations/0006_trace_context.sql; a SQLite store gets them when an app \
                 logging actions opens it)",
                f.entity.table()
            )));
        }
        Ok(())
    }
}

/// The most rows any query returns.
pub const MAX_ROWS: usize = 10_000;
/// The most rows of one [`Stats`] section.
pub const SECTION_ROWS: usize = 1_000;

/// Errors of the query layer. None of them ever holds a password or an API key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown column, operator, time or cursor (bad input).
    #[error("{0}")]
    BadFilter(String),
    /// The SQLite file does not exist (nothing was created).
    #[error(
        "{target}: no such database file (nothing was created; the SQLite store is made by the first program that logs actions with actionlog)"
    )]
    NotFound {
        /// The path.
        target: String,
    },
    /// The store has no such table or function.
    #[error("{target}: no {what} {name}: {hint}")]
    MissingTable {
        /// The store, without secrets.
        target: String,
        /// `table`, `view` or `function`.
        what: &'static str,
        /// The missing name.
        name: String,
        /// Which migration or program creates it.
        hint: &'static str,
    },
    /// The store could not be reached or opened.
    #[error("{target}: unreachable: {reason}")]
    Unreachable {
        /// The store, without secrets.
        target: String,
        /// The cause.
        reason: String,
    },
    /// The store refused the credentials.
    #[error("{target}: access refused: {reason}")]
    Refused {
        /// The store, without secrets.
        target: String,
        /// The cause (never the key).
        reason: String,
    },
    /// A query failed for another reason (timeout included).
    #[error("{target}: query failed: {reason}")]
    Query {
        /// The store, without secrets.
        target: String,
        /// The cause.
        reason: String,
    },
    /// A store whose cargo feature is off.
    #[error("this build has no {0} support (cargo feature `{0}`)")]
    NotBuilt(&'static str),
}

impl Error {
    /// Bad input or an unusable store (the command's exit code 2), as opposed to a failure
    /// while querying.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Error::Query { .. })
    }
}

/// How every query is bounded.
#[derive(Debug, Clone)]
pub struct Options {
    /// The statement timeout (default 10 s).
    pub statement_timeout: Duration,
    /// Connect timeout for PostgreSQL and Supabase (default 5 s).
    pub connect_timeout: Duration,
    /// Read `stats` from the per-day rollups when the store has them (default on; off reads
    /// every row, as a plain SQL query does: the same result, for comparison).
    pub use_rollups: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            use_rollups: true,
        }
    }
}

/// A result set: column names and rows of JSON values (times as RFC 3339 UTC text, numbers as
/// numbers, JSON columns as JSON), the same shape from every store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Rows {
    /// Each row as a JSON object keyed by column name.
    pub fn objects(&self) -> impl Iterator<Item = serde_json::Map<String, serde_json::Value>> + '_ {
        self.rows.iter().map(|r| {
            self.columns
                .iter()
                .cloned()
                .zip(r.iter().cloned())
                .collect()
        })
    }

    /// The value of `column` in row `i`.
    pub fn get(&self, i: usize, column: &str) -> Option<&serde_json::Value> {
        let c = self.columns.iter().position(|c| c == column)?;
        self.rows.get(i)?.get(c)
    }
}

/// Where a page ends: the time and id of its last row. Its text form `TIME_ID` is what
/// `--before` and the dashboard's `before=` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The row's time column as stored (RFC 3339, UTC).
    pub time: String,
    /// The row's id (a UUID).
    pub id: String,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.time, self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadFilter(format!("bad cursor {s:?}: expected TIME_ID as printed"));
        let (time, id) = s.split_once('_').ok_or_else(bad)?;
        let uuid_like = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !uuid_like || chrono::DateTime::parse_from_rfc3339(time).is_err() {
            return Err(bad());
        }
        Ok(Cursor {
            time: time.to_owned(),
            id: id.to_ascii_lowercase(),
        })
    }
}

/// One page of actions or runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The rows, newest first.
    pub rows: Rows,
    /// Where the next page starts, if there are more rows.
    pub next: Option<Cursor>,
}

/// A page request: a filter, a page size and where to start.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// What to select.
    pub filter: Filter,
    /// Rows per page (capped at [`MAX_ROWS`]).
    pub limit: usize,
    /// Start after this row (the previous page's [`Page::next`]).
    pub before: Option<Cursor>,
}

/// The analytics over a time range, one [`Rows`] per section: `actions_by_type_status`,
/// `user_activity`, `failed_actions`, `job_success_rate` (with p50/p95 duration per job) and
/// `action_durations` (p50/p95 per action type). Percentiles are `percentile_disc`: the
/// smallest duration at or above that fraction of the rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// `(section name, rows)`, in the order above.
    pub sections: Vec<(&'static str, Rows)>,
}

/// Job definitions and per-job run statistics, side by side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Jobs {
    /// Rows of the view `scheduled_jobs_status`, by `job_id`.
    pub status: Rows,
    /// Rows of the view `job_execution_summary`, newest last execution first.
    pub summary: Rows,
}

/// Cuts the one extra row a page query asks for and turns it into the next cursor.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(dead_code)
)]
pub(crate) fn split_page(mut rows: Rows, limit: usize, time: &str) -> Page {
    let limit = limit.clamp(1, MAX_ROWS);
    let more = rows.rows.len() > limit;
    rows.rows.truncate(limit);
    let next = if more {
        let last = rows.rows.len() - 1;
        let s = |c: &str| {
            rows.get(last, c)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Some(Cursor {
            time: s(time),
            id: s("id"),
        })
    } else {
        None
    };
    Page { rows, next }
}
