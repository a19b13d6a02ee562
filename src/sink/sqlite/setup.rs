//! Opening a store: WAL mode and the schema (tables, views, rollups, indexes), made in one
//! `BEGIN IMMEDIATE` only when something is missing, retried while another connection holds
//! the lock for up to [`SETUP_WAIT`].

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

use super::{SETUP_WAIT, hourly, rollups, schema};

fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// WAL mode and the schema, retried while another connection holds the lock.
pub(super) fn setup(conn: &Connection, table: &str) -> Result<(), rusqlite::Error> {
    let until = Instant::now() + SETUP_WAIT;
    loop {
        let r = (|| {
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                conn.pragma_update(None, "journal_mode", "WAL")?;
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Statement journals (every upsert that fires the rollup triggers needs one) and
            // temporary b-trees in memory: in files they cost about 28 `pwrite`s per action
            // (`strace -c` of `benches/action_cost.rs`), on a core the app shares.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            // The write lock only when something is missing: an existing store opens at once.
            // The read side's covering index counts too: a store whose rollups came before it
            // gets it (and the rollups rebuilt) here.
            let have: i64 = conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN (?1, ?2, ?3, ?4, 'job_executions',
                 'scheduled_jobs', 'scheduled_jobs_status', 'job_execution_summary')",
                [
                    table,
                    &rollups::names(table)[0],
                    &hourly::marker(table),
                    &format!("idx_{table}_stats"),
                ],
                |r| r.get(0),
            )?;
            if have < 8 {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {} {} {} COMMIT;",
                    schema::schema(table),
                    schema::jobs_schema(),
                    rollups::rollups(table),
                ))
                .inspect_err(|_| {
                    let _ = conn.execute_batch("ROLLBACK");
                })?;
            }
            Ok(())
        })();
        match r {
            Err(e) if busy(&e) && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's connection keeps statement journals and temporary b-trees in memory (in
    /// files they cost 2.8 M `pwrite` calls for the 100 000 actions of
    /// `benches/action_cost.rs`, 59 000 without).
    #[test]
    fn temporary_files_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        setup(&conn, "action_logs").unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2, "2 is MEMORY");
    }
}
