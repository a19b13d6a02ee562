//! [`Stats`]: a snapshot of every counter actionlog keeps, summed over the outputs a guard holds;
//! [`StoreStats`]: one store's counters — a store of action records and job runs, or the store
//! the log lines are shipped to ([`Carries`]).

use std::path::PathBuf;

/// A snapshot of the counters.
///
/// With more than one store ([`crate::Builder::also_sink`]) each record is offered to every
/// store, and each `actions_*` counter is the sum over the stores: two stores and 10 actions
/// make `actions_recorded` 20. So the accounting holds for the totals as it does for each
/// store — `actions_recorded + actions_replayed = actions_delivered + actions_dead_lettered +
/// actions_dropped + actions_spooled` + what is still queued — and [`crate::Guard::store_stats`]
/// gives each store's own. The store the log lines are shipped to
/// ([`crate::Builder::ship_lines`]) is not in these sums: its counters are in its
/// [`StoreStats`] only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines that reached the day files (standard output, when the day files are off),
    /// including actionlog's own WARNING lines about drops. Lines shipped to a store of lines
    /// are counted in its [`StoreStats`] (none here when they are only shipped).
    pub lines_written: u64,
    /// Lines lost: channel full under [`crate::Overflow::DropNewest`], the writer gone after
    /// shutdown, or more than the in-memory cap waiting while the file could not be written.
    pub lines_dropped: u64,
    /// Failed attempts to write or reopen a day file, or to write to standard output (its
    /// copy beside the day files included).
    pub write_errors: u64,
    /// Action records produced by the action layer (an action span makes two: initiated, final),
    /// and job runs produced by the job layer (one each); the `actions_*` counters below count
    /// both.
    pub actions_recorded: u64,
    /// Action records written to the database (merged records count once each).
    pub actions_delivered: u64,
    /// Batch writes that failed transiently and were retried.
    pub actions_retried: u64,
    /// Action records kept in the dead-letter file: rejected by the database, or not deliverable
    /// before the shutdown deadline.
    pub actions_dead_lettered: u64,
    /// Action records lost: the channel stayed full past the overflow bound, a damaged spool
    /// line could not be read back, the spool could not be written, or the record was made after
    /// the guard had shut down (a span closing late, a task still running).
    pub actions_dropped: u64,
    /// Action records kept in the spool at shutdown because the sink could not take them in time.
    pub actions_spooled: u64,
    /// Action records read back from an earlier run's spool at start.
    pub actions_replayed: u64,
    /// Records a receiver refused while taking the rest of their batch, without saying which
    /// (an OTLP partial success, as the receiver counted them). Their whole batch is in the
    /// dead-letter file and in `actions_dead_lettered`, not resent: this counter is not part of
    /// the accounting sum, it says how many of those the receiver actually lacks.
    pub actions_partially_rejected: u64,
}

/// What a store's pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carries {
    /// Action records and job runs ([`crate::Builder::sink`], [`crate::Builder::also_sink`]).
    Records,
    /// The log lines, as the day files hold them ([`crate::Builder::ship_lines`]).
    Lines,
}

/// One store's counters: see [`crate::Guard::store_stats`]. For a store of records, its
/// [`Stats`] are its share of the totals; the store of lines is counted here only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// The sink's [`name`](crate::sink::Sink::name): `"sqlite"`, `"postgres"`, …
    pub sink: &'static str,
    /// What its pipeline carries: action records and job runs, or the log lines.
    pub carries: Carries,
    /// The sink's [`target`](crate::sink::Sink::target): the database file, or server,
    /// database, schema and table — never a password.
    pub target: String,
    /// Where this store's records wait on disk while it is slow or down, if the spool is on.
    pub spool_dir: Option<PathBuf>,
    /// Where this store's rejected records go.
    pub dead_letter_dir: PathBuf,
    /// This store's `actions_*` counters (the `lines_*` ones and `write_errors` are zero).
    /// `actions_recorded + actions_replayed = actions_delivered + actions_dead_lettered +
    /// actions_dropped + actions_spooled` + what its queue still holds, for each store. For the
    /// store of lines ([`Carries::Lines`]) they count log lines: `actions_recorded` the lines
    /// the file writer handed to it, `actions_delivered` those the receiver took, and so on;
    /// they are not in [`crate::Guard::stats`]' action totals.
    pub stats: Stats,
}

impl Stats {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &Stats) {
        self.lines_written += other.lines_written;
        self.lines_dropped += other.lines_dropped;
        self.write_errors += other.write_errors;
        self.actions_recorded += other.actions_recorded;
        self.actions_delivered += other.actions_delivered;
        self.actions_retried += other.actions_retried;
        self.actions_dead_lettered += other.actions_dead_lettered;
        self.actions_dropped += other.actions_dropped;
        self.actions_spooled += other.actions_spooled;
        self.actions_replayed += other.actions_replayed;
        self.actions_partially_rejected += other.actions_partially_rejected;
    }
}
