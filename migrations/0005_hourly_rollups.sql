-- actionlog: per-hour rollups of action_logs for the dashboard's overview, so that its status
-- histogram and its failures grouped by error message read a few thousand rollup rows instead
-- of every action of the range (1 M actions: seconds; over these, milliseconds). Needs 0001,
-- 0002 and 0004 (its indexes and advisory lock key).
--
-- Two tables, one row per UTC hour and key (an hour is a `timestamp` in UTC, truncated; a NULL
-- action_timestamp is the hour '-infinity'):
--   action_logs_hourly_status   (hour, action_type, status) with count `n`: the histogram's
--                               bars (hour, day and month buckets), a NULL status stored as ''
--                               with status_null set (NULLs are never equal in a primary key)
--   action_logs_hourly_failures (hour, error_message) of the failed actions, with count `n`,
--                               first_seen and last_seen; a NULL message as '' with error_null
-- Hours × types × statuses stay small (a week of 10 types and 3 statuses: 5 000 rows); the
-- users and durations stay per day (0004): per hour they would be as large as the table.
--
-- Kept by statement-level triggers over the transition tables, like 0004, under the same
-- advisory lock. Counts are adjusted by the rows a statement added and removed. first_seen and
-- last_seen cannot be "un-minimised": added rows widen them (LEAST / GREATEST), and an UPDATE
-- or DELETE recomputes them for every (hour, message) group it removed a row from, from
-- action_logs itself (one index range of failed rows per group, `idx_action_logs_failed` of
-- 0004), so they stay exact.
--
-- Created, filled and armed in one DO block with the table locked against writers: the rollups
-- either do not exist or are complete, which is what a reader checks
-- (`to_regclass('action_logs_hourly_status')`). Running it again changes nothing but the
-- functions' text.

CREATE OR REPLACE FUNCTION action_logs_hourly_rollup() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src text;
    groups text;
BEGIN
    -- 0004's key: the daily and hourly rollups of one table queue behind one lock.
    PERFORM pg_advisory_xact_lock(7265787, TG_RELID::int4);
    src := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT *, 1 AS d FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT *, -1 AS d FROM old_rows'
        ELSE 'SELECT *, 1 AS d FROM new_rows UNION ALL SELECT *, -1 AS d FROM old_rows'
    END;
    EXECUTE format(
        'INSERT INTO action_logs_hourly_status AS r (hour, action_type, status, status_null, n)
         SELECT COALESCE(date_trunc(''hour'', action_timestamp AT TIME ZONE ''UTC''), ''-infinity''),
                action_type, COALESCE(status, ''''), status IS NULL, SUM(d)
         FROM (%s) x GROUP BY 1, 2, 3, 4 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3, 4
         ON CONFLICT (hour, action_type, status, status_null) DO UPDATE SET n = r.n + EXCLUDED.n', src);
    -- Counts move by the rows added and removed, as above; first_seen / last_seen widen to the
    -- added rows' times (LEAST / GREATEST ignore NULLs, so an all-removed group keeps its own).
    EXECUTE format(
        'INSERT INTO action_logs_hourly_failures AS r (hour, error_message, error_null, n, first_seen, last_seen)
         SELECT COALESCE(date_trunc(''hour'', action_timestamp AT TIME ZONE ''UTC''), ''-infinity''),
                COALESCE(error_message, ''''), error_message IS NULL, SUM(d),
                MIN(action_timestamp) FILTER (WHERE d > 0), MAX(action_timestamp) FILTER (WHERE d > 0)
         FROM (%s) x WHERE status = ''failed'' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
         ON CONFLICT (hour, error_message, error_null) DO UPDATE SET n = r.n + EXCLUDED.n,
             first_seen = LEAST(r.first_seen, EXCLUDED.first_seen),
             last_seen = GREATEST(r.last_seen, EXCLUDED.last_seen)', src);
    IF TG_OP <> 'INSERT' THEN
        -- A removed row may have been its group's first or last: those groups' times are
        -- recomputed from the table as it is now (one index range of failed rows each), and
        -- emptied groups dropped. Both steps are idempotent, so it does not matter whether the
        -- INSERT trigger of the same `INSERT … ON CONFLICT` statement runs before or after.
        -- The '-infinity' hour's time range is empty: its rows are the NULL times.
        groups := 'SELECT DISTINCT COALESCE(date_trunc(''hour'', action_timestamp AT TIME ZONE ''UTC''), ''-infinity'') AS hour,
                    COALESCE(error_message, '''') AS error_message, error_message IS NULL AS error_null
             FROM old_rows WHERE status = ''failed''';
        EXECUTE format(
            'UPDATE action_logs_hourly_failures r SET first_seen = c.first_seen, last_seen = c.last_seen
             FROM (%s) g CROSS JOIN LATERAL (
                SELECT MIN(a.action_timestamp) AS first_seen, MAX(a.action_timestamp) AS last_seen
                FROM action_logs a
                WHERE a.status = ''failed''
                  AND a.error_message IS NOT DISTINCT FROM CASE WHEN g.error_null THEN NULL ELSE g.error_message END
                  AND ((a.action_timestamp >= g.hour AT TIME ZONE ''UTC''
                        AND a.action_timestamp < (g.hour + interval ''1 hour'') AT TIME ZONE ''UTC'')
                       OR (g.hour = ''-infinity'' AND a.action_timestamp IS NULL))) c
             WHERE r.hour = g.hour AND r.error_message = g.error_message AND r.error_null = g.error_null',
            groups);
        EXECUTE format(
            'DELETE FROM action_logs_hourly_failures r USING (%s) g
             WHERE r.hour = g.hour AND r.error_message = g.error_message AND r.error_null = g.error_null
               AND r.n <= 0', groups);
    END IF;
    RETURN NULL;
END;
$fn$;

-- TRUNCATE has no transition table: it empties the rollups with the table.
CREATE OR REPLACE FUNCTION action_logs_hourly_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE action_logs_hourly_status, action_logs_hourly_failures;
    RETURN NULL;
END;
$fn$;

DO $do$
BEGIN
    IF to_regclass('action_logs_hourly_status') IS NOT NULL THEN
        RETURN;
    END IF;
    -- No writer may commit between the fill below and the triggers taking over.
    LOCK TABLE action_logs IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE action_logs_hourly_status (
        hour TIMESTAMP NOT NULL,
        action_type VARCHAR(50) NOT NULL,
        status VARCHAR(20) NOT NULL,
        status_null BOOLEAN NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (hour, action_type, status, status_null)
    );
    CREATE TABLE action_logs_hourly_failures (
        hour TIMESTAMP NOT NULL,
        error_message TEXT NOT NULL,
        error_null BOOLEAN NOT NULL,
        n BIGINT NOT NULL,
        first_seen TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        PRIMARY KEY (hour, error_message, error_null)
    );
    INSERT INTO action_logs_hourly_status (hour, action_type, status, status_null, n)
    SELECT COALESCE(date_trunc('hour', action_timestamp AT TIME ZONE 'UTC'), '-infinity'),
           action_type, COALESCE(status, ''), status IS NULL, COUNT(*)
    FROM action_logs GROUP BY 1, 2, 3, 4;
    INSERT INTO action_logs_hourly_failures (hour, error_message, error_null, n, first_seen, last_seen)
    SELECT COALESCE(date_trunc('hour', action_timestamp AT TIME ZONE 'UTC'), '-infinity'),
           COALESCE(error_message, ''), error_message IS NULL, COUNT(*),
           MIN(action_timestamp), MAX(action_timestamp)
    FROM action_logs WHERE status = 'failed' GROUP BY 1, 2, 3;
    CREATE TRIGGER action_logs_hourly_insert AFTER INSERT ON action_logs
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_hourly_rollup();
    CREATE TRIGGER action_logs_hourly_update AFTER UPDATE ON action_logs
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_hourly_rollup();
    CREATE TRIGGER action_logs_hourly_delete AFTER DELETE ON action_logs
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_hourly_rollup();
    CREATE TRIGGER action_logs_hourly_truncate AFTER TRUNCATE ON action_logs
        FOR EACH STATEMENT EXECUTE FUNCTION action_logs_hourly_rollup_truncate();
END;
$do$;

-- The dashboard's two aggregates for Supabase's REST API (PostgREST has aggregates off by
-- default), STABLE so that PostgREST allows GET and runs them read-only, over the hourly
-- rollups as src/query/hourly.rs reads them: whole UTC hours from the rollups, the partial
-- hours at the range's ends from action_logs. Same columns and order as the dashboard computes
-- over PostgreSQL directly (src/query/dashboard.rs), for the time range only (no conditions):
--   GET /rest/v1/rpc/actionlog_histogram?since=…&until=…&bucket=hour
--   GET /rest/v1/rpc/actionlog_failure_groups?since=…&until=…
-- A bucket is 'second', '10 seconds', 'minute', '10 minutes', 'hour', 'day' or 'month'; the
-- ones shorter than an hour are counted from the range's rows.

-- The start of t's bucket (t a UTC timestamp), and the length of its name.
CREATE OR REPLACE FUNCTION actionlog_bucket_start(t timestamp, bucket text)
RETURNS timestamp LANGUAGE sql IMMUTABLE AS $fn$
SELECT CASE bucket
    WHEN 'second' THEN date_trunc('second', t)
    WHEN '10 seconds' THEN date_trunc('minute', t) + floor(extract(second FROM t) / 10) * interval '10 seconds'
    WHEN 'minute' THEN date_trunc('minute', t)
    WHEN '10 minutes' THEN date_trunc('hour', t) + floor(extract(minute FROM t) / 10) * interval '10 minutes'
    WHEN 'hour' THEN date_trunc('hour', t)
    WHEN 'day' THEN date_trunc('day', t)
    WHEN 'month' THEN date_trunc('month', t)
END;
$fn$;

CREATE OR REPLACE FUNCTION actionlog_histogram(since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL, bucket text DEFAULT 'hour')
RETURNS json LANGUAGE sql STABLE AS $fn$
WITH b AS (
    SELECT h0, h1, len,
        -- Whole hours exist for buckets of an hour or more, unless the range lies in one hour.
        bucket IN ('hour', 'day', 'month') AND (h0 IS NULL OR h1 IS NULL OR h0 < h1) AS any_hours
    FROM (SELECT
        CASE WHEN since IS NULL THEN NULL
             WHEN date_trunc('hour', since AT TIME ZONE 'UTC') = since AT TIME ZONE 'UTC'
                 THEN date_trunc('hour', since AT TIME ZONE 'UTC')
             ELSE date_trunc('hour', since AT TIME ZONE 'UTC') + interval '1 hour' END AS h0,
        date_trunc('hour', until AT TIME ZONE 'UTC') AS h1,
        CASE bucket WHEN 'second' THEN 19 WHEN '10 seconds' THEN 18 WHEN 'minute' THEN 16
            WHEN '10 minutes' THEN 15 WHEN 'hour' THEN 13 WHEN 'day' THEN 10 WHEN 'month' THEN 7 END AS len) x
),
edge AS (
    SELECT a.action_timestamp, a.status FROM action_logs a, b
    WHERE (NOT b.any_hours AND (since IS NULL OR a.action_timestamp >= since)
            AND (until IS NULL OR a.action_timestamp < until))
       OR (b.any_hours AND since IS NOT NULL AND a.action_timestamp >= since
            AND a.action_timestamp < b.h0 AT TIME ZONE 'UTC')
       OR (b.any_hours AND until IS NOT NULL AND a.action_timestamp >= b.h1 AT TIME ZONE 'UTC'
            AND a.action_timestamp < until)
),
h AS (
    SELECT k, status, SUM(n)::int8 AS count FROM (
        SELECT CASE WHEN r.hour = '-infinity' THEN NULL ELSE actionlog_bucket_start(r.hour, bucket) END AS k,
               CASE WHEN r.status_null THEN NULL ELSE r.status END AS status, r.n
        FROM action_logs_hourly_status r, b
        WHERE b.any_hours AND r.n > 0 AND (b.h0 IS NULL OR r.hour >= b.h0) AND (b.h1 IS NULL OR r.hour < b.h1)
          AND (since IS NOT NULL OR until IS NULL OR r.hour <> '-infinity')
        UNION ALL
        SELECT actionlog_bucket_start(action_timestamp AT TIME ZONE 'UTC', bucket), status, COUNT(*)
        FROM edge GROUP BY 1, 2) x
    GROUP BY k, status HAVING SUM(n) > 0
)
SELECT COALESCE(json_agg(t ORDER BY t.bucket, t.status), '[]') FROM (
    SELECT substr(to_char(h.k, 'YYYY-MM-DD"T"HH24:MI:SS'), 1, b.len) AS bucket, h.status, h.count
    FROM h, b ORDER BY 1, 2 LIMIT 10000) t;
$fn$;

CREATE OR REPLACE FUNCTION actionlog_failure_groups(since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL)
RETURNS json LANGUAGE sql STABLE AS $fn$
WITH b AS (
    SELECT h0, h1, (h0 IS NULL OR h1 IS NULL OR h0 < h1) AS any_hours
    FROM (SELECT
        CASE WHEN since IS NULL THEN NULL
             WHEN date_trunc('hour', since AT TIME ZONE 'UTC') = since AT TIME ZONE 'UTC'
                 THEN date_trunc('hour', since AT TIME ZONE 'UTC')
             ELSE date_trunc('hour', since AT TIME ZONE 'UTC') + interval '1 hour' END AS h0,
        date_trunc('hour', until AT TIME ZONE 'UTC') AS h1) x
),
edge AS (
    SELECT a.action_timestamp, a.error_message FROM action_logs a, b
    WHERE a.status = 'failed' AND (
          (NOT b.any_hours AND a.action_timestamp >= since AND a.action_timestamp < until)
       OR (b.any_hours AND since IS NOT NULL AND a.action_timestamp >= since
            AND a.action_timestamp < b.h0 AT TIME ZONE 'UTC')
       OR (b.any_hours AND until IS NOT NULL AND a.action_timestamp >= b.h1 AT TIME ZONE 'UTC'
            AND a.action_timestamp < until))
)
SELECT COALESCE(json_agg(t ORDER BY t.count DESC, t.error_message), '[]') FROM (
    SELECT error_message, SUM(n)::int8 AS count, MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen
    FROM (
        SELECT CASE WHEN r.error_null THEN NULL ELSE r.error_message END AS error_message,
               r.n, r.first_seen, r.last_seen
        FROM action_logs_hourly_failures r, b
        WHERE b.any_hours AND r.n > 0 AND (b.h0 IS NULL OR r.hour >= b.h0) AND (b.h1 IS NULL OR r.hour < b.h1)
          AND (since IS NOT NULL OR until IS NULL OR r.hour <> '-infinity')
        UNION ALL
        SELECT error_message, COUNT(*), MIN(action_timestamp), MAX(action_timestamp)
        FROM edge GROUP BY error_message) x
    GROUP BY error_message ORDER BY count DESC, error_message LIMIT 1000) t;
$fn$;
