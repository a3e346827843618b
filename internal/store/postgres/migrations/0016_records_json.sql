-- Records' data as json rather than jsonb: the server writes each record
-- as compact JSON with sorted keys (engine/encode.go) and PostgreSQL
-- returns it as written. Parsing into jsonb was a third of PostgreSQL's
-- CPU per ingested record (5.1 µs a row against 3.5 for json, COPY of
-- 200,000 indexed rows: go run ./bench/jsontype); json is also a fifth
-- smaller on disk, and reads return the same bytes as SQLite. Extracting
-- a field in SQL (series of raw records) costs about 0.45 µs a row
-- instead of 0.2.
--
-- Changing the type rewrites the table under an exclusive lock, so a
-- database that already holds records keeps jsonb (the store works with
-- both); docs/operations.md says how to convert one by hand. So does one
-- whose records table is a TimescaleDB hypertable (its compression, on
-- from 0003, forbids changing a column's type), and one where the lock is
-- not had within 5 s.
DO $$
DECLARE
    lock_timeout_was text := current_setting('lock_timeout');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM records LIMIT 1) THEN
        BEGIN
            PERFORM set_config('lock_timeout', '5s', true);
            ALTER TABLE records ALTER COLUMN data TYPE json USING data::json;
            PERFORM set_config('lock_timeout', lock_timeout_was, true);
        EXCEPTION WHEN OTHERS THEN
            -- The setting is undone with the failed block.
            RAISE NOTICE 'records.data stays jsonb (%)', SQLERRM;
        END;
    END IF;
END $$;
