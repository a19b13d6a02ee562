//! Per-hour rollups of the actions table, mirroring `migrations/0005_hourly_rollups.sql`: the
//! dashboard's status histogram and its failures grouped by error message read these instead
//! of every action of the range.
//!
//! An hour is the first 13 characters of the stored time (`2026-11-03T10`), `''` for a NULL
//! time; a NULL key is `''` with its `_null` flag set. Counts move by one per row (SQLite has
//! no statement-level triggers). first_seen and last_seen widen when a failed row joins a group
//! (`min` / `max`); when one leaves it (a delete, or an update of its time, status or message)
//! and was the group's first or last, they are recomputed from the table (one range of the
//! partial index of failed rows, an hour long), so they stay exact.

/// The name of the hourly rollup that readers look for, of actions table `t`.
pub(super) fn marker(t: &str) -> String {
    format!("{t}_hourly_status")
}

/// Row `r` (`old`) leaving its failure group, if it failed: one fewer; when it was the
/// group's first or last, those are recomputed from the table; an emptied group goes.
fn leave(t: &str, r: &str) -> String {
    let hour = format!("substr({r}.action_timestamp, 1, 13)");
    let key = format!(
        "{r}.status = 'failed' AND hour = COALESCE({hour}, '') \
         AND error_message = COALESCE({r}.error_message, '') AND error_null = ({r}.error_message IS NULL)"
    );
    // The stored times of one hour all start with `hour` then ':': `[hour, hour || ';')` is
    // that hour as a range of the index of failed rows (';' follows ':'). A NULL time gives no
    // range and no times, as its group (all NULL times) has none either.
    let of_group = |agg: &str| {
        format!(
            "(SELECT {agg}(action_timestamp) FROM {t} WHERE status = 'failed' \
             AND error_message IS {r}.error_message \
             AND action_timestamp >= {hour} AND action_timestamp < {hour} || ';')"
        )
    };
    format!(
        "UPDATE {t}_hourly_failures SET n = n - 1 WHERE {key};
         UPDATE {t}_hourly_failures SET first_seen = {}, last_seen = {}
         WHERE {key} AND n > 0
             AND ({r}.action_timestamp IS first_seen OR {r}.action_timestamp IS last_seen);
         DELETE FROM {t}_hourly_failures WHERE {key} AND n <= 0;",
        of_group("MIN"),
        of_group("MAX"),
    )
}

/// Creates, fills (from the rows already there) and arms the hourly rollups of `t`; run inside
/// the set-up's `BEGIN IMMEDIATE` transaction when they are missing, after the daily rollups
/// (whose partial index of failed rows the recomputing reads).
pub(super) fn rollups(t: &str) -> String {
    let hour = "COALESCE(substr(action_timestamp, 1, 13), '')";
    let status = |r: &str, sign: &str| status(t, r, sign);
    // Row `new` joining its failure group, if it failed.
    let join = format!(
        "INSERT INTO {t}_hourly_failures (hour, error_message, error_null, n, first_seen, last_seen)
         SELECT COALESCE(substr(new.action_timestamp, 1, 13), ''), COALESCE(new.error_message, ''),
                new.error_message IS NULL, 1, new.action_timestamp, new.action_timestamp
         WHERE new.status = 'failed'
         ON CONFLICT DO UPDATE SET n = n + 1, first_seen = min(first_seen, excluded.first_seen),
             last_seen = max(last_seen, excluded.last_seen);"
    );
    let status_keys = "old.action_timestamp IS NOT new.action_timestamp \
         OR old.action_type IS NOT new.action_type OR old.status IS NOT new.status";
    let failure_keys = "(old.status = 'failed' OR new.status = 'failed') AND \
         (old.action_timestamp IS NOT new.action_timestamp OR old.status IS NOT new.status \
          OR old.error_message IS NOT new.error_message)";
    format!(
        "CREATE TABLE IF NOT EXISTS {t}_hourly_status (
            hour TEXT NOT NULL, action_type TEXT NOT NULL, status TEXT NOT NULL,
            status_null INTEGER NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (hour, action_type, status, status_null)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS {t}_hourly_failures (
            hour TEXT NOT NULL, error_message TEXT NOT NULL, error_null INTEGER NOT NULL,
            n INTEGER NOT NULL, first_seen TEXT, last_seen TEXT,
            PRIMARY KEY (hour, error_message, error_null)) WITHOUT ROWID;
        DELETE FROM {t}_hourly_status; DELETE FROM {t}_hourly_failures;
        INSERT INTO {t}_hourly_status (hour, action_type, status, status_null, n)
        SELECT {hour}, action_type, COALESCE(status, ''), status IS NULL, COUNT(*)
        FROM {t} GROUP BY 1, 2, 3, 4;
        INSERT INTO {t}_hourly_failures (hour, error_message, error_null, n, first_seen, last_seen)
        SELECT {hour}, COALESCE(error_message, ''), error_message IS NULL, COUNT(*),
               MIN(action_timestamp), MAX(action_timestamp)
        FROM {t} WHERE status = 'failed' GROUP BY 1, 2, 3;
        CREATE TRIGGER IF NOT EXISTS {t}_hourly_insert AFTER INSERT ON {t}
        BEGIN {status_new} {join} END;
        CREATE TRIGGER IF NOT EXISTS {t}_hourly_status_update AFTER UPDATE ON {t}
        WHEN {status_keys}
        BEGIN {status_old} {status_new} END;
        CREATE TRIGGER IF NOT EXISTS {t}_hourly_failures_update AFTER UPDATE ON {t}
        WHEN {failure_keys}
        BEGIN {join} {leave} END;
        {delete}",
        status_new = status("new", "1"),
        status_old = status("old", "-1"),
        leave = leave(t, "old"),
        delete = delete_trigger(t),
    )
}

/// One row's count, `sign` 1 or -1, in the status rollup, from `r` (`new` or `old`).
fn status(t: &str, r: &str, sign: &str) -> String {
    format!(
        "INSERT INTO {t}_hourly_status (hour, action_type, status, status_null, n)
         VALUES (COALESCE(substr({r}.action_timestamp, 1, 13), ''), {r}.action_type,
                 COALESCE({r}.status, ''), {r}.status IS NULL, {sign})
         ON CONFLICT DO UPDATE SET n = n + {sign};"
    )
}

/// The hourly rollups' delete trigger; like the daily one, it leaves the counts of a prune's
/// rows alone (`super::rollups::pruning_marker`), first and last seen included.
pub(super) fn delete_trigger(t: &str) -> String {
    format!(
        "CREATE TRIGGER IF NOT EXISTS {t}_hourly_delete AFTER DELETE ON {t}
        WHEN NOT EXISTS (SELECT 1 FROM {t}_pruning)
        BEGIN {} {} END;",
        status(t, "old", "-1"),
        leave(t, "old")
    )
}
