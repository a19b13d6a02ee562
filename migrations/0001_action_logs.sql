-- actionlog: the action_logs table, its five indexes, and updated_at kept by a trigger.
-- Idempotent: safe to run by hand (psql -f) and again on every start (Builder::migrate(true)).
-- The id default uses gen_random_uuid() (built into PostgreSQL 13+) rather than
-- uuid_generate_v4(), which needs the uuid-ossp extension; actionlog always supplies UUID v7 ids.

CREATE TABLE IF NOT EXISTS action_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    action_type VARCHAR(50) NOT NULL,
    user_id VARCHAR(255),
    action_timestamp TIMESTAMPTZ DEFAULT NOW(),
    action_details JSONB,
    job_id VARCHAR(100),
    job_execution_id UUID,
    status VARCHAR(20),
    result_message TEXT,
    error_message TEXT,
    source VARCHAR(50),
    ip_address VARCHAR(45),
    user_agent TEXT,
    request_duration_seconds DECIMAL(10,3),
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_action_logs_action_type ON action_logs(action_type);
CREATE INDEX IF NOT EXISTS idx_action_logs_user_id ON action_logs(user_id);
CREATE INDEX IF NOT EXISTS idx_action_logs_timestamp ON action_logs(action_timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_action_logs_job_id ON action_logs(job_id);
CREATE INDEX IF NOT EXISTS idx_action_logs_status ON action_logs(status);

-- Before every update: the rules that make writes idempotent, enforced by the database itself
-- so that writers whose upsert cannot express them (PostgREST's merge-duplicates) get them too.
-- 1. A late or replayed open status ('initiated', 'in_progress') never replaces a final one;
--    such an update is skipped (also when issued by hand).
-- 2. An update that changes nothing (a replayed record) is skipped: not even updated_at moves.
-- 3. Otherwise updated_at is set to NOW().
CREATE OR REPLACE FUNCTION action_logs_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IS NOT NULL AND OLD.status NOT IN ('initiated', 'in_progress')
       AND NEW.status IN ('initiated', 'in_progress') THEN
        RETURN NULL;
    END IF;
    IF (NEW.action_type, NEW.user_id, NEW.action_timestamp, NEW.action_details, NEW.job_id, NEW.job_execution_id, NEW.status, NEW.result_message, NEW.error_message, NEW.source, NEW.ip_address, NEW.user_agent, NEW.request_duration_seconds)
       IS NOT DISTINCT FROM
       (OLD.action_type, OLD.user_id, OLD.action_timestamp, OLD.action_details, OLD.job_id, OLD.job_execution_id, OLD.status, OLD.result_message, OLD.error_message, OLD.source, OLD.ip_address, OLD.user_agent, OLD.request_duration_seconds) THEN
        RETURN NULL;
    END IF;
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER action_logs_updated_at
    BEFORE UPDATE ON action_logs
    FOR EACH ROW EXECUTE FUNCTION action_logs_before_update();
