-- actionlog: the signed digests of the tamper-evident trail. Each writer instance keeps a chain
-- of digests (seq 1, 2, 3 …) over the rows it wrote; a verifier reads them back beside the rows.
-- Independent of the other migrations. Idempotent: safe to run by hand (psql -f) and on every
-- start (migrate(true)).
--
--   writer   the writer instance whose chain this is
--   seq      1, 2, 3 … within the writer's chain
--   made_at  when the digest was made
--   kind     'rows' | 'idle' | 'close' | 'prune'
--   digest   the signed digest: one JSON line, byte for byte the digest file's line
--
-- A digest is written once: a retry inserts nothing (ON CONFLICT DO NOTHING), and a different
-- digest under a stored (writer, seq) is a fork, which the writer reports.

CREATE TABLE IF NOT EXISTS audit_digests (
    writer VARCHAR(100) NOT NULL,
    seq BIGINT NOT NULL,
    made_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR(10) NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (writer, seq)
);
CREATE INDEX IF NOT EXISTS idx_audit_digests_made_at ON audit_digests(made_at);

-- A digest line is long (65 KB for a write of 500 rows) and PostgreSQL's default compression,
-- pglz, took longer over it than the rest of the digest's step (1.7 ms a line where lz4 takes
-- 0.7 ms, sent from a client, PostgreSQL 15): lz4 where the server has it (14 and later, built
-- with it), else the line is kept as it is. Only where it is still pglz, so running this again
-- changes nothing; either way the text is the same byte for byte.
DO $$
BEGIN
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = 'audit_digests'::regclass AND attname = 'digest'
              AND attcompression = 'l'
        ) THEN
            EXECUTE 'ALTER TABLE audit_digests ALTER COLUMN digest SET COMPRESSION lz4';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = 'audit_digests'::regclass AND attname = 'digest'
              AND attstorage = 'e'
        ) THEN
            EXECUTE 'ALTER TABLE audit_digests ALTER COLUMN digest SET STORAGE EXTERNAL';
        END IF;
    END;
END $$;
