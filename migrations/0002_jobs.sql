-- actionlog: the job tables, job_executions and scheduled_jobs; the two views
-- scheduled_jobs_status and job_execution_summary; and the function that keeps scheduled_jobs current from
-- job_executions. Idempotent: safe to run by hand (psql -f) and on every start (migrate(true)).

CREATE TABLE IF NOT EXISTS job_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id VARCHAR(100) NOT NULL,
    status VARCHAR(20) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    duration_seconds DECIMAL(10,3),
    error_message TEXT,
    logs TEXT,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_job_executions_job_id ON job_executions(job_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_job_executions_started_at ON job_executions(started_at DESC);
CREATE INDEX IF NOT EXISTS idx_job_executions_status ON job_executions(status);

CREATE TABLE IF NOT EXISTS scheduled_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id VARCHAR(100) NOT NULL UNIQUE,
    job_name VARCHAR(255),
    job_function VARCHAR(255),
    schedule_type VARCHAR(20),
    schedule_value VARCHAR(100),
    enabled BOOLEAN NOT NULL DEFAULT true,
    last_successful_run TIMESTAMPTZ,
    last_attempted_run TIMESTAMPTZ,
    next_scheduled_run TIMESTAMPTZ,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    max_consecutive_failures INTEGER NOT NULL DEFAULT 3,
    auto_retry_on_startup BOOLEAN NOT NULL DEFAULT true,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE OR REPLACE FUNCTION scheduled_jobs_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER scheduled_jobs_updated_at
    BEFORE UPDATE ON scheduled_jobs
    FOR EACH ROW EXECUTE FUNCTION scheduled_jobs_set_updated_at();

-- Job definitions with their status (the job status summary) and the status of
-- their last execution.
CREATE OR REPLACE VIEW scheduled_jobs_status AS
SELECT
    s.job_id,
    s.job_name,
    s.schedule_type,
    s.schedule_value,
    s.enabled,
    CASE
        WHEN NOT s.enabled THEN 'disabled'
        WHEN s.consecutive_failures >= s.max_consecutive_failures THEN 'failed_max_retries'
        WHEN s.next_scheduled_run <= NOW() THEN 'overdue'
        ELSE 'scheduled'
    END AS job_status,
    s.last_successful_run,
    s.last_attempted_run,
    s.next_scheduled_run,
    s.consecutive_failures,
    s.max_consecutive_failures,
    e.status AS last_execution_status,
    e.started_at AS last_execution_started_at,
    e.error_message AS last_execution_error
FROM scheduled_jobs s
LEFT JOIN LATERAL (
    SELECT status, started_at, error_message
    FROM job_executions
    WHERE job_id = s.job_id
    ORDER BY started_at DESC
    LIMIT 1
) e ON true;

-- Per job: how many runs, how they ended, the success rate, the average duration, the last run.
CREATE OR REPLACE VIEW job_execution_summary AS
SELECT
    job_id,
    COUNT(*) AS total_executions,
    COUNT(*) FILTER (WHERE status = 'success') AS successful_executions,
    COUNT(*) FILTER (WHERE status = 'failed') AS failed_executions,
    COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled_executions,
    ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'success') / COUNT(*), 2) AS success_rate,
    ROUND(AVG(duration_seconds), 3) AS avg_duration_seconds,
    MAX(started_at) AS last_execution
FROM job_executions
GROUP BY job_id;

-- Keeps the scheduled_jobs rows of `job_ids` current from job_executions. Derived, never
-- incremented, so a replayed or retried write cannot count a run twice:
-- last_attempted_run / last_successful_run: the newest run / successful run;
-- consecutive_failures: failed runs since the last success;
-- next_scheduled_run: from the newest run that supplied one (metadata.next_scheduled_run).
-- Only jobs that have a scheduled_jobs row are touched.
CREATE OR REPLACE FUNCTION actionlog_refresh_scheduled_jobs(job_ids TEXT[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE scheduled_jobs s SET
        last_attempted_run = x.last_attempted,
        last_successful_run = x.last_success,
        consecutive_failures = x.failures,
        next_scheduled_run = COALESCE(x.next_run, s.next_scheduled_run)
    FROM (
        SELECT
            j.job_id,
            (SELECT MAX(started_at) FROM job_executions e WHERE e.job_id = j.job_id) AS last_attempted,
            ls.last_success,
            (SELECT COUNT(*) FROM job_executions e
              WHERE e.job_id = j.job_id AND e.status = 'failed'
                AND e.started_at > COALESCE(ls.last_success, '-infinity'::timestamptz)) AS failures,
            (SELECT (e.metadata->>'next_scheduled_run')::timestamptz FROM job_executions e
              WHERE e.job_id = j.job_id AND e.metadata ? 'next_scheduled_run'
              ORDER BY e.started_at DESC LIMIT 1) AS next_run
        FROM unnest(job_ids) AS j(job_id)
        CROSS JOIN LATERAL (
            SELECT MAX(started_at) AS last_success FROM job_executions e
            WHERE e.job_id = j.job_id AND e.status = 'success'
        ) ls
    ) x
    WHERE s.job_id = x.job_id
      AND x.last_attempted IS NOT NULL
      AND (s.last_attempted_run, s.last_successful_run, s.consecutive_failures, s.next_scheduled_run)
          IS DISTINCT FROM (x.last_attempted, x.last_success, x.failures::integer, COALESCE(x.next_run, s.next_scheduled_run));
$$;
