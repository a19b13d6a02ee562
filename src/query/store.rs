//! Which store to read, and one [`Store`] type over the three backends.
// Without any store feature the methods have nothing to call.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(unused_variables)
)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::scan::{Scan, ScannedRun};
use super::{Bucket, Error, Filter, Jobs, Options, Page, PageQuery, Rows, Stats};
use crate::rows::ActionRecord;

/// The store to read, chosen like the library chooses where to write.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file (default `logs/actions.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:pass@host/db`).
    Postgres(String),
    /// Supabase's REST API: project URL and API key.
    Supabase {
        /// `https://<project>.supabase.co` (or any PostgREST base with `/rest/v1`).
        url: String,
        /// The API key (sent only in the `apikey` and `Authorization` headers).
        key: String,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// `db` when given; else `ACTIONLOG_DATABASE_URL`, else `DATABASE_URL` (as the library
    /// reads them); else `SUPABASE_URL` with
    /// `SUPABASE_SERVICE_ROLE_KEY` or `SUPABASE_KEY`; else `default_db`.
    ///
    /// # Errors
    /// [`Error::BadFilter`] when `SUPABASE_URL` is set without a key.
    pub fn from_env(db: Option<PathBuf>, default_db: PathBuf) -> Result<Target, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(p) = db {
            return Ok(Target::Sqlite(p));
        }
        if let Some(d) = crate::store_env::database_url() {
            return Ok(Target::Postgres(d.url));
        }
        if let Some(url) = var("SUPABASE_URL") {
            let key = var("SUPABASE_SERVICE_ROLE_KEY")
                .or_else(|| var("SUPABASE_KEY"))
                .ok_or_else(|| {
                    Error::BadFilter(
                        "SUPABASE_URL is set but neither SUPABASE_SERVICE_ROLE_KEY nor SUPABASE_KEY"
                            .into(),
                    )
                })?;
            return Ok(Target::Supabase { url, key });
        }
        Ok(Target::Sqlite(default_db))
    }

    /// The store named without any secret: the path, `postgres://user@host:port/db`, or the
    /// Supabase URL.
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(p) => p.display().to_string(),
            Target::Postgres(url) => describe_pg(url),
            Target::Supabase { url, .. } => strip_userinfo(url),
        }
    }
}

/// `postgres://user@host:port/db` from a URL, the password and parameters left out.
fn describe_pg(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (auth, hostpath) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = auth.split(':').next().unwrap_or("");
    if user.is_empty() {
        format!("postgres://{hostpath}")
    } else {
        format!("postgres://{user}@{hostpath}")
    }
}

fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
            format!("{scheme}://{}", rest.split(['?', '#']).next().unwrap_or(""))
        }
        None => "(the configured Supabase URL)".into(),
    }
}

/// An open, read-only store. Its methods are `async` for PostgreSQL and Supabase; the SQLite
/// backend answers on the calling thread (its queries are short and bounded by the statement
/// timeout), so a server should call it from `spawn_blocking` or a blocking-friendly thread.
// With one store feature alone the only other variant is the uninhabited `_None`, which clippy
// counts as a 0-byte variant beside a large one; boxing would only add an indirection.
#[allow(clippy::large_enum_variant)]
pub enum Store {
    /// The SQLite file.
    #[cfg(feature = "sqlite")]
    Sqlite(super::sqlite::SqliteStore),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(super::postgres::PgStore),
    /// Supabase's REST API.
    #[cfg(feature = "supabase")]
    Supabase(super::supabase::SupabaseStore),
    /// Keeps the type inhabited-or-not consistently when no store feature is on.
    #[doc(hidden)]
    _None(std::convert::Infallible),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&self.target()).finish()
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            Store::Sqlite($s) => $e,
            #[cfg(feature = "postgres")]
            Store::Postgres($s) => $e,
            #[cfg(feature = "supabase")]
            Store::Supabase($s) => $e,
            Store::_None(n) => match *n {},
        }
    };
}

impl Store {
    /// Opens `target` read-only and checks that its tables exist.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), actionlog::query::Error> {
    /// use actionlog::query::{Entity, Filter, Options, PageQuery, Store, Target};
    /// let store = Store::open(&Target::Sqlite("logs/actions.db".into()), &Options::default()).await?;
    /// let mut filter = Filter::new(Entity::Actions);
    /// filter.push("status=failed")?;
    /// let page = store.actions(&PageQuery { filter, limit: 50, before: None }).await?;
    /// println!("{} rows, more: {}", page.rows.rows.len(), page.next.is_some());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::MissingTable`], [`Error::Unreachable`],
    /// [`Error::Refused`], or [`Error::NotBuilt`] when the store's feature is off.
    pub async fn open(target: &Target, opts: &Options) -> Result<Store, Error> {
        match target {
            #[cfg(feature = "sqlite")]
            Target::Sqlite(p) => Ok(Store::Sqlite(super::sqlite::SqliteStore::open(p, opts)?)),
            #[cfg(not(feature = "sqlite"))]
            Target::Sqlite(_) => Err(Error::NotBuilt("sqlite")),
            #[cfg(feature = "postgres")]
            Target::Postgres(url) => Ok(Store::Postgres(
                super::postgres::PgStore::connect(url, opts).await?,
            )),
            #[cfg(not(feature = "postgres"))]
            Target::Postgres(_) => Err(Error::NotBuilt("postgres")),
            #[cfg(feature = "supabase")]
            Target::Supabase { url, key } => Ok(Store::Supabase(
                super::supabase::SupabaseStore::open(url, key, opts).await?,
            )),
            #[cfg(not(feature = "supabase"))]
            Target::Supabase { .. } => Err(Error::NotBuilt("supabase")),
        }
    }

    /// The store, named without secrets.
    pub fn target(&self) -> String {
        each!(self, s => s.target().to_owned())
    }

    /// A page of `action_logs`, newest first.
    ///
    /// # Errors
    /// [`Error::Query`] (a timeout included).
    pub async fn actions(&self, q: &PageQuery) -> Result<Page, Error> {
        each!(self, s => s.page(q).await)
    }

    /// A page of `job_executions`, newest first (the filter's entity must be
    /// [`super::Entity::Runs`]).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn runs(&self, q: &PageQuery) -> Result<Page, Error> {
        each!(self, s => s.page(q).await)
    }

    /// One run's captured log lines, `None` if there is no such run.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn run_logs(&self, id: &str) -> Result<Option<String>, Error> {
        each!(self, s => s.run_logs(id).await)
    }

    /// `scheduled_jobs_status` and `job_execution_summary`.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn jobs(&self, overdue_only: bool) -> Result<Jobs, Error> {
        each!(self, s => s.jobs(overdue_only).await)
    }

    /// `scheduled_jobs_status` alone (its columns as in [`Jobs::status`]), by `job_id`: what
    /// the alert rules on jobs read, without the run summary's scan of every run.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn job_status(&self) -> Result<Rows, Error> {
        each!(self, s => s.job_status().await)
    }

    /// Actions by type and status over the time range of `range` (its conditions are
    /// ignored): `action_type`, `status`, `count`, most first (at most
    /// [`super::SECTION_ROWS`] rows). Read from the hourly rollups when the store has them —
    /// whole hours from the rollup, the partial hours at the ends from the table — so its
    /// cost follows the hours and keys of the range, not its actions; over Supabase's REST
    /// API, from `actionlog_stats`.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn action_counts(&self, range: &Filter) -> Result<Rows, Error> {
        each!(self, s => s.action_counts(range).await)
    }

    /// The analytics over the time range of `range` (its conditions are ignored).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn stats(&self, range: &Filter) -> Result<Stats, Error> {
        each!(self, s => s.stats(range).await)
    }

    /// Actions over time: `bucket` (a prefix of the time, see [`Bucket::range`]), `status`,
    /// `count`, over the actions `filter` selects (conditions and range), oldest first.
    /// Over Supabase's REST API, for a time range without conditions only (the
    /// `actionlog_histogram` function of `migrations/0005_hourly_rollups.sql`).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn histogram(&self, filter: &Filter, bucket: Bucket) -> Result<Rows, Error> {
        each!(self, s => s.histogram(filter, bucket).await)
    }

    /// Failed actions grouped by `error_message`, with `count`, `first_seen` and `last_seen`,
    /// most frequent first. Over Supabase's REST API, for a time range without conditions
    /// only (`actionlog_failure_groups`, likewise).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn failure_groups(&self, filter: &Filter) -> Result<Rows, Error> {
        each!(self, s => s.failure_groups(filter).await)
    }

    /// The newest `action_timestamp` and `started_at` (`table_name`, `newest`).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn newest(&self) -> Result<Rows, Error> {
        each!(self, s => s.newest().await)
    }

    /// The `action_logs` rows as the store keeps them, oldest first by
    /// `(action_timestamp, id)`: those at or after `from`, after the row `after` names (the
    /// last row of the previous page), at most `limit` rows (and at most [`super::MAX_ROWS`]).
    /// A page shorter than that means there are no more; every row comes exactly once across
    /// pages, rows of equal times included. Open statuses are returned too; rows with a NULL
    /// time (no writer of actionlog's stores one) have no place in the order and are not.
    ///
    /// Each record is built from the driver's row, each column as stored. What a store keeps
    /// of a written record:
    /// - every store: NUL in text and JSON becomes U+FFFD; times are kept to the microsecond;
    ///   durations to the millisecond (`DECIMAL(10,3)`: the exact value rounded half away from
    ///   zero, by every sink alike);
    ///   `first_write` is `false`; a NULL `status` comes back as `""`, NULL details as `{}`;
    /// - SQLite keeps the details as the JSON text written (`-0.0`, `1e300`, `u64::MAX` come
    ///   back as they went) and `job_execution_id` as written (an uppercase one stays so);
    /// - PostgreSQL and Supabase keep the details as `jsonb` (numbers as NUMERIC: `-0.0`
    ///   comes back `0.0`; integers and other floats as they were) and `job_execution_id` as a
    ///   UUID (lowercase, hyphenated); the duration is read through NUMERIC's exact text.
    ///
    /// ```no_run
    /// # async fn f(store: &actionlog::query::Store) -> Result<(), actionlog::query::Error> {
    /// let mut after = None;
    /// loop {
    ///     let page = store.scan_actions(None, after, 10_000).await?;
    ///     // … hash each record …
    ///     match page.last() {
    ///         Some(last) if page.len() == 10_000 => after = Some((last.action_timestamp, last.id)),
    ///         _ => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Query`] (a timeout included, or a row no record can hold: an id that is not
    /// a UUID, a time that is not one, details that are not a JSON object).
    pub async fn scan_actions(
        &self,
        from: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<ActionRecord>, Error> {
        let Some(scan) = Scan::new(from, after, limit) else {
            return Ok(Vec::new());
        };
        each!(self, s => s.scan_actions(scan).await)
    }

    /// The `job_executions` rows as the store keeps them, oldest first by `(started_at, id)`,
    /// paged as [`Self::scan_actions`] pages; a NULL `logs` comes back empty with
    /// [`ScannedRun::logs_null`] set.
    ///
    /// # Errors
    /// As [`Self::scan_actions`].
    pub async fn scan_runs(
        &self,
        from: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<ScannedRun>, Error> {
        let Some(scan) = Scan::new(from, after, limit) else {
            return Ok(Vec::new());
        };
        each!(self, s => s.scan_runs(scan).await)
    }

    /// The signed digests of `audit_digests` (`migrations/0007_audit.sql`), their `digest`
    /// texts byte for byte, made at or after `since` (all when `None`), ordered by writer (the
    /// byte order of its text, whatever the database's collation) then `seq`. `None` when the
    /// store has no such table (an older store: a SQLite file gets it when a program logging
    /// actions opens it), which is not the same as a table without digests (`Some` of an
    /// empty list).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn digests(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<String>>, Error> {
        each!(self, s => s.digests(since).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_described() {
        let t = Target::Postgres("postgres://u:CANARY@h:5432/db?password=CANARY2".into());
        assert_eq!(t.describe(), "postgres://u@h:5432/db");
        let t = Target::Supabase {
            url: "https://x.supabase.co".into(),
            key: "CANARY".into(),
        };
        assert!(!format!("{t:?}").contains("CANARY"));
    }
}
