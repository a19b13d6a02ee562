//! Retention (cargo feature `retention`): old action records and job runs deleted, and runs'
//! captured logs trimmed after an age of their own, in the store the library writes —
//! SQLite, PostgreSQL or Supabase, chosen as the read side chooses ([`Target`]).
//! `actionlog prune` runs it.
//!
//! ```no_run
//! # async fn f() -> Result<(), actionlog::retention::Error> {
//! use std::time::Duration;
//! use actionlog::query::Target;
//! use actionlog::retention::Prune;
//!
//! let prune = Prune::builder(Target::Sqlite("logs/actions.db".into()))
//!     .older_than(Duration::from_secs(90 * 86_400))
//!     .run_logs_older_than(Duration::from_secs(14 * 86_400))
//!     .build()?;
//! let pruned = prune.run().await?;
//! println!("{} actions before {}", pruned.actions.rows, pruned.actions_before);
//! # Ok(()) }
//! ```
//!
//! What is guaranteed:
//! - **Bounded.** Every deletion is a batch of at most [`PruneBuilder::batch_size`] rows
//!   (default [`DEFAULT_BATCH_SIZE`]), oldest first, in a transaction of its own: no lock is
//!   held across batches, and the application's writers keep writing between them. On
//!   PostgreSQL a batch skips the rows a writer holds at that moment (`FOR UPDATE SKIP
//!   LOCKED`: neither waits for the other; those rows go at the next prune). SQLite has one
//!   writer at a time: after each batch a prune waits as long as the batch took (at least
//!   [`SQLITE_PAUSE`]), so writers waiting for the lock get it between batches.
//! - **The rollups keep the past.** The per-day and per-hour rollups that `actionlog stats` and
//!   the dashboard read are not changed by a prune: a pruned day still counts whole. Their
//!   delete triggers skip a prune's batches — PostgreSQL: the setting `actionlog.pruning`,
//!   set for each batch's transaction only (`migrations/0008_retention.sql` guards the
//!   triggers; a store whose triggers are not guarded is refused with
//!   [`Error::Unguarded`] before anything is deleted); SQLite: a marker row that exists only
//!   inside the batch's transaction (the sink adds the guarded triggers to an older store when
//!   it opens it, and so does a prune). Every other delete still adjusts them. What is read
//!   from the rows themselves is gone with them: the failed actions' list, the job success
//!   rates, and the partial days (hours) at a range's ends.
//! - **What goes.** Actions whose `action_timestamp` is before the cutoff, whatever their
//!   status: an action still open (`initiated`, `in_progress`) that old is deleted too (its
//!   final record, should it ever come, makes a new row, counted again in the rollups). Rows
//!   without a time are never deleted. Job runs whose `started_at` is before their cutoff.
//!   Runs' `logs` set to NULL (the run rows kept) before theirs. Rows of `audit_digests` up to
//!   the sequence numbers a [`Plan`] names, when the table exists.
//! - **Interrupted, it resumes.** Batches committed before a failure stay deleted; the next
//!   prune continues from the oldest rows left.
//! - **Nothing is created**: a missing SQLite file is an error. The space of deleted rows is
//!   reused by new ones (SQLite's file does not shrink without `VACUUM`).
//!
//! The hook for whoever must act before anything is deleted (a signed record of the prune):
//! [`Prune::plan`] fixes the cutoffs, [`Prune::run_plan`] deletes by them.

// Without any store feature there is nothing to prune, and the jobs are never read.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "supabase")),
    allow(unused_variables, dead_code)
)]

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "audit")]
mod signed;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "supabase")]
mod supabase;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::query::{self, Options, Target};

/// Rows per batch unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 5000;

/// The largest batch: beyond it a batch's transaction stops being short.
pub const MAX_BATCH_SIZE: usize = 100_000;

/// The most runs, run logs or digests one batch takes over Supabase's REST API: their ids
/// travel in the URL of the request (a UUID is 36 characters; proxies refuse URLs much
/// beyond 8 KiB).
pub const REST_ID_BATCH: usize = 100;

/// The least a SQLite prune waits between batches (see the module's guarantees).
pub const SQLITE_PAUSE: Duration = Duration::from_millis(5);

/// Errors of a prune. None of them ever holds a password or an API key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad age or batch size, or no age at all.
    #[error("{0}")]
    BadSetting(String),
    /// The store's rollups would lose the pruned rows: their delete triggers are not guarded.
    /// Nothing was deleted.
    #[error(
        "{target}: the rollups' delete triggers would subtract the pruned rows from the statistics; {hint} (nothing was deleted)"
    )]
    Unguarded {
        /// The store, without secrets.
        target: String,
        /// What makes them guarded.
        hint: &'static str,
    },
    /// The store could not be opened, or a statement failed (batches committed before it stay
    /// deleted).
    #[error(transparent)]
    Store(#[from] query::Error),
    /// The store keeps signed digests and no signing key was given: the prune would read as
    /// deletions to `actionlog verify`. Nothing was deleted.
    #[error(
        "{target} keeps signed digests: give the signing key (ACTIONLOG_AUDIT_KEY_FILE, ACTIONLOG_AUDIT_KEY or --key) so the prune is recorded, or prune unsigned on purpose (nothing was deleted)"
    )]
    Unsigned {
        /// The store, without secrets.
        target: String,
    },
    /// The prune digest could not be recorded. Nothing was deleted.
    #[error(
        "{target}: the prune could not be recorded in the audit trail: {why} (nothing was deleted)"
    )]
    Record {
        /// The store, without secrets.
        target: String,
        /// Why.
        why: String,
    },
}

impl Error {
    /// Bad input or an unusable store (the command's exit code 2), as opposed to a failure
    /// while pruning.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::BadSetting(_) | Error::Unguarded { .. } | Error::Unsigned { .. } => true,
            Error::Record { .. } => false,
            Error::Store(e) => e.is_bad_input(),
        }
    }
}

/// An age written as in settings and flags — `90d`, `12h`, `30m`, `2w` (also `s`, `ms`) — as
/// the alert rules' durations are read.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(actionlog::retention::parse_age("90d").unwrap(), Duration::from_secs(90 * 86_400));
/// assert!(actionlog::retention::parse_age("90").is_err());
/// ```
///
/// # Errors
/// [`Error::BadSetting`] for anything else, and for zero.
pub fn parse_age(s: &str) -> Result<Duration, Error> {
    crate::duration::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::BadSetting(format!(
                "bad age {:?}: a number and a unit, such as 90d, 12h, 30m or 2w",
                s.trim()
            ))
        })
}

/// What to delete, fixed before anything is: the cutoffs, and the digests to let go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Actions whose `action_timestamp` is before this go.
    pub actions_before: DateTime<Utc>,
    /// Job runs whose `started_at` is before this go.
    pub runs_before: DateTime<Utc>,
    /// Runs started before this lose their captured `logs` (when set).
    pub run_logs_before: Option<DateTime<Utc>>,
    /// Rows of `audit_digests` to delete: per writer, every one with `seq` up to this (none by
    /// default; skipped in a store without the table).
    pub digests_up_to: Vec<(String, i64)>,
}

/// What one kind of row lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows deleted or trimmed (in a dry run: that would be).
    pub rows: u64,
    /// Batches that deleted or trimmed rows, each its own transaction (0 in a dry run).
    pub batches: u64,
}

/// What a prune did, with the cutoffs it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The actions' cutoff.
    pub actions_before: DateTime<Utc>,
    /// The runs' cutoff.
    pub runs_before: DateTime<Utc>,
    /// The run logs' cutoff, when they were trimmed.
    pub run_logs_before: Option<DateTime<Utc>>,
    /// Actions deleted.
    pub actions: Counts,
    /// Job runs deleted.
    pub runs: Counts,
    /// Runs whose logs were trimmed (not counting the runs deleted).
    pub run_logs: Counts,
    /// Rows of `audit_digests` deleted.
    pub digests: Counts,
    /// Whether this was a dry run (rows counted, nothing deleted).
    pub dry_run: bool,
}

/// Deletes what is older than its ages; made by [`Prune::builder`].
pub struct Prune {
    target: Target,
    #[cfg(feature = "audit")]
    audit: Option<crate::audit::Audit>,
    #[cfg(feature = "audit")]
    digest_dir: std::path::PathBuf,
    #[cfg(feature = "audit")]
    unsigned: bool,
    older_than: Duration,
    run_logs_older_than: Option<Duration>,
    batch_size: usize,
    dry_run: bool,
    opts: Options,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Prune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prune")
            .field("target", &self.target)
            .field("older_than", &self.older_than)
            .field("run_logs_older_than", &self.run_logs_older_than)
            .field("batch_size", &self.batch_size)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Prune`]; [`PruneBuilder::build`] checks them.
#[must_use]
pub struct PruneBuilder {
    target: Target,
    #[cfg(feature = "audit")]
    audit: Option<crate::audit::Audit>,
    #[cfg(feature = "audit")]
    digest_dir: std::path::PathBuf,
    #[cfg(feature = "audit")]
    unsigned: bool,
    older_than: Option<Duration>,
    run_logs_older_than: Option<Duration>,
    batch_size: usize,
    dry_run: bool,
    opts: Options,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PruneBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PruneBuilder")
            .field("target", &self.target)
            .field("older_than", &self.older_than)
            .field("run_logs_older_than", &self.run_logs_older_than)
            .field("batch_size", &self.batch_size)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Prune {
    /// A prune of `target`; [`PruneBuilder::older_than`] is required.
    pub fn builder(target: Target) -> PruneBuilder {
        PruneBuilder {
            target,
            #[cfg(feature = "audit")]
            audit: None,
            #[cfg(feature = "audit")]
            digest_dir: crate::audit::digest_dir(std::path::Path::new("logs")),
            #[cfg(feature = "audit")]
            unsigned: false,
            older_than: None,
            run_logs_older_than: None,
            batch_size: DEFAULT_BATCH_SIZE,
            dry_run: false,
            opts: Options::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The cutoffs, from the clock's now and the ages, and no digests to delete: what
    /// [`Self::run_plan`] will delete by. Touches no store.
    ///
    /// This is the place to act before the first deletion knowing what it will be — e.g.
    /// to record a signed account of the prune, and to add the digests it lets go to
    /// [`Plan::digests_up_to`]:
    ///
    /// ```no_run
    /// # async fn f(prune: actionlog::retention::Prune) -> Result<(), actionlog::retention::Error> {
    /// let plan = prune.plan();
    /// // Record `plan.actions_before`, `plan.runs_before`, … here.
    /// let pruned = prune.run_plan(&plan).await?;
    /// # Ok(()) }
    /// ```
    pub fn plan(&self) -> Plan {
        let now = self.clock.now();
        let before = |age: Duration| {
            // An age past what the calendar holds (checked at build) deletes nothing.
            chrono::Duration::from_std(age)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        Plan {
            actions_before: before(self.older_than),
            runs_before: before(self.older_than),
            run_logs_before: self.run_logs_older_than.map(before),
            digests_up_to: Vec::new(),
        }
    }

    /// [`Self::plan`], then — in a store that keeps signed digests — a signed prune digest
    /// recording the cutoffs and letting go of the digests that covered only deleted rows
    /// ([`PruneBuilder::audit`]), then [`Self::run_plan`].
    ///
    /// # Errors
    /// See [`Self::run_plan`]; also, before anything is deleted, [`Error::Unsigned`] for a
    /// store that keeps digests when no key was given, [`Error::Record`] when the prune
    /// digest cannot be stored.
    pub async fn run(&self) -> Result<Pruned, Error> {
        #[allow(unused_mut)]
        let mut plan = self.plan();
        #[cfg(feature = "audit")]
        if !self.dry_run {
            signed::record(
                self,
                &mut plan,
                self.audit.as_ref(),
                &self.digest_dir,
                self.unsigned,
            )
            .await?;
        }
        self.run_plan(&plan).await
    }

    /// Deletes by `plan`, in bounded batches: the actions, the runs, then the run logs and
    /// the digests; or, in a dry run, counts what would go.
    ///
    /// # Errors
    /// [`Error::Store`] when the store cannot be opened ([`query::Error::NotFound`],
    /// [`query::Error::MissingTable`] — over Supabase, the function `actionlog_prune` of
    /// `migrations/0008_retention.sql` included — [`query::Error::Unreachable`],
    /// [`query::Error::Refused`], [`query::Error::NotBuilt`]) or a statement fails
    /// ([`query::Error::Query`]; the batches committed before it stay deleted);
    /// [`Error::Unguarded`] before anything is deleted, when the rollups would lose the rows.
    pub async fn run_plan(&self, plan: &Plan) -> Result<Pruned, Error> {
        let mut store = Backend::open(&self.target, &self.opts).await?;
        let mut jobs = vec![
            (Job::Actions(plan.actions_before), Slot::Actions),
            (Job::Runs(plan.runs_before), Slot::Runs),
        ];
        if let Some(before) = plan.run_logs_before {
            jobs.push((
                Job::RunLogs {
                    from: plan.runs_before,
                    before,
                },
                Slot::RunLogs,
            ));
        }
        for (writer, up_to) in &plan.digests_up_to {
            jobs.push((
                Job::Digests {
                    writer: writer.clone(),
                    up_to: *up_to,
                },
                Slot::Digests,
            ));
        }
        let mut out = Pruned {
            actions_before: plan.actions_before,
            runs_before: plan.runs_before,
            run_logs_before: plan.run_logs_before,
            actions: Counts::default(),
            runs: Counts::default(),
            run_logs: Counts::default(),
            digests: Counts::default(),
            dry_run: self.dry_run,
        };
        for (job, slot) in &jobs {
            let c = if self.dry_run {
                Counts {
                    rows: store.count(job).await?,
                    batches: 0,
                }
            } else {
                self.drain(&mut store, job).await?
            };
            let total = match slot {
                Slot::Actions => &mut out.actions,
                Slot::Runs => &mut out.runs,
                Slot::RunLogs => &mut out.run_logs,
                Slot::Digests => &mut out.digests,
            };
            total.rows += c.rows;
            total.batches += c.batches;
        }
        Ok(out)
    }

    /// Batch after batch of `job` until one comes back short.
    async fn drain(&self, store: &mut Backend, job: &Job) -> Result<Counts, Error> {
        let mut c = Counts::default();
        let limit = store.limit(job, self.batch_size);
        loop {
            let started = std::time::Instant::now();
            let n = store.batch(job, limit).await?;
            if n > 0 {
                c.rows += n;
                c.batches += 1;
            }
            // Short: nothing older is left (but what a writer held, on PostgreSQL).
            if n < limit as u64 {
                return Ok(c);
            }
            store.pause(started.elapsed()).await;
        }
    }
}

impl PruneBuilder {
    /// Deletes actions and job runs older than `age` (required).
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// Trims the captured logs of runs older than `age` (usually shorter than
    /// [`Self::older_than`]; default: no trimming). The run rows stay.
    pub fn run_logs_older_than(mut self, age: Duration) -> Self {
        self.run_logs_older_than = Some(age);
        self
    }

    /// The most rows one batch deletes or trims, in one short transaction (default
    /// [`DEFAULT_BATCH_SIZE`], at most [`MAX_BATCH_SIZE`]). Over Supabase's REST API the
    /// runs, run logs and digests go at most [`REST_ID_BATCH`] per batch: their ids travel
    /// in the request's URL.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Records the prune in the store's audit trail before deleting (see [`Prune::run`]):
    /// `audit`'s key signs the prune digest, under its writer name (default
    /// `actionlog-prune`).
    #[cfg(feature = "audit")]
    pub fn audit(mut self, audit: crate::audit::Audit) -> Self {
        let named = audit.writer.is_some();
        self.audit = Some(if named {
            audit
        } else {
            audit.writer("actionlog-prune")
        });
        self
    }

    /// Where this machine's copy of the prune digest goes (default `logs/digests`).
    #[cfg(feature = "audit")]
    pub fn digest_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.digest_dir = dir.into();
        self
    }

    /// Prunes a store that keeps signed digests without a key: `actionlog verify` will then
    /// name the pruned rows as deleted (default off: such a prune is refused).
    #[cfg(feature = "audit")]
    pub fn unsigned(mut self, on: bool) -> Self {
        self.unsigned = on;
        self
    }

    /// Counts what would go, and deletes nothing (default off).
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// The store's timeouts: connecting, and each statement (a batch) or request (default
    /// [`Options::default`]; `use_rollups` is not read).
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// Where the cutoffs' now comes from (default the system clock); tests pass a
    /// [`crate::ManualClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The prune, its settings checked.
    ///
    /// # Errors
    /// [`Error::BadSetting`] without [`Self::older_than`], for a zero age, an age longer
    /// than chrono counts, or a batch size of 0 or above [`MAX_BATCH_SIZE`].
    pub fn build(self) -> Result<Prune, Error> {
        let older_than = self.older_than.ok_or_else(|| {
            Error::BadSetting("no age: say how old the rows to delete are (older_than)".into())
        })?;
        for (what, age) in [
            ("age", Some(older_than)),
            ("run log age", self.run_logs_older_than),
        ] {
            let Some(age) = age else { continue };
            if age.is_zero() {
                return Err(Error::BadSetting(format!(
                    "the {what} must be more than zero (0 would delete everything)"
                )));
            }
            // Past what chrono counts (millions of years); one that only overshoots the
            // calendar's first day deletes nothing (see `plan`).
            if chrono::Duration::from_std(age).is_err() {
                return Err(Error::BadSetting(format!(
                    "the {what} {} is longer than the calendar",
                    crate::duration::format_duration(age)
                )));
            }
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(Error::BadSetting(format!(
                "bad batch size {}: from 1 to {MAX_BATCH_SIZE} rows",
                self.batch_size
            )));
        }
        Ok(Prune {
            target: self.target,
            #[cfg(feature = "audit")]
            audit: self.audit,
            #[cfg(feature = "audit")]
            digest_dir: self.digest_dir,
            #[cfg(feature = "audit")]
            unsigned: self.unsigned,
            older_than,
            run_logs_older_than: self.run_logs_older_than,
            batch_size: self.batch_size,
            dry_run: self.dry_run,
            opts: self.opts,
            clock: self.clock,
        })
    }
}

/// Where a job's counts go.
enum Slot {
    Actions,
    Runs,
    RunLogs,
    Digests,
}

/// One kind of bounded deletion.
#[derive(Debug, Clone)]
enum Job {
    /// Actions before this time.
    Actions(DateTime<Utc>),
    /// Runs started before this time.
    Runs(DateTime<Utc>),
    /// Runs' logs before `before`; `from` is the runs' cutoff, below which a dry run does not
    /// count (those runs go whole).
    RunLogs {
        from: DateTime<Utc>,
        before: DateTime<Utc>,
    },
    /// One writer's digests up to a sequence number.
    Digests { writer: String, up_to: i64 },
}

/// An open store, writable.
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::Pruner),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Pruner),
    #[cfg(feature = "supabase")]
    Supabase(supabase::Pruner),
    /// Keeps the type inhabited-or-not consistently when no store feature is on.
    #[allow(dead_code)]
    _None(std::convert::Infallible),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($s) => $e,
            #[cfg(feature = "postgres")]
            Backend::Postgres($s) => $e,
            #[cfg(feature = "supabase")]
            Backend::Supabase($s) => $e,
            Backend::_None(n) => match *n {},
        }
    };
}

impl Backend {
    async fn open(target: &Target, opts: &Options) -> Result<Backend, Error> {
        match target {
            #[cfg(feature = "sqlite")]
            Target::Sqlite(p) => Ok(Backend::Sqlite(sqlite::Pruner::open(p, opts).await?)),
            #[cfg(not(feature = "sqlite"))]
            Target::Sqlite(_) => Err(query::Error::NotBuilt("sqlite").into()),
            #[cfg(feature = "postgres")]
            Target::Postgres(url) => {
                Ok(Backend::Postgres(postgres::Pruner::open(url, opts).await?))
            }
            #[cfg(not(feature = "postgres"))]
            Target::Postgres(_) => Err(query::Error::NotBuilt("postgres").into()),
            #[cfg(feature = "supabase")]
            Target::Supabase { url, key } => {
                let p = supabase::Pruner::open(url, key, opts)?;
                p.check().await?;
                Ok(Backend::Supabase(p))
            }
            #[cfg(not(feature = "supabase"))]
            Target::Supabase { .. } => Err(query::Error::NotBuilt("supabase").into()),
        }
    }

    /// One bounded batch of `job`: how many rows it deleted or trimmed.
    async fn batch(&mut self, job: &Job, limit: usize) -> Result<u64, Error> {
        each!(self, s => s.batch(job, limit).await)
    }

    /// The most rows one batch of `job` takes, for a prune's `batch_size`.
    fn limit(&self, job: &Job, batch_size: usize) -> usize {
        match (self, job) {
            #[cfg(feature = "supabase")]
            (Backend::Supabase(_), Job::Runs(_) | Job::RunLogs { .. } | Job::Digests { .. }) => {
                batch_size.min(REST_ID_BATCH)
            }
            _ => batch_size,
        }
    }

    /// How many rows `job` would delete or trim.
    async fn count(&mut self, job: &Job) -> Result<u64, Error> {
        each!(self, s => s.count(job).await)
    }

    /// Between two batches that took `took`: SQLite lets waiting writers in.
    async fn pause(&self, took: Duration) {
        #[cfg(feature = "sqlite")]
        if let Backend::Sqlite(_) = self {
            tokio::time::sleep(took.max(SQLITE_PAUSE)).await;
        }
        let _ = took;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ages_read_and_bad_ones_say_why() {
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_age(" 2w ").unwrap(), Duration::from_secs(1_209_600));
        for bad in [
            "",
            "0",
            "0d",
            "90",
            "d",
            "-1d",
            "1.5d",
            "90 days",
            "9999999999999999999w",
        ] {
            let e = parse_age(bad).unwrap_err();
            assert!(e.to_string().contains("90d, 12h, 30m or 2w"), "{bad}: {e}");
            assert!(e.is_bad_input());
        }
    }

    #[test]
    fn the_plan_counts_back_from_the_clock() {
        let prune = Prune::builder(Target::Sqlite("x.db".into()))
            .older_than(parse_age("90d").unwrap())
            .run_logs_older_than(parse_age("14d").unwrap())
            .clock(ManualClock::at(at("2026-11-03T10:00:00Z")))
            .build()
            .unwrap();
        let plan = prune.plan();
        assert_eq!(plan.actions_before, at("2026-08-05T10:00:00Z"));
        assert_eq!(plan.runs_before, plan.actions_before);
        assert_eq!(plan.run_logs_before, Some(at("2026-10-20T10:00:00Z")));
        assert!(plan.digests_up_to.is_empty());
    }

    #[test]
    fn settings_are_checked() {
        let b = || Prune::builder(Target::Sqlite("x.db".into()));
        let msg = |r: Result<Prune, Error>| r.unwrap_err().to_string();
        assert!(msg(b().build()).contains("no age"));
        assert!(msg(b().older_than(Duration::ZERO).build()).contains("more than zero"));
        assert!(
            msg(b()
                .older_than(Duration::from_secs(60))
                .run_logs_older_than(Duration::ZERO)
                .build())
            .contains("run log age")
        );
        assert!(
            msg(b().older_than(Duration::from_secs(u64::MAX / 2)).build())
                .contains("longer than the calendar")
        );
        for n in [0, MAX_BATCH_SIZE + 1] {
            let e = msg(b()
                .older_than(Duration::from_secs(60))
                .batch_size(n)
                .build());
            assert!(e.contains("bad batch size"), "{e}");
        }
        assert!(
            b().older_than(Duration::from_secs(60))
                .batch_size(MAX_BATCH_SIZE)
                .build()
                .is_ok()
        );
    }
}
