-- actionlog: W3C trace context on actions and job runs, so that a row can be opened in a trace
-- viewer and a trace can find its rows. Needs 0001 and 0002.
--
--   trace_id  32 lowercase hex digits (the trace's 16-byte id)
--   span_id   16 lowercase hex digits (the action's or the run's own span, 8 bytes)
--
-- Both NULL for rows written outside any trace, and for every row written before this
-- migration. Running it again changes nothing. A store without these columns keeps working:
-- the sinks write without the ids and the read side only refuses a `trace_id=` filter.

ALTER TABLE action_logs ADD COLUMN IF NOT EXISTS trace_id TEXT;
ALTER TABLE action_logs ADD COLUMN IF NOT EXISTS span_id TEXT;
ALTER TABLE job_executions ADD COLUMN IF NOT EXISTS trace_id TEXT;
ALTER TABLE job_executions ADD COLUMN IF NOT EXISTS span_id TEXT;

-- A trace's actions: the rows with an id only (most rows of an app without tracing have none).
CREATE INDEX IF NOT EXISTS idx_action_logs_trace_id ON action_logs(trace_id)
    WHERE trace_id IS NOT NULL;

-- 0001's rules before every update, with the ids: a record without them (an action's final
-- record made outside its trace, a writer that does not send them, PostgREST's
-- merge-duplicates setting every column it was given) keeps the stored ones, and an update
-- that changes nothing else is still skipped.
CREATE OR REPLACE FUNCTION action_logs_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IS NOT NULL AND OLD.status NOT IN ('initiated', 'in_progress')
       AND NEW.status IN ('initiated', 'in_progress') THEN
        RETURN NULL;
    END IF;
    IF NEW.trace_id IS NULL THEN
        NEW.trace_id := OLD.trace_id;
        NEW.span_id := OLD.span_id;
    END IF;
    IF (NEW.action_type, NEW.user_id, NEW.action_timestamp, NEW.action_details, NEW.job_id, NEW.job_execution_id, NEW.status, NEW.result_message, NEW.error_message, NEW.source, NEW.ip_address, NEW.user_agent, NEW.request_duration_seconds, NEW.trace_id, NEW.span_id)
       IS NOT DISTINCT FROM
       (OLD.action_type, OLD.user_id, OLD.action_timestamp, OLD.action_details, OLD.job_id, OLD.job_execution_id, OLD.status, OLD.result_message, OLD.error_message, OLD.source, OLD.ip_address, OLD.user_agent, OLD.request_duration_seconds, OLD.trace_id, OLD.span_id) THEN
        RETURN NULL;
    END IF;
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;
