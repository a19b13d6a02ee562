//! The audit trail's step in a PostgreSQL write: the transaction's digest ([`crate::audit`]),
//! stored in that transaction, so it commits or rolls back with the rows it covers. Without
//! the `audit` feature every step is a no-op.

use tokio_postgres::Transaction;

use crate::rows::{ActionRecord, JobExecution};

#[cfg_attr(not(feature = "audit"), allow(dead_code))]
/// The rows a transaction writes, as the trail covers them (`trace`: the table has the trace
/// columns).
pub(super) enum Covered<'a> {
    Actions(&'a [ActionRecord], bool),
    Runs(&'a [JobExecution], bool),
    /// No rows: an idle digest if due, or the closing one (`true`).
    Nothing {
        close: bool,
    },
}

/// The sink's side of the trail.
#[derive(Debug, Default)]
pub(super) struct Trail {
    #[cfg(feature = "audit")]
    inner: crate::audit::chain::Trail,
}

impl Trail {
    /// Digests from now on, in `chain`.
    #[cfg(feature = "audit")]
    pub(super) fn keep(&mut self, chain: crate::audit::Chain) {
        self.inner.keep(chain);
    }

    /// Whether digests are kept.
    pub(super) fn is_on(&self) -> bool {
        #[cfg(feature = "audit")]
        return self.inner.is_on();
        #[cfg(not(feature = "audit"))]
        false
    }

    /// The idle interval, when on.
    #[cfg(feature = "audit")]
    pub(super) fn interval(&self) -> Option<std::time::Duration> {
        self.inner.interval()
    }

    /// Adds to `tx` the digest of `rows` (see [`crate::audit::Chain::next`]); a digest number
    /// another writer took first is read again and sealed again.
    #[cfg_attr(not(feature = "audit"), allow(unused_variables, clippy::unused_async))]
    pub(super) async fn seal(
        &mut self,
        tx: &Transaction<'_>,
        rows: Covered<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        #[cfg(feature = "audit")]
        {
            use super::digests;
            let trail = &mut self.inner;
            if !trail.is_on() {
                return Ok(());
            }
            let (close, entries) = match rows {
                Covered::Actions(b, trace) => (
                    false,
                    b.iter()
                        .filter_map(|r| crate::audit::action_entry(r, trace))
                        .collect(),
                ),
                Covered::Runs(b, trace) => (
                    false,
                    b.iter()
                        .map(|j| crate::audit::run_entry(j, trace))
                        .collect(),
                ),
                Covered::Nothing { close } => (close, Vec::new()),
            };
            for _ in 0..crate::audit::Chain::FORK_RETRIES {
                if trail.needs_sync() {
                    let newest = digests::last_digest(tx, trail.writer()).await?;
                    trail.sync(newest.as_ref().map(|(_, line)| line.as_str()));
                }
                let Some(sealed) = trail.next(close, entries.clone()) else {
                    return Ok(());
                };
                let row = sealed.row();
                if trail.stored(sealed, digests::insert_digest(tx, &row).await?) {
                    return Ok(());
                }
            }
            Err(conflict(tx).await)
        }
        #[cfg(not(feature = "audit"))]
        Ok(())
    }

    /// The transaction committed.
    pub(super) fn committed(&mut self) {
        #[cfg(feature = "audit")]
        self.inner.committed();
    }
}

/// The server's own serialization failure (40001), which the sink retries like any other:
/// the digest number stayed taken (two writers share a name).
#[cfg(feature = "audit")]
async fn conflict(tx: &Transaction<'_>) -> tokio_postgres::Error {
    // The message is a constant of ours, without quotes.
    let raise = format!(
        "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = '{}'; END $$",
        crate::audit::chain::FORKED
    );
    match tx.batch_execute(&raise).await {
        Err(e) => e,
        // RAISE always fails; were it not to, a query for one row that returns none does.
        Ok(()) => match tx.query_one("SELECT 1 WHERE false", &[]).await {
            Err(e) => e,
            Ok(_) => unreachable!("a query with no rows returned one"),
        },
    }
}
