//! Per-day rollups of the actions table, mirroring `migrations/0004_rollups.sql`: the read
//! side's `stats` sums a few thousand rollup rows instead of scanning every action.
//!
//! SQLite has no statement-level triggers, so each row's insert, update and delete adjusts
//! the three rollups by one (an upsert into a small `WITHOUT ROWID` table, in the writer's own
//! transaction). A NULL key is `''` with its `_null` flag set (NULLs are never equal in a
//! primary key); a NULL `action_timestamp` is the day `''`. Durations are keyed at millisecond
//! resolution (`round(…, 3)`), as PostgreSQL's `DECIMAL(10,3)` stores them, so percentiles
//! from the histogram are exact to the millisecond.

/// The names of the rollup tables of actions table `t`; the first is what a reader checks.
pub(super) fn names(t: &str) -> [String; 3] {
    [
        format!("{t}_daily_status"),
        format!("{t}_daily_users"),
        format!("{t}_daily_durations"),
    ]
}

/// One row's contribution (`sign` 1 or -1) to the three rollups, from `r` (`NEW` or `OLD`).
fn adjust(t: &str, r: &str, sign: &str) -> String {
    let day = format!("COALESCE(substr({r}.action_timestamp, 1, 10), '')");
    format!(
        "INSERT INTO {t}_daily_status (day, action_type, status, status_null, n)
         VALUES ({day}, {r}.action_type, COALESCE({r}.status, ''), {r}.status IS NULL, {sign})
         ON CONFLICT DO UPDATE SET n = n + {sign};
         INSERT INTO {t}_daily_users (day, user_id, user_null, action_type, n)
         VALUES ({day}, COALESCE({r}.user_id, ''), {r}.user_id IS NULL, {r}.action_type, {sign})
         ON CONFLICT DO UPDATE SET n = n + {sign};
         INSERT INTO {t}_daily_durations (day, action_type, duration, n)
         SELECT {day}, {r}.action_type, round({r}.request_duration_seconds, 3), {sign}
         WHERE {r}.request_duration_seconds IS NOT NULL
         ON CONFLICT DO UPDATE SET n = n + {sign};"
    )
}

/// Creates, fills (from the rows already there) and arms the rollups of `t`, with the
/// indexes the rest of `stats` reads: the partial days at a range's ends by time, covering
/// the rolled-up columns (so they are read from the index alone; its `id` also gives pages
/// their `(time, id)` order without a sort), the failed actions newest first (a partial index
/// that only failed rows cost), and the runs by job and duration (covering); then the hourly
/// rollups ([`super::hourly`]). Run inside the set-up's `BEGIN IMMEDIATE` transaction, and
/// only when any is missing, so that they exist only complete.
pub(super) fn rollups(t: &str) -> String {
    let day = "COALESCE(substr(action_timestamp, 1, 10), '')";
    let keys = "old.action_timestamp IS NOT new.action_timestamp OR old.action_type IS NOT new.action_type \
         OR old.status IS NOT new.status OR old.user_id IS NOT new.user_id \
         OR old.request_duration_seconds IS NOT new.request_duration_seconds";
    format!(
        "CREATE TABLE IF NOT EXISTS {t}_daily_status (
            day TEXT NOT NULL, action_type TEXT NOT NULL, status TEXT NOT NULL,
            status_null INTEGER NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (day, action_type, status, status_null)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS {t}_daily_users (
            day TEXT NOT NULL, user_id TEXT NOT NULL, user_null INTEGER NOT NULL,
            action_type TEXT NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (day, user_id, user_null, action_type)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS {t}_daily_durations (
            day TEXT NOT NULL, action_type TEXT NOT NULL, duration REAL NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (day, action_type, duration)) WITHOUT ROWID;
        DELETE FROM {t}_daily_status; DELETE FROM {t}_daily_users; DELETE FROM {t}_daily_durations;
        INSERT INTO {t}_daily_status (day, action_type, status, status_null, n)
        SELECT {day}, action_type, COALESCE(status, ''), status IS NULL, COUNT(*)
        FROM {t} GROUP BY 1, 2, 3, 4;
        INSERT INTO {t}_daily_users (day, user_id, user_null, action_type, n)
        SELECT {day}, COALESCE(user_id, ''), user_id IS NULL, action_type, COUNT(*)
        FROM {t} GROUP BY 1, 2, 3, 4;
        INSERT INTO {t}_daily_durations (day, action_type, duration, n)
        SELECT {day}, action_type, round(request_duration_seconds, 3), COUNT(*)
        FROM {t} WHERE request_duration_seconds IS NOT NULL GROUP BY 1, 2, 3;
        CREATE INDEX IF NOT EXISTS idx_{t}_failed ON {t}(action_timestamp DESC, id DESC)
            WHERE status = 'failed';
        CREATE INDEX IF NOT EXISTS idx_{t}_stats ON {t}(action_timestamp DESC, id DESC,
            action_type, status, user_id, request_duration_seconds);
        CREATE INDEX IF NOT EXISTS idx_job_executions_stats
            ON job_executions(job_id, duration_seconds, status, started_at);
        CREATE TRIGGER IF NOT EXISTS {t}_rollup_insert AFTER INSERT ON {t}
        BEGIN {ins} END;
        CREATE TRIGGER IF NOT EXISTS {t}_rollup_update AFTER UPDATE ON {t} WHEN {keys}
        BEGIN {del_old} {ins} END;
        {marker}
        {delete}
        {hourly}",
        ins = adjust(t, "new", "1"),
        del_old = adjust(t, "old", "-1"),
        marker = pruning_marker(t),
        delete = delete_trigger(t),
        hourly = super::hourly::rollups(t),
    )
}

/// The marker table of a prune in progress (`actionlog::retention`): one row exists only
/// inside a prune's own transaction, and while it does the rollups' delete triggers let the
/// deleted rows keep their counts. SQLite has one writer at a time and readers see only
/// committed data, so no other connection ever sees the row.
pub(super) fn pruning_marker(t: &str) -> String {
    format!("CREATE TABLE IF NOT EXISTS {t}_pruning (one INTEGER PRIMARY KEY CHECK (one = 1));")
}

/// The name of the marker table of actions table `t`.
pub(crate) fn pruning_table(t: &str) -> String {
    format!("{t}_pruning")
}

/// The daily rollups' delete trigger: each deleted row takes its counts away, except in a
/// prune (see [`pruning_marker`]), which keeps the statistics of the past it deletes.
pub(super) fn delete_trigger(t: &str) -> String {
    format!(
        "CREATE TRIGGER IF NOT EXISTS {t}_rollup_delete AFTER DELETE ON {t}
        WHEN NOT EXISTS (SELECT 1 FROM {t}_pruning)
        BEGIN {} END;",
        adjust(t, "old", "-1")
    )
}
