//! The embedded default: action records in `<log_dir>/actions.db` (SQLite, WAL mode), so the
//! audit trail works on a fresh machine with no server. The file also holds the job tables
//! (`job_executions`, `scheduled_jobs`) and their two views, and the signed digests'
//! `audit_digests` (stored through `digests`), created on open (`schema`). The
//! table mirrors the PostgreSQL one, with CHECK constraints for the same length and UUID limits,
//! so a row one sink rejects the other rejects too.
//!
//! SQLite is synchronous, and a write can wait seconds for a lock another process holds (its
//! busy timeout) or for a slow disk. So the connection lives on a thread of its own: `write`
//! hands the batch over and its future only awaits the answer, and the delivery worker keeps
//! spilling to the spool and watching its shutdown deadline meanwhile. A write the worker gave
//! up on (the deadline came) still finishes or fails on that thread; the idempotent upsert makes
//! its retry from the spool harmless. Dropping the sink closes the connection at once when
//! the thread is idle, and does not wait for a write still in progress.
//!
//! Two programs starting together on a fresh store (a web app and its worker) race to create
//! the schema: set-up takes the write lock up front (`BEGIN IMMEDIATE`, only when something is
//! missing) and retries a busy database for up to [`SETUP_WAIT`], so neither start fails.

pub(crate) mod digests;
mod hourly;
mod rollups;
mod schema;

/// What a prune needs of a store (the guarded delete triggers), and the marker table's name.
#[cfg(feature = "retention")]
pub(crate) use rollups::pruning_table;
#[cfg(feature = "retention")]
pub(crate) use schema::guard_rollups;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::SecondsFormat;
use rusqlite::{Connection, ErrorCode, params};
use tokio::sync::oneshot;

use super::{
    Batch, FailureKind, Sink, SinkError, SinkFuture, clean_map, clean_text, columns, upsert_guard,
    upsert_set, validate_table_name,
};
#[cfg(feature = "audit")]
use crate::audit::chain::Trail;
use crate::error::Error;
use crate::rows::{ActionRecord, JobExecution, stored_duration};

/// How long opening waits for another connection's write lock while creating the schema.
pub const SETUP_WAIT: Duration = Duration::from_secs(10);

/// How long one write waits for another connection's write lock before failing (transiently).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A batch for the connection's thread, with where its answer goes.
enum Work {
    Actions(Batch<ActionRecord>, oneshot::Sender<Result<(), SinkError>>),
    Jobs(Batch<JobExecution>, oneshot::Sender<Result<(), SinkError>>),
    /// From now on every write carries its digest.
    #[cfg(feature = "audit")]
    KeepDigests(Box<crate::audit::Chain>),
    /// An idle digest if one is due, or the closing one (`true`).
    #[cfg(feature = "audit")]
    Digest(bool, oneshot::Sender<Result<(), SinkError>>),
}

/// Writes action records into a SQLite database file, from a thread of its own.
pub struct SqliteSink {
    /// `None` only while dropping.
    tx: Option<std::sync::mpsc::Sender<Work>>,
    path: PathBuf,
    /// The action table, naming the store in spool segments with the path.
    table: String,
    scheduled_jobs: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Batches handed to the thread and not yet answered.
    pending: Arc<AtomicUsize>,
    /// The idle digests' interval, once digests are kept.
    #[cfg(feature = "audit")]
    digest_every: Option<Duration>,
}

impl Drop for SqliteSink {
    /// Closes the connection before returning when the thread is idle, so the file is free
    /// for others at once; a thread still busy with a write the worker gave up on (it may be
    /// waiting seconds for a lock) is left to finish on its own rather than holding a shutdown.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            if self.pending.load(Ordering::SeqCst) == 0 {
                let _ = t.join();
            }
        }
    }
}

impl std::fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The connection and its statements, owned by the sink's thread.
struct Store {
    conn: Connection,
    upsert: String,
    scheduled_jobs: Arc<AtomicBool>,
    #[cfg(feature = "audit")]
    trail: Trail,
}

/// Text without NUL, as every store keeps it: SQLite would store a raw NUL, and then its
/// `length()` and text comparisons stop there (`GROUP BY user_id` would merge such values).
fn opt(s: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    s.as_deref().map(clean_text)
}

impl SqliteSink {
    /// Opens (creating if needed) the database at `path` with the table `action_logs`.
    ///
    /// ```no_run
    /// fn main() -> Result<(), actionlog::Error> {
    ///     let sink = actionlog::sink::SqliteSink::open("/var/lib/app/actions.db")?;
    ///     let _guard = actionlog::builder().sink(sink).init()?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::Database`] naming the file and SQLite's reason.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_table(path, "action_logs")
    }

    /// Opens the database at `path` writing into `table` (validated as an SQL identifier).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad table name, [`Error::Database`] if the file cannot be used
    /// (including a lock another connection held longer than [`SETUP_WAIT`] while the schema
    /// had to be created), [`Error::Thread`] if its thread cannot start.
    pub fn open_table(path: impl AsRef<Path>, table: &str) -> Result<Self, Error> {
        validate_table_name(table)?;
        let path = path.as_ref().to_path_buf();
        let err = |reason: String| Error::Database {
            target: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fs::create_dir(dir).map_err(|e| err(e.to_string()))?;
        }
        if !path.exists() {
            // Created 0640 whatever the umask (SQLite gives its -wal and -shm files the same
            // mode): the audit trail is no more readable than the day files.
            match crate::fs::open_append(&path) {
                Ok(_) => {}
                // Another program created it first: fine.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(e.to_string())),
            }
        }
        let sqlerr = |e: rusqlite::Error| err(e.to_string());
        let conn = Connection::open(&path).map_err(sqlerr)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlerr)?;
        schema::ensure(&conn, table).map_err(sqlerr)?;
        // The store always has the trace columns: opening it added them.
        let cols = columns(true);
        let marks = (1..=cols.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let upsert = format!(
            "INSERT INTO {table} ({}) VALUES ({marks})
             ON CONFLICT (id) DO UPDATE SET {} WHERE {}",
            cols.join(", "),
            upsert_set(table, "excluded", true),
            upsert_guard(table, "excluded", true).replace("IS DISTINCT FROM", "IS NOT"),
        );
        // Prepare once now so a schema mismatch is a set-up error, not a runtime one.
        conn.prepare_cached(&upsert).map_err(sqlerr)?;
        let scheduled_jobs = Arc::new(AtomicBool::new(false));
        let mut store = Store {
            conn,
            upsert,
            scheduled_jobs: scheduled_jobs.clone(),
            #[cfg(feature = "audit")]
            trail: Trail::default(),
        };
        let (tx, rx) = std::sync::mpsc::channel::<Work>();
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        let thread = std::thread::Builder::new()
            .name("actionlog-sqlite".into())
            .spawn(move || {
                // Ends when the sink is dropped; the delivery worker is the only sender.
                for work in rx {
                    store.serve(work, &done);
                }
            })
            .map_err(Error::Thread)?;
        Ok(SqliteSink {
            tx: Some(tx),
            path,
            table: table.to_owned(),
            scheduled_jobs,
            thread: Some(thread),
            pending,
            #[cfg(feature = "audit")]
            digest_every: None,
        })
    }

    /// Keeps `scheduled_jobs` current from each batch of job runs, in the same transaction
    /// (default off; see [`crate::job`]).
    pub fn scheduled_jobs(self, on: bool) -> Self {
        self.scheduled_jobs.store(on, Ordering::Relaxed);
        self
    }

    /// Hands `make(answer)` to the thread; the future resolves with its answer.
    fn submit(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), SinkError>>) -> Work,
    ) -> SinkFuture<'static> {
        let (answer, rx) = oneshot::channel();
        self.pending.fetch_add(1, Ordering::SeqCst);
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(make(answer)).is_ok());
        if !sent {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
        Box::pin(async move {
            if !sent {
                return Err(SinkError::new(
                    FailureKind::Transient,
                    "the SQLite writer thread is gone",
                ));
            }
            rx.await.unwrap_or_else(|_| {
                Err(SinkError::new(
                    FailureKind::Transient,
                    "the SQLite writer thread stopped during the write",
                ))
            })
        })
    }
}

impl Store {
    /// Does `work`, counts it done, then answers: counted first, so a sink dropped as soon as
    /// the answer arrives sees the thread idle and closes the connection before it returns.
    fn serve(&mut self, work: Work, pending: &AtomicUsize) {
        #[cfg(feature = "audit")]
        let work = match work {
            Work::KeepDigests(chain) => {
                self.trail.keep(*chain);
                return;
            }
            other => other,
        };
        let err = |e: rusqlite::Error| SinkError::new(classify(&e), e.to_string());
        // A panic here (a bug, or SQLite's) must not end the thread silently: it answers as a
        // failed write and the thread goes on.
        let run = |s: &mut Store, w: &Work| -> Result<(), SinkError> {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match w {
                Work::Actions(b, _) => s.write(b).map_err(err),
                Work::Jobs(b, _) => s.write_jobs(b).map_err(err),
                #[cfg(feature = "audit")]
                Work::Digest(close, _) => s.digest_only(*close).map_err(err),
                #[cfg(feature = "audit")]
                Work::KeepDigests(_) => Ok(()),
            }))
            .unwrap_or_else(|p| {
                Err(SinkError::new(
                    FailureKind::Transient,
                    format!(
                        "the SQLite write panicked: {}",
                        crate::report::panic_text(p.as_ref())
                    ),
                ))
            })
        };
        let result = run(self, &work);
        // The batch's share is dropped before answering, so the pipeline gets its rows back
        // without a copy when it splits or dead-letters them.
        let answer = match work {
            Work::Actions(batch, answer) => {
                drop(batch);
                answer
            }
            Work::Jobs(batch, answer) => {
                drop(batch);
                answer
            }
            #[cfg(feature = "audit")]
            Work::Digest(_, answer) => answer,
            #[cfg(feature = "audit")]
            Work::KeepDigests(_) => return,
        };
        pending.fetch_sub(1, Ordering::SeqCst);
        // The worker may have stopped waiting (deadline): nothing to tell then.
        let _ = answer.send(result);
    }

    fn write_jobs(&mut self, batch: &[JobExecution]) -> Result<(), rusqlite::Error> {
        let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO job_executions (id, job_id, status, started_at, completed_at,
                 duration_seconds, error_message, logs, metadata, trace_id, span_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING",
            )?;
            for j in batch {
                let metadata =
                    serde_json::to_string(&clean_map(&j.metadata)).unwrap_or_else(|_| "{}".into());
                stmt.execute(params![
                    j.id.to_string(),
                    clean_text(&j.job_id),
                    clean_text(&j.status),
                    ts(&j.started_at),
                    j.completed_at.as_ref().map(ts),
                    j.duration_seconds.map(stored_duration),
                    opt(&j.error_message),
                    clean_text(&j.logs),
                    metadata,
                    opt(&j.trace_id),
                    opt(&j.span_id),
                ])?;
            }
            #[cfg(feature = "audit")]
            seal(&mut self.trail, &tx, false, || {
                batch
                    .iter()
                    .map(|j| crate::audit::run_entry(j, true))
                    .collect()
            })?;
            if self.scheduled_jobs.load(Ordering::Relaxed) {
                let mut refresh = tx.prepare_cached(schema::REFRESH_SCHEDULED_JOB)?;
                let mut done: Vec<&str> = Vec::new();
                for j in batch {
                    if !done.contains(&j.job_id.as_str()) {
                        done.push(&j.job_id);
                        refresh.execute([&j.job_id])?;
                    }
                }
            }
        }
        tx.commit()?;
        #[cfg(feature = "audit")]
        self.trail.committed();
        Ok(())
    }

    fn write(&mut self, batch: &[ActionRecord]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&self.upsert)?;
            for r in batch {
                let details = serde_json::to_string(&clean_map(&r.action_details))
                    .unwrap_or_else(|_| "{}".into());
                stmt.execute(params![
                    r.id.to_string(),
                    clean_text(&r.action_type),
                    opt(&r.user_id),
                    r.action_timestamp
                        .to_rfc3339_opts(SecondsFormat::Micros, true),
                    details,
                    opt(&r.job_id),
                    opt(&r.job_execution_id),
                    clean_text(&r.status),
                    opt(&r.result_message),
                    opt(&r.error_message),
                    opt(&r.source),
                    opt(&r.ip_address),
                    opt(&r.user_agent),
                    // The PostgreSQL column is DECIMAL(10,3): store the same value.
                    r.request_duration_seconds.map(stored_duration),
                    opt(&r.trace_id),
                    opt(&r.span_id),
                ])?;
            }
        }
        #[cfg(feature = "audit")]
        seal(&mut self.trail, &tx, false, || {
            batch
                .iter()
                .filter_map(|r| crate::audit::action_entry(r, true))
                .collect()
        })?;
        tx.commit()?;
        #[cfg(feature = "audit")]
        self.trail.committed();
        Ok(())
    }
}

/// The audit trail's step in a write: the transaction's digest, stored in it.
#[cfg(feature = "audit")]
fn seal(
    trail: &mut Trail,
    tx: &rusqlite::Transaction<'_>,
    close: bool,
    entries: impl FnOnce() -> Vec<crate::audit::Entry>,
) -> Result<(), rusqlite::Error> {
    if !trail.is_on() {
        return Ok(());
    }
    let entries = entries();
    for _ in 0..crate::audit::Chain::FORK_RETRIES {
        if trail.needs_sync() {
            let newest = digests::last_digest(tx, trail.writer())?;
            trail.sync(newest.as_ref().map(|(_, line)| line.as_str()));
        }
        let Some(sealed) = trail.next(close, entries.clone()) else {
            return Ok(());
        };
        let row = sealed.row();
        if trail.stored(sealed, digests::insert_digest(tx, &row)?) {
            return Ok(());
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some(crate::audit::chain::FORKED.into()),
    ))
}

#[cfg(feature = "audit")]
impl Store {
    /// A digest without rows: an idle one if due, or the closing one (`close`).
    fn digest_only(&mut self, close: bool) -> Result<(), rusqlite::Error> {
        if !self.trail.is_on() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        seal(&mut self.trail, &tx, close, Vec::new)?;
        tx.commit()?;
        self.trail.committed();
        Ok(())
    }
}

fn classify(e: &rusqlite::Error) -> FailureKind {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::OutOfMemory,
        ) => FailureKind::Transient,
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::CannotOpen
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::SchemaChanged,
        ) => FailureKind::Config,
        _ => FailureKind::Rejected,
    }
}

impl Sink for SqliteSink {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn target(&self) -> String {
        // Absolute, so two programs started from different directories agree.
        let path = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("{} table {}", path.display(), self.table)
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        self.submit(|answer| Work::Actions(batch.share(), answer))
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        self.submit(|answer| Work::Jobs(batch.share(), answer))
    }

    #[cfg(feature = "audit")]
    fn keep_digests(&mut self, chain: crate::audit::Chain) -> bool {
        self.digest_every = Some(chain.interval());
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Work::KeepDigests(Box::new(chain))).is_ok())
    }

    #[cfg(feature = "audit")]
    fn tick_every(&self) -> Option<Duration> {
        // Twice per interval: an idle digest comes at most half an interval late.
        self.digest_every.map(|d| d / 2)
    }

    #[cfg(feature = "audit")]
    fn tick(&mut self) -> SinkFuture<'_> {
        if self.digest_every.is_none() {
            return Box::pin(std::future::ready(Ok(())));
        }
        self.submit(|answer| Work::Digest(false, answer))
    }

    #[cfg(feature = "audit")]
    fn close(&mut self) -> SinkFuture<'_> {
        if self.digest_every.is_none() {
            return Box::pin(std::future::ready(Ok(())));
        }
        self.submit(|answer| Work::Digest(true, answer))
    }
}
