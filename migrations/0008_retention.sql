-- actionlog: retention. Pruning old actions must not change the rollups (0004, 0005): their
-- DELETE triggers subtract what a statement removes, which would take the pruned past out of
-- `actionlog stats` and the dashboard. Needs 0001 and 0002; guards the rollups' triggers when
-- 0004 / 0005 have made them (run it after those; running it again changes nothing).
--
-- 1. The rollups' statement-level DELETE triggers skip a statement run while the transaction's
--    setting `actionlog.pruning` is 'on'. A prune sets it for each of its batch transactions
--    only (`SET LOCAL`, or set_config(…, true) as below), so every other DELETE — by hand, by
--    any other program — still adjusts the rollups. The trigger functions are unchanged: the
--    condition is the triggers' WHEN, which PostgreSQL checks before calling them (and before
--    their advisory lock: a prune's batch never queues behind writers' rollup updates).
--    A role that may DELETE could set it too; it can delete rows without it anyway.
--    Re-created only while unguarded, so running this again takes no lock on the table.
-- 2. `actionlog_prune(before, batch)`: one bounded batch of the prune for Supabase, whose REST
--    API cannot SET LOCAL: deletes at most `batch` actions older than `before` (oldest first)
--    with the setting on, in the caller's transaction (PostgREST makes one per call), and
--    returns how many. SECURITY INVOKER: the caller needs DELETE on the table (the
--    service-role key has it; the writer role of the README has not). It refuses to run while
--    a rollup trigger is unguarded (0004 or 0005 run again after this file on a store made by
--    them: run this file again).
-- 3. An index of the runs whose captured logs are still there, so trimming them (logs set to
--    NULL after their own age) reads only those, not every trimmed run kept since.

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('action_logs')
               AND tgname = 'action_logs_rollup_delete' AND tgqual IS NULL) THEN
        CREATE OR REPLACE TRIGGER action_logs_rollup_delete AFTER DELETE ON action_logs
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT
            WHEN (current_setting('actionlog.pruning', true) IS DISTINCT FROM 'on')
            EXECUTE FUNCTION action_logs_rollup();
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('action_logs')
               AND tgname = 'action_logs_hourly_delete' AND tgqual IS NULL) THEN
        CREATE OR REPLACE TRIGGER action_logs_hourly_delete AFTER DELETE ON action_logs
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT
            WHEN (current_setting('actionlog.pruning', true) IS DISTINCT FROM 'on')
            EXECUTE FUNCTION action_logs_hourly_rollup();
    END IF;
END;
$do$;

CREATE OR REPLACE FUNCTION actionlog_prune(before timestamptz, batch integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    n integer;
BEGIN
    IF before IS NULL OR batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'actionlog_prune: before must be a time and batch at least 1'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('action_logs')
               AND tgname IN ('action_logs_rollup_delete', 'action_logs_hourly_delete')
               AND tgqual IS NULL) THEN
        RAISE EXCEPTION 'action_logs: the rollups'' DELETE triggers would subtract the pruned rows; run migrations/0008_retention.sql'
            USING ERRCODE = '55000';
    END IF;
    PERFORM set_config('actionlog.pruning', 'on', true);
    -- The batch chosen once (MATERIALIZED: an IN (SELECT … LIMIT) may be rescanned per row
    -- and, its deleted rows no longer lockable, pick further ones each time). SKIP LOCKED: a
    -- row a writer is updating right now is left for the next batch or prune, so neither
    -- waits for the other.
    WITH b AS MATERIALIZED (
        SELECT id FROM action_logs WHERE action_timestamp < before
        ORDER BY action_timestamp LIMIT batch FOR UPDATE SKIP LOCKED)
    DELETE FROM action_logs a USING b WHERE a.id = b.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Whatever else the caller's transaction does counts again.
    PERFORM set_config('actionlog.pruning', 'off', true);
    RETURN n;
END;
$fn$;

CREATE INDEX IF NOT EXISTS idx_job_executions_logs ON job_executions(started_at)
    WHERE logs IS NOT NULL;
