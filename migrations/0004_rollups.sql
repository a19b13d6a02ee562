-- actionlog: per-day rollups of action_logs, so that `actionlog stats` and the dashboard's
-- overview read a few thousand rows instead of scanning every action (the analytics
-- over 1 M actions take seconds; over the rollups, milliseconds). Needs 0001 and 0002.
--
-- Three tables, one row per UTC day and key, each with a count `n`:
--   action_logs_daily_status    (day, action_type, status)   actions by type and status
--   action_logs_daily_users     (day, user_id, action_type)  user activity
--   action_logs_daily_durations (day, action_type, duration) the duration histogram, for
--                                                            exact p50/p95 (DECIMAL(10,3))
-- A NULL key is stored as '' with its *_null flag set, so that it is one key (NULLs are never
-- equal in a primary key); a NULL action_timestamp is the day '-infinity'.
--
-- They are kept by statement-level triggers reading the statement's transition tables: one
-- aggregated upsert per rollup per statement (a batch of the sink, a PostgREST POST, an UPDATE
-- or DELETE by hand), not one per row. Each trigger first takes a transaction-level advisory
-- lock, so that two writers never lock rollup rows in opposite orders (the INSERT and the
-- UPDATE trigger of one `INSERT … ON CONFLICT` statement run one after the other): concurrent
-- writers' rollup updates queue, and no deadlock can happen.
--
-- Created, filled from the rows already there, and armed in one statement (the DO block), with
-- the table locked against writers: the rollups either do not exist or are complete, which is
-- what a reader checks (`to_regclass('action_logs_daily_status')`). Running it again changes
-- nothing but the functions' text.

CREATE OR REPLACE FUNCTION action_logs_rollup() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src text;
BEGIN
    PERFORM pg_advisory_xact_lock(7265787, TG_RELID::int4);
    -- The rows this statement added (+1) and removed (-1): the transition tables.
    src := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT *, 1 AS d FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT *, -1 AS d FROM old_rows'
        ELSE 'SELECT *, 1 AS d FROM new_rows UNION ALL SELECT *, -1 AS d FROM old_rows'
    END;
    EXECUTE format(
        'INSERT INTO action_logs_daily_status AS r (day, action_type, status, status_null, n)
         SELECT COALESCE((action_timestamp AT TIME ZONE ''UTC'')::date, ''-infinity''),
                action_type, COALESCE(status, ''''), status IS NULL, SUM(d)
         FROM (%s) x GROUP BY 1, 2, 3, 4 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3, 4
         ON CONFLICT (day, action_type, status, status_null) DO UPDATE SET n = r.n + EXCLUDED.n', src);
    EXECUTE format(
        'INSERT INTO action_logs_daily_users AS r (day, user_id, user_null, action_type, n)
         SELECT COALESCE((action_timestamp AT TIME ZONE ''UTC'')::date, ''-infinity''),
                COALESCE(user_id, ''''), user_id IS NULL, action_type, SUM(d)
         FROM (%s) x GROUP BY 1, 2, 3, 4 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3, 4
         ON CONFLICT (day, user_id, user_null, action_type) DO UPDATE SET n = r.n + EXCLUDED.n', src);
    EXECUTE format(
        'INSERT INTO action_logs_daily_durations AS r (day, action_type, duration, n)
         SELECT COALESCE((action_timestamp AT TIME ZONE ''UTC'')::date, ''-infinity''),
                action_type, request_duration_seconds, SUM(d)
         FROM (%s) x WHERE request_duration_seconds IS NOT NULL
         GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
         ON CONFLICT (day, action_type, duration) DO UPDATE SET n = r.n + EXCLUDED.n', src);
    RETURN NULL;
END;
$fn$;

-- The rest of `stats`: the partial days at a range's ends by time, covering the rolled-up
-- columns (an index-only scan once autovacuum has marked the pages all-visible); the failed
-- actions newest first (a partial index, which only failed rows cost to keep); and the runs
-- by job and duration (covering the success rate and the duration histogram; runs are
-- written once each, so it costs little).
CREATE INDEX IF NOT EXISTS idx_action_logs_stats ON action_logs(action_timestamp)
    INCLUDE (action_type, status, user_id, request_duration_seconds);
CREATE INDEX IF NOT EXISTS idx_action_logs_failed ON action_logs(action_timestamp DESC, id DESC)
    WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS idx_job_executions_stats
    ON job_executions(job_id, duration_seconds, status, started_at);

-- TRUNCATE has no transition table: it empties the rollups with the table.
CREATE OR REPLACE FUNCTION action_logs_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE action_logs_daily_status, action_logs_daily_users, action_logs_daily_durations;
    RETURN NULL;
END;
$fn$;

DO $do$
BEGIN
    IF to_regclass('action_logs_daily_status') IS NOT NULL THEN
        RETURN;
    END IF;
    -- No writer may commit between the fill below and the triggers taking over.
    LOCK TABLE action_logs IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE action_logs_daily_status (
        day DATE NOT NULL,
        action_type VARCHAR(50) NOT NULL,
        status VARCHAR(20) NOT NULL,
        status_null BOOLEAN NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (day, action_type, status, status_null)
    );
    CREATE TABLE action_logs_daily_users (
        day DATE NOT NULL,
        user_id VARCHAR(255) NOT NULL,
        user_null BOOLEAN NOT NULL,
        action_type VARCHAR(50) NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (day, user_id, user_null, action_type)
    );
    CREATE TABLE action_logs_daily_durations (
        day DATE NOT NULL,
        action_type VARCHAR(50) NOT NULL,
        duration DECIMAL(10,3) NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (day, action_type, duration)
    );
    INSERT INTO action_logs_daily_status (day, action_type, status, status_null, n)
    SELECT COALESCE((action_timestamp AT TIME ZONE 'UTC')::date, '-infinity'),
           action_type, COALESCE(status, ''), status IS NULL, COUNT(*)
    FROM action_logs GROUP BY 1, 2, 3, 4;
    INSERT INTO action_logs_daily_users (day, user_id, user_null, action_type, n)
    SELECT COALESCE((action_timestamp AT TIME ZONE 'UTC')::date, '-infinity'),
           COALESCE(user_id, ''), user_id IS NULL, action_type, COUNT(*)
    FROM action_logs GROUP BY 1, 2, 3, 4;
    INSERT INTO action_logs_daily_durations (day, action_type, duration, n)
    SELECT COALESCE((action_timestamp AT TIME ZONE 'UTC')::date, '-infinity'),
           action_type, request_duration_seconds, COUNT(*)
    FROM action_logs WHERE request_duration_seconds IS NOT NULL GROUP BY 1, 2, 3;
    CREATE TRIGGER action_logs_rollup_insert AFTER INSERT ON action_logs
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_rollup();
    CREATE TRIGGER action_logs_rollup_update AFTER UPDATE ON action_logs
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_rollup();
    CREATE TRIGGER action_logs_rollup_delete AFTER DELETE ON action_logs
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_rollup();
    CREATE TRIGGER action_logs_rollup_truncate AFTER TRUNCATE ON action_logs
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_rollup_truncate();
END;
$do$;

-- `actionlog_stats` (of 0003_query.sql, for Supabase's REST API) over the rollups: the same
-- JSON, with the whole UTC days of the range read from the rollups and the partial days at
-- its ends from action_logs (what src/query/rollup.rs does). Replaces 0003's full-scan
-- version; running 0003 again brings that back, which gives the same numbers, slower.
CREATE OR REPLACE FUNCTION actionlog_stats(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE sql STABLE
AS $fn$
WITH b AS (
    SELECT d0, d1,
        -- Whole days exist unless the range lies within one day.
        (d0 IS NULL OR d1 IS NULL OR d0 < d1) AS any_days
    FROM (SELECT
        CASE WHEN since IS NULL THEN NULL
             WHEN (since AT TIME ZONE 'UTC')::time = '00:00' THEN (since AT TIME ZONE 'UTC')::date
             ELSE (since AT TIME ZONE 'UTC')::date + 1 END AS d0,
        (until AT TIME ZONE 'UTC')::date AS d1) x
),
edge AS (
    SELECT a.* FROM action_logs a, b
    WHERE CASE WHEN NOT b.any_days THEN a.action_timestamp >= since AND a.action_timestamp < until
        ELSE (since IS NOT NULL AND a.action_timestamp >= since
                AND a.action_timestamp < b.d0::timestamp AT TIME ZONE 'UTC')
          OR (until IS NOT NULL AND a.action_timestamp >= b.d1::timestamp AT TIME ZONE 'UTC'
                AND a.action_timestamp < until) END
),
days AS (
    SELECT b.* FROM b WHERE b.any_days
)
SELECT json_build_object(
    'actions_by_type_status', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT action_type, status, SUM(n)::int8 AS count FROM (
                SELECT r.action_type, CASE WHEN r.status_null THEN NULL ELSE r.status END AS status, r.n
                FROM action_logs_daily_status r, days
                WHERE r.n > 0 AND (days.d0 IS NULL OR r.day >= days.d0) AND (days.d1 IS NULL OR r.day < days.d1)
                  AND (since IS NOT NULL OR until IS NULL OR r.day <> '-infinity')
                UNION ALL
                SELECT action_type, status, COUNT(*) FROM edge GROUP BY action_type, status) x
            GROUP BY action_type, status HAVING SUM(n) > 0
            ORDER BY count DESC, action_type, status
            LIMIT 1000) t),
    'user_activity', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT user_id, SUM(n)::int8 AS action_count, COUNT(DISTINCT action_type) AS unique_actions FROM (
                SELECT CASE WHEN r.user_null THEN NULL ELSE r.user_id END AS user_id, r.action_type, r.n
                FROM action_logs_daily_users r, days
                WHERE r.n > 0 AND (days.d0 IS NULL OR r.day >= days.d0) AND (days.d1 IS NULL OR r.day < days.d1)
                  AND (since IS NOT NULL OR until IS NULL OR r.day <> '-infinity')
                UNION ALL
                SELECT user_id, action_type, COUNT(*) FROM edge GROUP BY user_id, action_type) x
            GROUP BY user_id
            ORDER BY action_count DESC, user_id
            LIMIT 1000) t),
    'failed_actions', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT id, action_timestamp, action_type, user_id, job_id, error_message
            FROM action_logs
            WHERE status = 'failed'
              AND (since IS NULL OR action_timestamp >= since) AND (until IS NULL OR action_timestamp < until)
            ORDER BY action_timestamp DESC, id DESC
            LIMIT 1000) t),
    'job_success_rate', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT job_id,
                COUNT(*) AS total,
                SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS successes,
                ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2)::float8 AS success_rate,
                (percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_seconds))::float8 AS p50_seconds,
                (percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_seconds))::float8 AS p95_seconds
            FROM job_executions
            WHERE (since IS NULL OR started_at >= since) AND (until IS NULL OR started_at < until)
            GROUP BY job_id
            ORDER BY job_id
            LIMIT 1000) t),
    'action_durations', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT action_type, SUM(c)::int8 AS timed,
                MIN(v::float8) FILTER (WHERE cum >= 0.5 * tot) AS p50_seconds,
                MIN(v::float8) FILTER (WHERE cum >= 0.95 * tot) AS p95_seconds
            FROM (SELECT action_type, v, c,
                    SUM(c) OVER (PARTITION BY action_type ORDER BY v) AS cum,
                    SUM(c) OVER (PARTITION BY action_type) AS tot
                FROM (SELECT action_type, v, SUM(n) AS c FROM (
                    SELECT r.action_type, r.duration AS v, r.n
                    FROM action_logs_daily_durations r, days
                    WHERE r.n > 0 AND (days.d0 IS NULL OR r.day >= days.d0) AND (days.d1 IS NULL OR r.day < days.d1)
                      AND (since IS NOT NULL OR until IS NULL OR r.day <> '-infinity')
                    UNION ALL
                    SELECT action_type, request_duration_seconds, COUNT(*) FROM edge
                    WHERE request_duration_seconds IS NOT NULL
                    GROUP BY action_type, request_duration_seconds) x
                  GROUP BY action_type, v) h) w
            GROUP BY action_type
            ORDER BY action_type
            LIMIT 1000) t)
);
$fn$;
