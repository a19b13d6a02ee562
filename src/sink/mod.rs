//! Where action records and job runs end up, behind one small trait: [`Sink`]. A sink writes a
//! batch as one idempotent write keyed by the record id (an upsert into `action_logs`; job runs
//! into `job_executions`, ignoring runs already stored) and says, when it fails, whether the
//! failure is worth retrying ([`FailureKind`]). Batching, retries, splitting and dead letters are
//! the pipeline's. A sink that is not a database (`OtlpSink`, feature `otlp`)
//! sends each row with its id for the receiver to de-duplicate by, and says when the receiver
//! took a batch only in part ([`FailureKind::PartiallyRejected`]). A sink may also take the
//! log lines themselves ([`Sink::takes_lines`], [`Sink::write_lines`]: `OtlpSink` does), for
//! [`crate::Builder::ship_lines`].

pub(crate) mod choice;
#[cfg(any(feature = "supabase", feature = "otlp"))]
pub(crate) mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "supabase")]
pub mod supabase;
#[cfg(feature = "postgres-tls")]
pub(crate) mod tls;

pub(crate) use choice::{Choice, describe, no_store_hint};
#[cfg(feature = "otlp")]
pub use otlp::OtlpSink;
#[cfg(feature = "postgres")]
pub use postgres::PostgresSink;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSink;
#[cfg(feature = "supabase")]
pub use supabase::SupabaseSink;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;
use crate::rows::{ActionRecord, JobExecution, LogLine};
pub(crate) use crate::rows::{clean_map, clean_text};

/// The rows of one write, shared between the pipeline and the sink: a sink that writes from a
/// thread of its own (SQLite) keeps a [`share`](Self::share) of the batch for as long as the
/// thread needs it, without copying the rows, while the pipeline keeps the batch to retry,
/// split or dead-letter it.
#[derive(Debug)]
pub struct Batch<T>(Arc<Vec<T>>);

impl<T> Batch<T> {
    /// Another handle on the same rows; the rows are not copied.
    #[must_use]
    pub fn share(&self) -> Batch<T> {
        Batch(Arc::clone(&self.0))
    }
}

impl<T: Clone> Batch<T> {
    /// The rows back, for the pipeline to split or dead-letter them. They are moved out when
    /// no sink kept a share past its answer, which is the contract; copied otherwise.
    pub(crate) fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }
}

impl<T> From<Vec<T>> for Batch<T> {
    fn from(rows: Vec<T>) -> Self {
        Batch(Arc::new(rows))
    }
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch(Arc::new(Vec::new()))
    }
}

impl<T> std::ops::Deref for Batch<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a Batch<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The future a sink returns; run on the pipeline's own single-threaded runtime.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + 'a>>;

/// A destination for action records and job runs, and, for a sink that takes them, log lines.
///
/// A sink must never block the delivery worker: `write` returns its future at once and does
/// its I/O inside it, awaiting (a network client), or on a thread of its own that the future
/// awaits (SQLite, see `SqliteSink` when the `sqlite` feature is on).
/// While the future is pending the worker keeps moving a filling channel to the spool and
/// watching the shutdown deadline; a future still pending at the deadline is dropped, so the
/// write must be safe to abandon and to repeat (it is an idempotent upsert).
pub trait Sink: Send + 'static {
    /// A short name for reports and dead letters (`"sqlite"`, `"postgres"`).
    fn name(&self) -> &'static str;

    /// Writes `batch` (ids unique within it) as one all-or-nothing idempotent upsert: writing
    /// the same records again changes nothing, and an open status (`initiated`, `in_progress`)
    /// never replaces a final one. A share of `batch` kept past the future's answer costs the
    /// pipeline a copy of the rows when it splits or dead-letters them: drop it before answering.
    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a>;

    /// Which store this is, beside its [`name`](Self::name): the database file, or the server,
    /// database, schema and table — never a password or key. Spool segments are marked with it,
    /// so a program sharing the log directory with another that writes elsewhere replays only
    /// its own. The default, empty, marks segments any pipeline may replay.
    fn target(&self) -> String {
        String::new()
    }

    /// Writes finished job runs into `job_executions` (ids unique within the batch) as one
    /// all-or-nothing write; a run already stored is left as it is. Sinks that keep
    /// `scheduled_jobs` current do it in the same transaction (see [`crate::job`]).
    ///
    /// The default refuses, so a sink written before job runs existed dead-letters them
    /// rather than losing them.
    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        let _ = batch;
        let e = SinkError::new(
            FailureKind::Rejected,
            format!("the {} sink does not store job executions", self.name()),
        );
        Box::pin(std::future::ready(Err(e)))
    }

    /// Whether this sink takes log lines ([`Self::write_lines`]); default `false`. A pipeline
    /// of lines ([`crate::Builder::ship_lines`]) is only started for a sink that says `true`:
    /// `build()` refuses any other with [`Error::Config`], before anything starts.
    fn takes_lines(&self) -> bool {
        false
    }

    /// Writes log lines (each the JSON object a day file holds, see [`LogLine`]) as one
    /// all-or-nothing write. Lines have no id: a line written again after an ambiguous failure
    /// (the answer lost after the store took it) is there twice, so a store that must not
    /// hold duplicates de-duplicates by content.
    ///
    /// The default refuses, like [`Self::write_jobs`]'s, so lines that reach a sink without
    /// it (a spool shared by hand with a store of records) are dead-lettered, not lost; a sink
    /// that implements it says so with [`Self::takes_lines`].
    fn write_lines<'a>(&'a mut self, batch: &'a Batch<LogLine>) -> SinkFuture<'a> {
        let _ = batch;
        let e = SinkError::new(
            FailureKind::Rejected,
            format!("the {} sink does not take log lines", self.name()),
        );
        Box::pin(std::future::ready(Err(e)))
    }
    /// How often the pipeline calls [`Self::tick`] while it runs; `None` (the default) for
    /// never. The database sinks keeping digests ([`crate::audit`]) ask for it, to make a
    /// digest while nothing is written.
    fn tick_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// Work of the sink's own, between writes, about every [`Self::tick_every`]; a failure is
    /// reported and the next tick comes as usual. The default does nothing.
    fn tick(&mut self) -> SinkFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Called once when the pipeline stops, after its last write (within the shutdown
    /// deadline): a sink keeping digests writes its closing digest. The default does nothing.
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Covers everything this sink writes from now on with `chain`'s signed digests, written
    /// in the same transaction as the rows, and says whether it does. The built-in database
    /// sinks do; the default drops the chain and says `false`, and a pipeline with
    /// [`crate::audit::Audit`] set refuses to start on such a sink.
    #[cfg(feature = "audit")]
    fn keep_digests(&mut self, chain: crate::audit::Chain) -> bool {
        let _ = chain;
        false
    }
}

impl Sink for Box<dyn Sink> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn write<'a>(&'a mut self, batch: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
        (**self).write(batch)
    }

    fn target(&self) -> String {
        (**self).target()
    }

    fn write_jobs<'a>(&'a mut self, batch: &'a Batch<JobExecution>) -> SinkFuture<'a> {
        (**self).write_jobs(batch)
    }

    fn takes_lines(&self) -> bool {
        (**self).takes_lines()
    }

    fn write_lines<'a>(&'a mut self, batch: &'a Batch<LogLine>) -> SinkFuture<'a> {
        (**self).write_lines(batch)
    }
    fn tick_every(&self) -> Option<std::time::Duration> {
        (**self).tick_every()
    }

    fn tick(&mut self) -> SinkFuture<'_> {
        (**self).tick()
    }

    fn close(&mut self) -> SinkFuture<'_> {
        (**self).close()
    }

    #[cfg(feature = "audit")]
    fn keep_digests(&mut self, chain: crate::audit::Chain) -> bool {
        (**self).keep_digests(chain)
    }
}

/// How a failed write should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The database could not be reached or asked to try again (connection refused or reset,
    /// timeout, serialization failure, deadlock, shutdown): retry the same batch with backoff.
    Transient,
    /// The set-up is wrong (table missing, permission denied, authentication): retry with
    /// backoff too, since splitting cannot help, and let the operator fix it.
    Config,
    /// The database refused the data (constraint violation, bad value): split the batch to
    /// isolate the bad rows and dead-letter them.
    Rejected,
    /// The receiver took the batch but refused `rejected` of its records without saying which
    /// (an OTLP partial success). Resending would duplicate the records it accepted, and
    /// splitting cannot find the refused ones, so the batch is dead-lettered whole, not
    /// retried, reported once, and the refusals are counted
    /// ([`Stats::actions_partially_rejected`](crate::Stats::actions_partially_rejected)).
    PartiallyRejected {
        /// How many of the batch's records the receiver refused.
        rejected: u64,
    },
}

/// A failed write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What to do about it.
    pub kind: FailureKind,
    /// The database's message (never containing credentials).
    pub message: String,
    /// How long the server asked us to wait before retrying (HTTP `Retry-After`), if it did.
    pub retry_after: Option<std::time::Duration>,
}

impl SinkError {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        SinkError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The `action_logs` columns actionlog writes, in the order of every sink's statement.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const COLUMNS: [&str; 14] = [
    "id",
    "action_type",
    "user_id",
    "action_timestamp",
    "action_details",
    "job_id",
    "job_execution_id",
    "status",
    "result_message",
    "error_message",
    "source",
    "ip_address",
    "user_agent",
    "request_duration_seconds",
];

/// The trace context columns (`migrations/0006_trace_context.sql`), written after [`COLUMNS`]
/// when the store has them: a store without them is written without the ids.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const TRACE_COLUMNS: [&str; 2] = ["trace_id", "span_id"];

/// The columns a sink writes: [`COLUMNS`], then [`TRACE_COLUMNS`] when the store has them.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn columns(trace: bool) -> Vec<&'static str> {
    let mut cols = COLUMNS.to_vec();
    if trace {
        cols.extend(TRACE_COLUMNS);
    }
    cols
}

/// The `WHERE` condition of every sink's upsert (`t` the stored row, `excluded` the new one):
/// an open status never replaces a final one, and an identical row is not touched at all, so a
/// replay changes nothing, not even `updated_at`. A record without trace ids changes nothing
/// by that alone (see [`upsert_set`]).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn upsert_guard(table: &str, excluded: &str, trace: bool) -> String {
    let open = "('initiated', 'in_progress')";
    let mut changed = COLUMNS[1..]
        .iter()
        .map(|c| format!("{table}.{c} IS DISTINCT FROM {excluded}.{c}"))
        .collect::<Vec<_>>();
    if trace {
        changed.extend(TRACE_COLUMNS.iter().map(|c| {
            format!(
                "({excluded}.trace_id IS NOT NULL AND {table}.{c} IS DISTINCT FROM {excluded}.{c})"
            )
        }));
    }
    let changed = changed.join(" OR ");
    format!(
        "({table}.status IS NULL OR {table}.status IN {open} OR {excluded}.status NOT IN {open}) AND ({changed})"
    )
}

/// `c = excluded.c, …` for every column but the id; the trace ids only replace stored ones
/// when the new record has them (an action's final record made outside its trace keeps the
/// ids its initiated record stored).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn upsert_set(table: &str, excluded: &str, trace: bool) -> String {
    let mut set = COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = {excluded}.{c}"))
        .collect::<Vec<_>>();
    if trace {
        set.extend(
            TRACE_COLUMNS
                .iter()
                .map(|c| {
                    format!(
                        "{c} = CASE WHEN {excluded}.trace_id IS NULL THEN {table}.{c} ELSE {excluded}.{c} END"
                    )
                }),
        );
    }
    set.join(", ")
}

/// Checks that `name` can be used unquoted-safe as a table name: ASCII letters, digits and
/// underscores, not starting with a digit, at most 63 bytes (PostgreSQL's limit).
///
/// # Errors
/// [`Error::Config`] otherwise.
pub fn validate_table_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "table name must be 1-63 ASCII letters, digits or underscores, not starting with a digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink written before lines existed.
    struct Records;

    impl Sink for Records {
        fn name(&self) -> &'static str {
            "records"
        }

        fn write<'a>(&'a mut self, _: &'a Batch<ActionRecord>) -> SinkFuture<'a> {
            Box::pin(std::future::ready(Ok(())))
        }
    }

    #[test]
    fn a_sink_takes_no_lines_unless_it_says_so_and_refuses_them_by_default() {
        let mut sink: Box<dyn Sink> = Box::new(Records);
        assert!(!sink.takes_lines());
        let lines = Batch::from(vec![LogLine::new("{}")]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(sink.write_lines(&lines)).unwrap_err();
        assert_eq!(e.kind, FailureKind::Rejected);
        assert!(e.message.contains("does not take log lines"), "{e}");
    }

    #[test]
    fn table_names() {
        assert!(validate_table_name("action_logs").is_ok());
        assert!(validate_table_name("_x9").is_ok());
        for bad in [
            "",
            "9x",
            "a-b",
            "a.b",
            "x\"; DROP TABLE y; --",
            &"a".repeat(64),
        ] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }
}
