-- actionlog: the read side's aggregates for Supabase. PostgREST has aggregate functions off by
-- default, so `actionlog stats` over the REST API calls this one function instead:
--   GET /rest/v1/rpc/actionlog_stats?since=2026-11-03T00:00:00Z&until=…
-- It is STABLE, so PostgREST runs it in a read-only transaction and allows GET. It returns one
-- JSON object with the same sections, columns and order as `actionlog stats` computes over
-- PostgreSQL directly (src/query/sql.rs): each section at most 1000 rows. Needs 0001 and 0002.
-- Idempotent: safe to run again.

CREATE OR REPLACE FUNCTION actionlog_stats(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE sql STABLE
AS $$
SELECT json_build_object(
    'actions_by_type_status', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT action_type, status, COUNT(*) AS count
            FROM action_logs
            WHERE (since IS NULL OR action_timestamp >= since) AND (until IS NULL OR action_timestamp < until)
            GROUP BY action_type, status
            ORDER BY count DESC, action_type, status
            LIMIT 1000) t),
    'user_activity', (
        SELECT COALESCE(json_agg(t), '[]') FROM (
            SELECT user_id, COUNT(*) AS action_count, COUNT(DISTINCT action_type) AS unique_actions
            FROM action_logs
            WHERE (since IS NULL OR action_timestamp >= since) AND (until IS NULL OR action_timestamp < until)
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
            SELECT action_type,
                COUNT(request_duration_seconds) AS timed,
                (percentile_disc(0.5) WITHIN GROUP (ORDER BY request_duration_seconds))::float8 AS p50_seconds,
                (percentile_disc(0.95) WITHIN GROUP (ORDER BY request_duration_seconds))::float8 AS p95_seconds
            FROM action_logs
            WHERE request_duration_seconds IS NOT NULL
              AND (since IS NULL OR action_timestamp >= since) AND (until IS NULL OR action_timestamp < until)
            GROUP BY action_type
            ORDER BY action_type
            LIMIT 1000) t)
);
$$;
