//! The SQLite store's schema, mirroring `migrations/0001_action_logs.sql`,
//! `migrations/0002_jobs.sql` and `migrations/0007_audit.sql`: timestamps are RFC 3339 text in UTC (so they sort as text),
//! booleans integers, JSON text. Opening a store makes it ([`ensure`]): WAL mode, then the
//! tables, views, rollups and indexes in one `BEGIN IMMEDIATE` only when something is missing,
//! retried while another connection holds the lock for up to [`SETUP_WAIT`].

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

use super::{SETUP_WAIT, hourly, rollups};

pub(super) fn schema(t: &str) -> String {
    let ts = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            id TEXT PRIMARY KEY,
            action_type TEXT NOT NULL CHECK (length(action_type) BETWEEN 1 AND 50),
            user_id TEXT CHECK (length(user_id) <= 255),
            action_timestamp TEXT DEFAULT ({ts}),
            action_details TEXT CHECK (action_details IS NULL OR json_valid(action_details)),
            job_id TEXT CHECK (length(job_id) <= 100),
            job_execution_id TEXT CHECK (job_execution_id IS NULL OR (length(job_execution_id) = 36
                AND lower(job_execution_id) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-*-*-*')),
            status TEXT CHECK (length(status) <= 20),
            result_message TEXT,
            error_message TEXT,
            source TEXT CHECK (length(source) <= 50),
            ip_address TEXT CHECK (length(ip_address) <= 45),
            user_agent TEXT,
            request_duration_seconds REAL,
            created_at TEXT DEFAULT ({ts}),
            updated_at TEXT DEFAULT ({ts})
        );
        CREATE INDEX IF NOT EXISTS idx_{t}_action_type ON {t}(action_type);
        CREATE INDEX IF NOT EXISTS idx_{t}_user_id ON {t}(user_id);
        CREATE INDEX IF NOT EXISTS idx_{t}_timestamp ON {t}(action_timestamp DESC);
        CREATE INDEX IF NOT EXISTS idx_{t}_job_id ON {t}(job_id);
        CREATE INDEX IF NOT EXISTS idx_{t}_status ON {t}(status);
        CREATE TRIGGER IF NOT EXISTS {t}_updated_at AFTER UPDATE ON {t}
        FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
        BEGIN UPDATE {t} SET updated_at = {ts} WHERE id = NEW.id; END;"
    )
}

/// The job tables and views, mirroring `migrations/0002_jobs.sql`: timestamps are RFC 3339 text
/// in UTC (so they sort as text), booleans integers, JSON text.
pub(super) fn jobs_schema() -> String {
    let ts = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    format!(
        "CREATE TABLE IF NOT EXISTS job_executions (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL CHECK (length(job_id) BETWEEN 1 AND 100),
            status TEXT NOT NULL CHECK (length(status) <= 20),
            started_at TEXT NOT NULL DEFAULT ({ts}),
            completed_at TEXT,
            duration_seconds REAL,
            error_message TEXT,
            logs TEXT,
            metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
            created_at TEXT DEFAULT ({ts})
        );
        CREATE INDEX IF NOT EXISTS idx_job_executions_job_id ON job_executions(job_id, started_at DESC);
        CREATE INDEX IF NOT EXISTS idx_job_executions_started_at ON job_executions(started_at DESC);
        CREATE INDEX IF NOT EXISTS idx_job_executions_status ON job_executions(status);
        CREATE TABLE IF NOT EXISTS scheduled_jobs (
            id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(2)) || '-' || hex(randomblob(6)))),
            job_id TEXT NOT NULL UNIQUE CHECK (length(job_id) BETWEEN 1 AND 100),
            job_name TEXT,
            job_function TEXT,
            schedule_type TEXT,
            schedule_value TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            last_successful_run TEXT,
            last_attempted_run TEXT,
            next_scheduled_run TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            max_consecutive_failures INTEGER NOT NULL DEFAULT 3,
            auto_retry_on_startup INTEGER NOT NULL DEFAULT 1,
            metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
            created_at TEXT DEFAULT ({ts}),
            updated_at TEXT DEFAULT ({ts})
        );
        CREATE TRIGGER IF NOT EXISTS scheduled_jobs_updated_at AFTER UPDATE ON scheduled_jobs
        FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
        BEGIN UPDATE scheduled_jobs SET updated_at = {ts} WHERE id = NEW.id; END;
        CREATE VIEW IF NOT EXISTS scheduled_jobs_status AS
        SELECT s.job_id, s.job_name, s.schedule_type, s.schedule_value, s.enabled,
            CASE
                WHEN NOT s.enabled THEN 'disabled'
                WHEN s.consecutive_failures >= s.max_consecutive_failures THEN 'failed_max_retries'
                WHEN s.next_scheduled_run <= {ts} THEN 'overdue'
                ELSE 'scheduled'
            END AS job_status,
            s.last_successful_run, s.last_attempted_run, s.next_scheduled_run,
            s.consecutive_failures, s.max_consecutive_failures,
            (SELECT e.status FROM job_executions e WHERE e.job_id = s.job_id
              ORDER BY e.started_at DESC LIMIT 1) AS last_execution_status,
            (SELECT MAX(e.started_at) FROM job_executions e WHERE e.job_id = s.job_id)
              AS last_execution_started_at,
            (SELECT e.error_message FROM job_executions e WHERE e.job_id = s.job_id
              ORDER BY e.started_at DESC LIMIT 1) AS last_execution_error
        FROM scheduled_jobs s;
        CREATE VIEW IF NOT EXISTS job_execution_summary AS
        SELECT job_id,
            COUNT(*) AS total_executions,
            COUNT(*) FILTER (WHERE status = 'success') AS successful_executions,
            COUNT(*) FILTER (WHERE status = 'failed') AS failed_executions,
            COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled_executions,
            ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'success') / COUNT(*), 2) AS success_rate,
            ROUND(AVG(duration_seconds), 3) AS avg_duration_seconds,
            MAX(started_at) AS last_execution
        FROM job_executions
        GROUP BY job_id;"
    )
}

/// The signed digests' table, mirroring `migrations/0007_audit.sql`: `made_at` as RFC 3339 UTC
/// text with microseconds (as the sinks write every time), the same length limits as the
/// PostgreSQL columns.
pub(super) const DIGESTS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit_digests (
        writer TEXT NOT NULL CHECK (length(writer) <= 100),
        seq INTEGER NOT NULL,
        made_at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (length(kind) <= 10),
        digest TEXT NOT NULL,
        PRIMARY KEY (writer, seq)
    );
    CREATE INDEX IF NOT EXISTS idx_audit_digests_made_at ON audit_digests(made_at);";

/// Keeps one job's `scheduled_jobs` row current from `job_executions`, like the PostgreSQL
/// function `actionlog_refresh_scheduled_jobs` (derived, and a row already current is not
/// touched, so a replay changes nothing, not even `updated_at`).
pub(super) const REFRESH_SCHEDULED_JOB: &str = "UPDATE scheduled_jobs SET
        last_attempted_run = x.attempted,
        last_successful_run = x.success,
        consecutive_failures = x.failures,
        next_scheduled_run = COALESCE(x.next_run, scheduled_jobs.next_scheduled_run)
    FROM (SELECT
        (SELECT MAX(started_at) FROM job_executions WHERE job_id = ?1) AS attempted,
        (SELECT MAX(started_at) FROM job_executions WHERE job_id = ?1 AND status = 'success')
            AS success,
        (SELECT COUNT(*) FROM job_executions e WHERE e.job_id = ?1 AND e.status = 'failed'
            AND e.started_at > COALESCE((SELECT MAX(started_at) FROM job_executions
                WHERE job_id = ?1 AND status = 'success'), '')) AS failures,
        (SELECT json_extract(metadata, '$.next_scheduled_run') FROM job_executions
            WHERE job_id = ?1 AND json_extract(metadata, '$.next_scheduled_run') IS NOT NULL
            ORDER BY started_at DESC LIMIT 1) AS next_run) AS x
    WHERE scheduled_jobs.job_id = ?1 AND x.attempted IS NOT NULL
      AND (last_attempted_run IS NOT x.attempted OR last_successful_run IS NOT x.success
        OR consecutive_failures IS NOT x.failures
        OR next_scheduled_run IS NOT COALESCE(x.next_run, next_scheduled_run))";

fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// WAL mode and the schema, retried while another connection holds the lock.
pub(super) fn ensure(conn: &Connection, table: &str) -> Result<(), rusqlite::Error> {
    let until = Instant::now() + SETUP_WAIT;
    loop {
        let r = (|| {
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                conn.pragma_update(None, "journal_mode", "WAL")?;
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Statement journals (every upsert that fires the rollup triggers needs one) and
            // temporary b-trees in memory: in files each upsert would write and sync them, on
            // a core the app shares.
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
                    "BEGIN IMMEDIATE; {} {} {} {DIGESTS_SCHEMA} COMMIT;",
                    schema(table),
                    jobs_schema(),
                    rollups::rollups(table),
                ))
                .inspect_err(|_| {
                    let _ = conn.execute_batch("ROLLBACK");
                })?;
            }
            add_trace_columns(conn, table)?;
            add_digests(conn)?;
            guard_rollups(conn, table)
        })();
        match r {
            Err(e) if busy(&e) && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Whether `table` has both trace context columns.
fn has_trace_columns(conn: &Connection, table: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) = 2 FROM pragma_table_info(?1) WHERE name IN ('trace_id', 'span_id')",
        [table],
        |r| r.get(0),
    )
}

/// The trace context columns of `migrations/0006_trace_context.sql`, added to a store made
/// before them (and to a new one: one path for both), with the index a trace's actions are
/// found by. Checked again under the write lock, as another process may have added them.
fn add_trace_columns(conn: &Connection, table: &str) -> Result<(), rusqlite::Error> {
    if has_trace_columns(conn, table)? && has_trace_columns(conn, "job_executions")? {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| {
        for t in [table, "job_executions"] {
            for c in crate::sink::TRACE_COLUMNS {
                let there: bool = conn.query_row(
                    "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                    [t, c],
                    |r| r.get(0),
                )?;
                if !there {
                    conn.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN {c} TEXT"))?;
                }
            }
        }
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS idx_{table}_trace_id ON {table}(trace_id)
             WHERE trace_id IS NOT NULL; COMMIT;"
        ))
    })();
    r.inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })
}

/// The signed digests' table, added to a store made before it (a new store got it with the
/// rest). `IF NOT EXISTS` under the write lock: another process may have added it meanwhile.
fn add_digests(conn: &Connection) -> Result<(), rusqlite::Error> {
    let there: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit_digests'",
        [],
        |r| r.get(0),
    )?;
    if there {
        return Ok(());
    }
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {DIGESTS_SCHEMA} COMMIT;"))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })
}

/// What a prune (`actionlog::retention`) needs of a store, added to one made before it (and
/// to a new one: one path for both): the marker table, the rollups' delete triggers that skip
/// a prune's rows (so the rollups keep the statistics of the pruned past), and the index of
/// the runs whose logs are still there (so trimming them reads only those). Each trigger is
/// re-created only where its rollup exists, and everything is checked again under the write
/// lock, as another process may have done it.
pub(crate) fn guard_rollups(conn: &Connection, table: &str) -> Result<(), rusqlite::Error> {
    let marker = rollups::pruning_table(table);
    let check = || -> Result<(bool, bool, bool), rusqlite::Error> {
        let ready: i64 = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1)
                  + (SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'
                     AND name = 'idx_job_executions_logs')
                  + (SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'
                     AND name IN (?2, ?3) AND instr(sql, ?1) > 0)",
            [
                marker.as_str(),
                &format!("{table}_rollup_delete"),
                &format!("{table}_hourly_delete"),
            ],
            |r| r.get(0),
        )?;
        let has = |name: String| -> Result<bool, rusqlite::Error> {
            conn.query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get(0),
            )
        };
        let daily = has(rollups::names(table)[0].clone())?;
        let hourly = has(hourly::marker(table))?;
        Ok((
            ready == 2 + i64::from(daily) + i64::from(hourly),
            daily,
            hourly,
        ))
    };
    if check()?.0 {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| {
        let (ready, daily, hourly) = check()?;
        if !ready {
            let mut sql = rollups::pruning_marker(table);
            if daily {
                sql.push_str(&format!("DROP TRIGGER IF EXISTS {table}_rollup_delete;"));
                sql.push_str(&rollups::delete_trigger(table));
            }
            if hourly {
                sql.push_str(&format!("DROP TRIGGER IF EXISTS {table}_hourly_delete;"));
                sql.push_str(&hourly::delete_trigger(table));
            }
            sql.push_str(
                "CREATE INDEX IF NOT EXISTS idx_job_executions_logs ON job_executions(started_at)
                 WHERE logs IS NOT NULL;",
            );
            conn.execute_batch(&sql)?;
        }
        conn.execute_batch("COMMIT")
    })();
    r.inspect_err(|_| {
        let _ = conn.execute_batch("ROLLBACK");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's connection keeps statement journals and temporary b-trees in memory, off
    /// the disk every upsert would otherwise write them to.
    #[test]
    fn temporary_files_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        ensure(&conn, "action_logs").unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2, "2 is MEMORY");
    }

    /// A store made before the trace columns gets them when opened, once.
    #[test]
    fn an_older_store_gets_the_trace_columns() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        conn.execute_batch(&format!("{} {}", schema("action_logs"), jobs_schema()))
            .unwrap();
        assert!(!has_trace_columns(&conn, "action_logs").unwrap());
        ensure(&conn, "action_logs").unwrap();
        ensure(&conn, "action_logs").unwrap();
        assert!(has_trace_columns(&conn, "action_logs").unwrap());
        assert!(has_trace_columns(&conn, "job_executions").unwrap());
    }

    fn has_digests(conn: &Connection) -> bool {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('audit_digests', 'idx_audit_digests_made_at')",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 2
    }

    /// A new store has the digests' table; one made before it gets it when opened, once.
    #[test]
    fn digests_table_on_new_and_older_stores() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("new.db")).unwrap();
        ensure(&conn, "action_logs").unwrap();
        assert!(has_digests(&conn));

        // A store as the previous release left it: everything but the digests.
        let conn = Connection::open(dir.path().join("old.db")).unwrap();
        ensure(&conn, "action_logs").unwrap();
        conn.execute_batch("DROP TABLE audit_digests").unwrap();
        assert!(!has_digests(&conn));
        ensure(&conn, "action_logs").unwrap();
        ensure(&conn, "action_logs").unwrap();
        assert!(has_digests(&conn));
        let cols: Vec<(String, String, bool)> = conn
            .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info('audit_digests') ORDER BY cid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["writer", "seq", "made_at", "kind", "digest"]);
        assert!(cols.iter().all(|c| c.2), "every column NOT NULL: {cols:?}");
        assert_eq!(cols[1].1, "INTEGER");
    }

    /// A store whose rollups' delete triggers came before pruning gets the guarded ones when
    /// opened: a delete inside the marker keeps the counts, one outside takes them away.
    #[test]
    fn an_older_store_gets_the_guarded_delete_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        ensure(&conn, "action_logs").unwrap();
        // The triggers as they were before pruning existed: no marker table, no WHEN.
        conn.execute_batch(
            "DROP TRIGGER action_logs_rollup_delete; DROP TRIGGER action_logs_hourly_delete;
             DROP TABLE action_logs_pruning; DROP INDEX idx_job_executions_logs;
             CREATE TRIGGER action_logs_rollup_delete AFTER DELETE ON action_logs
             BEGIN UPDATE action_logs_daily_status SET n = n - 1; END;",
        )
        .unwrap();
        ensure(&conn, "action_logs").unwrap();
        ensure(&conn, "action_logs").unwrap();
        conn.execute_batch(
            "INSERT INTO action_logs (id, action_type, status, action_timestamp) VALUES
             ('a', 't', 'completed', '2026-01-01T00:00:00.000000Z'),
             ('b', 't', 'completed', '2026-01-01T00:00:01.000000Z');
             BEGIN; INSERT INTO action_logs_pruning VALUES (1);
             DELETE FROM action_logs WHERE id = 'a'; DELETE FROM action_logs_pruning; COMMIT;",
        )
        .unwrap();
        let n = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(n("SELECT SUM(n) FROM action_logs_daily_status"), 2);
        assert_eq!(n("SELECT SUM(n) FROM action_logs_hourly_status"), 2);
        conn.execute_batch("DELETE FROM action_logs WHERE id = 'b'")
            .unwrap();
        assert_eq!(n("SELECT SUM(n) FROM action_logs_daily_status"), 1);
        assert_eq!(n("SELECT SUM(n) FROM action_logs_hourly_status"), 1);
        assert_eq!(
            n("SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_job_executions_logs'"),
            1
        );
    }
}
