//! The SQLite store, read-only: opened with `SQLITE_OPEN_READ_ONLY` (a missing file is an
//! error, never created) and `PRAGMA query_only`, each statement interrupted after the
//! statement timeout by a progress handler.
//!
//! Nothing is created beside the file either. The sink keeps the database in WAL mode, and a
//! read-only reader of a WAL database creates the `-wal` and `-shm` files when they are
//! missing (and cannot remove them). They exist exactly while a writer has the file open, so:
//! with a `-wal` file present the store is read like any WAL reader, through the writer's
//! files; without one, no writer is running and the file is opened `immutable=1` (no locks,
//! no side files). A writer that starts during such a read appends to its new WAL; the main
//! file only changes at a checkpoint, after 1000 pages of WAL.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use uuid::Uuid;

use super::scan::{self, Scan, ScannedRun};
use super::sql::{self, Dialect, Param};
use super::{Entity, Error, Filter, Jobs, Options, Page, PageQuery, Rows, Stats};
use super::{hourly, rollup};
use crate::rows::{ActionRecord, JobExecution};

/// What makes the tables: the SQLite sink, on its first open.
const HINT: &str = "the SQLite sink creates it when a program using actionlog first opens the file (e.g. `cargo run --example tracker`)";

/// The connection's page cache, in KiB (SQLite's default is 2 000).
const CACHE_KIB: i64 = 16 * 1024;

/// What setting a hook returns: nothing in the older rusqlite releases of the supported range,
/// a `Result` in the newer ones (the handler is kept in SQLite's client data, which can fail).
trait HookOutcome {
    fn into_result(self) -> rusqlite::Result<()>;
}

impl HookOutcome for () {
    fn into_result(self) -> rusqlite::Result<()> {
        Ok(())
    }
}

impl HookOutcome for rusqlite::Result<()> {
    fn into_result(self) -> rusqlite::Result<()> {
        self
    }
}

/// A read-only connection to an actions database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    target: String,
    opts: Options,
    /// Whether `stats` reads the rollups (the store has them and the options allow it).
    rollups: bool,
    /// Whether the histogram and failure groups read the hourly rollups (likewise).
    hourly: bool,
    trace: super::TraceColumns,
}

impl SqliteStore {
    /// Opens `path` read-only and checks for the tables and views.
    pub(crate) fn open(path: &Path, opts: &Options) -> Result<Self, Error> {
        let target = path.display().to_string();
        if !path.is_file() {
            return Err(Error::NotFound { target });
        }
        let unreachable = |e: rusqlite::Error| Error::Unreachable {
            target: target.clone(),
            reason: e.to_string(),
        };
        let mut file = path.as_os_str().to_owned();
        file.push("-wal");
        let live = Path::new(&file).exists();
        let uri = format!(
            "file:{}?mode=ro{}",
            uri_path(path),
            if live { "" } else { "&immutable=1" }
        );
        let conn = Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(unreachable)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(unreachable)?;
        // A page cache of 16 MiB instead of SQLite's 2 MiB. Measured in the query bench: after
        // full scans on other connections of the same process, the first page of `actions`
        // re-read its pages with `pread` on every call (most likely because SQLite's page
        // cache is one pool per process in rusqlite's build); the larger cache removed that
        // after two such scans (173 -> 93 us), though not after the bench's whole sequence.
        // Not a memory map (which removed it too): an I/O error or a truncation under a map is
        // a SIGBUS, and this code may run inside the application whose actions it shows.
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(unreachable)?;
        conn.busy_timeout(opts.statement_timeout)
            .map_err(unreachable)?;
        let have: Vec<(String, String)> = {
            let mut st = conn
                .prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view')")
                .map_err(unreachable)?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(unreachable)?
                .collect::<Result<_, _>>()
                .map_err(unreachable)?
        };
        for (what, name) in [
            ("table", "action_logs"),
            ("table", "job_executions"),
            ("table", "scheduled_jobs"),
            ("view", "scheduled_jobs_status"),
            ("view", "job_execution_summary"),
        ] {
            if !have.iter().any(|(t, n)| t == what && n == name) {
                return Err(Error::MissingTable {
                    target,
                    what,
                    name: name.into(),
                    hint: HINT,
                });
            }
        }
        let has =
            |name: &str| opts.use_rollups && have.iter().any(|(t, n)| t == "table" && n == name);
        let (rollups, hourly) = (has(rollup::MARKER), has(hourly::MARKER));
        let has_trace = |table: &str| -> Result<bool, Error> {
            conn.query_row(
                "SELECT COUNT(*) = 2 FROM pragma_table_info(?1) WHERE name IN ('trace_id', 'span_id')",
                [table],
                |r| r.get(0),
            )
            .map_err(unreachable)
        };
        let trace = super::TraceColumns {
            actions: has_trace("action_logs")?,
            runs: has_trace("job_executions")?,
        };
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            target,
            opts: opts.clone(),
            rollups,
            hourly,
            trace,
        })
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        let reason = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
            format!(
                "statement timeout ({:?}) reached",
                self.opts.statement_timeout
            )
        } else {
            e.to_string()
        };
        Error::Query {
            target: self.target.clone(),
            reason,
        }
    }

    /// Runs `f` on the connection, its statements interrupted after the statement timeout.
    fn timed<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // `&mut`: the hook setters take `&mut self` in the newer rusqlite releases of the
        // supported range, `&self` in the older ones.
        let conn: &mut Connection = &mut guard;
        let deadline = Instant::now() + self.opts.statement_timeout;
        conn.progress_handler(10_000, Some(move || Instant::now() > deadline))
            .into_result()
            .map_err(|e| self.err(e))?;
        let result = f(conn);
        let removed = conn.progress_handler(0, None::<fn() -> bool>).into_result();
        result.and_then(|r| removed.map(|()| r).map_err(|e| self.err(e)))
    }

    /// Runs one statement under the statement timeout.
    fn rows(&self, text: &str, params: &[Param]) -> Result<Rows, Error> {
        self.timed(|conn| rows_on(conn, text, params).map_err(|e| self.err(e)))
    }

    pub(crate) async fn page(&self, q: &PageQuery) -> Result<Page, Error> {
        self.trace.check(&q.filter, &self.target)?;
        let s = sql::page(Dialect::Sqlite, q, self.trace.has(q.filter.entity));
        let rows = self.rows(&s.text, &s.params)?;
        Ok(super::split_page(
            rows,
            q.limit,
            q.filter.entity.time_column(),
        ))
    }

    pub(crate) async fn run_logs(&self, id: &str) -> Result<Option<String>, Error> {
        let s = sql::run_logs(Dialect::Sqlite, id);
        let rows = self.rows(&s.text, &s.params)?;
        Ok(rows.rows.first().map(|r| match &r[0] {
            Value::String(s) => s.clone(),
            _ => String::new(),
        }))
    }

    pub(crate) async fn jobs(&self, overdue_only: bool) -> Result<Jobs, Error> {
        let (status, summary) = sql::jobs(Dialect::Sqlite, overdue_only);
        Ok(Jobs {
            status: self.rows(&status, &[])?,
            summary: self.rows(&summary, &[])?,
        })
    }

    pub(crate) async fn job_status(&self) -> Result<Rows, Error> {
        let (status, _) = sql::jobs(Dialect::Sqlite, false);
        self.rows(&status, &[])
    }

    /// Actions by type and status over `range` (see [`sql::by_type_status`]): the rollups
    /// when the store has them, else the range's rows through the time index.
    pub(crate) async fn action_counts(&self, range: &Filter) -> Result<Rows, Error> {
        let s = sql::by_type_status(
            Dialect::Sqlite,
            range,
            "action_logs",
            self.rollups,
            self.hourly,
        );
        self.rows(&s.text, &s.params)
    }

    /// Whether `range` covers more than a quarter of the time span of `table` (from its
    /// oldest and newest `col`, two index lookups): then a full scan reads less than a walk of
    /// the time index that looks every row up.
    fn wide(&self, table: &str, col: &str, range: &Filter) -> Result<bool, Error> {
        if range.since.is_none() && range.until.is_none() {
            return Ok(true);
        }
        let r = self.rows(&format!("SELECT MIN({col}), MAX({col}) FROM {table}"), &[])?;
        let t = |i: usize| {
            r.rows
                .first()
                .and_then(|row| row[i].as_str())
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        let (Some(min), Some(max)) = (t(0), t(1)) else {
            return Ok(false);
        };
        let lo = range.since.map_or(min, |s| s.max(min));
        let hi = range.until.map_or(max, |u| u.min(max));
        let span = (max - min).num_milliseconds().max(1) as f64;
        Ok((hi - lo).num_milliseconds() as f64 / span > 0.25)
    }

    pub(crate) async fn stats(&self, range: &Filter) -> Result<Stats, Error> {
        // A range over most of a table reads it best by a full scan (`wide`); with the
        // rollups, the actions' scans are not needed, and a covering index comes for the
        // runs' section, in its GROUP BY order.
        let actions = if !self.rollups && self.wide("action_logs", "action_timestamp", range)? {
            "action_logs NOT INDEXED"
        } else {
            "action_logs"
        };
        let runs = if self.rollups {
            "job_executions INDEXED BY idx_job_executions_stats"
        } else if self.wide("job_executions", "started_at", range)? {
            "job_executions NOT INDEXED"
        } else {
            "job_executions"
        };
        let sections = sql::stats(
            Dialect::Sqlite,
            range,
            [actions, runs],
            self.rollups,
            self.hourly,
        );
        let mut out = Stats::default();
        for (name, s) in sections {
            out.sections.push((name, self.rows(&s.text, &s.params)?));
        }
        Ok(out)
    }

    /// The dashboard's histogram (see `dashboard.rs`).
    pub(crate) async fn histogram(&self, f: &Filter, b: super::Bucket) -> Result<Rows, Error> {
        let s = super::dashboard::histogram(Dialect::Sqlite, f, b, self.hourly);
        self.rows(&s.text, &s.params)
    }

    /// The dashboard's failure groups (see `dashboard.rs`).
    pub(crate) async fn failure_groups(&self, f: &Filter) -> Result<Rows, Error> {
        let s = super::dashboard::failure_groups(Dialect::Sqlite, f, self.hourly);
        self.rows(&s.text, &s.params)
    }

    pub(crate) async fn newest(&self) -> Result<Rows, Error> {
        self.rows(sql::NEWEST, &[])
    }

    /// One page of a scan of `e`'s table, each row made by `read`.
    fn scan<T>(
        &self,
        scan: Scan,
        e: Entity,
        read: impl Fn(&rusqlite::Row<'_>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let text = scan.sql(Dialect::Sqlite, e, self.trace.has(e));
        let mut params: Vec<SqlValue> = Vec::with_capacity(4);
        if let Some(from) = &scan.from {
            params.push(SqlValue::Text(sql::sqlite_time(from)));
        }
        if let Some((t, id)) = &scan.after {
            params.push(SqlValue::Text(sql::sqlite_time(t)));
            params.push(SqlValue::Text(id.to_string()));
        }
        params.push(SqlValue::Integer(scan.limit as i64));
        self.timed(|conn| {
            let sq = |e| self.err(e);
            let mut st = conn.prepare_cached(&text).map_err(sq)?;
            let mut q = st.query(rusqlite::params_from_iter(params)).map_err(sq)?;
            let mut out = Vec::with_capacity(scan.limit);
            while let Some(r) = q.next().map_err(sq)? {
                out.push(read(r)?);
            }
            Ok(out)
        })
    }

    /// See [`super::Store::scan_actions`].
    pub(crate) async fn scan_actions(&self, scan: Scan) -> Result<Vec<ActionRecord>, Error> {
        let trace = self.trace.actions;
        self.scan(scan, Entity::Actions, |r| {
            let sq = |e| self.err(e);
            let id = uuid_at(r, 0).map_err(sq)?;
            let bad = |what: String| scan::bad_row(&self.target, Entity::Actions, &id, &what);
            let text = |i: usize| r.get::<_, Option<String>>(i).map_err(sq);
            let at = scan::time(text_at(r, 3).map_err(sq)?).map_err(bad)?;
            let mut a = ActionRecord::new(id, r.get(1).map_err(sq)?, at, "");
            a.user_id = text(2)?;
            a.action_details = json_at(r, 4).map_err(sq)?.map_err(bad)?;
            a.job_id = text(5)?;
            a.job_execution_id = text(6)?;
            a.status = text(7)?.unwrap_or_default();
            a.result_message = text(8)?;
            a.error_message = text(9)?;
            a.source = text(10)?;
            a.ip_address = text(11)?;
            a.user_agent = text(12)?;
            a.request_duration_seconds = r.get(13).map_err(sq)?;
            if trace {
                a.trace_id = text(14)?;
                a.span_id = text(15)?;
            }
            a.first_write = false;
            Ok(a)
        })
    }

    /// See [`super::Store::scan_runs`].
    pub(crate) async fn scan_runs(&self, scan: Scan) -> Result<Vec<ScannedRun>, Error> {
        let trace = self.trace.runs;
        self.scan(scan, Entity::Runs, |r| {
            let sq = |e| self.err(e);
            let id = uuid_at(r, 0).map_err(sq)?;
            let bad = |what: String| scan::bad_row(&self.target, Entity::Runs, &id, &what);
            let text = |i: usize| r.get::<_, Option<String>>(i).map_err(sq);
            let started = scan::time(text_at(r, 3).map_err(sq)?).map_err(bad)?;
            let job_id: String = r.get(1).map_err(sq)?;
            let status: String = r.get(2).map_err(sq)?;
            let mut j = JobExecution::new(id, &job_id, &status, started);
            j.completed_at = match r.get_ref(4).map_err(sq)? {
                ValueRef::Null => None,
                _ => Some(scan::time(text_at(r, 4).map_err(sq)?).map_err(bad)?),
            };
            j.duration_seconds = r.get(5).map_err(sq)?;
            j.error_message = text(6)?;
            let logs = text(7)?;
            let logs_null = logs.is_none();
            j.logs = logs.unwrap_or_default();
            j.metadata = json_at(r, 8).map_err(sq)?.map_err(bad)?;
            if trace {
                j.trace_id = text(9)?;
                j.span_id = text(10)?;
            }
            Ok(ScannedRun { run: j, logs_null })
        })
    }

    /// See [`super::Store::digests`].
    pub(crate) async fn digests(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<String>>, Error> {
        self.timed(|conn| {
            let sq = |e| self.err(e);
            let there: bool = conn
                .query_row(
                    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit_digests'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sq)?;
            if !there {
                return Ok(None);
            }
            let (text, params) = match &since {
                Some(t) => (
                    "SELECT writer, seq, digest FROM audit_digests WHERE made_at >= ?1 ORDER BY writer, seq",
                    vec![sql::sqlite_time(t)],
                ),
                None => (
                    "SELECT writer, seq, digest FROM audit_digests ORDER BY writer, seq",
                    Vec::new(),
                ),
            };
            let mut st = conn.prepare_cached(text).map_err(sq)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(sq)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sq)?;
            Ok(Some(scan::ordered(rows)))
        })
    }
}

/// Column `i` cannot be read as `what`.
fn unreadable(
    i: usize,
    what: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
}

/// A UUID stored as text (as the sinks write it: lowercase, hyphenated; any case is read).
fn uuid_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    match r.get_ref(i)? {
        ValueRef::Text(t) => Uuid::try_parse_ascii(t).map_err(|e| unreadable(i, e)),
        other => Err(unreadable(
            i,
            format!("not a UUID: {:?}", other.data_type()),
        )),
    }
}

/// A text column as `&str`, without a copy.
fn text_at<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    match r.get_ref(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| unreadable(i, e)),
        other => Err(unreadable(i, format!("not text: {:?}", other.data_type()))),
    }
}

/// A JSON column (text) as the record's map: the outer error is SQLite's, the inner what the
/// text holds that the record cannot.
fn json_at(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<Result<serde_json::Map<String, Value>, String>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => Ok(Default::default()),
        ValueRef::Text(t) => match serde_json::from_slice::<Value>(t) {
            Ok(v) => scan::json_map(Some(v)),
            Err(e) => Err(format!("holds text that is not JSON: {e}")),
        },
        other => Err(format!("holds {:?}, not JSON text", other.data_type())),
    })
}

/// One statement's rows as JSON values.
fn rows_on(conn: &Connection, text: &str, params: &[Param]) -> Result<Rows, rusqlite::Error> {
    let mut st = conn.prepare_cached(text)?;
    // By index: `column_names()` is a Vec in some rusqlite versions of the supported
    // range and an iterator in others.
    let columns: Vec<String> = (0..st.column_count())
        .map(|i| st.column_name(i).map(str::to_owned))
        .collect::<Result<_, _>>()?;
    let values: Vec<rusqlite::types::Value> = params
        .iter()
        .map(|p| match p {
            Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
            Param::Time(t) => rusqlite::types::Value::Text(sql::sqlite_time(t)),
        })
        .collect();
    let mut q = st.query(rusqlite::params_from_iter(values))?;
    let mut rows = Vec::new();
    while let Some(r) = q.next()? {
        let mut row = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            row.push(value(c, r.get_ref(i)?));
        }
        rows.push(row);
    }
    Ok(Rows { columns, rows })
}

/// `path` for a `file:` URI: `%`, `?` and `#` (and anything not printable ASCII)
/// percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A SQLite value as JSON: JSON columns parsed, `enabled` as a boolean (SQLite has no
/// booleans), the rest as stored.
fn value(column: &str, v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) if column == "enabled" => Value::Bool(i != 0),
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let s = String::from_utf8_lossy(t);
            if matches!(column, "action_details" | "metadata") {
                serde_json::from_str(&s).unwrap_or_else(|_| Value::String(s.into_owned()))
            } else {
                Value::String(s.into_owned())
            }
        }
    }
}
