-- The foreign keys of pipeline_stat_deltas and record_batches go. Every
-- group-committed batch inserts a row into each, and each row's check
-- ran a query and locked the pipeline's row (KEY SHARE): two checks and
-- a row lock per batch, a multixact when two batches of a pipeline
-- commit at once. Without them, concurrent single-record batches go 11%
-- faster (BenchmarkSubmit/postgres, docs/benchmarks.md).
--
-- What the keys guaranteed stays: a batch does not commit rows of a
-- pipeline that DeletePipeline removed. A batch takes a shared advisory
-- lock of its pipeline as its first statement, and its stats delta,
-- inserted in a later statement (so with a later snapshot), takes its
-- pipeline_id from the pipeline's row: NULL, which the column refuses,
-- when the pipeline is gone. DeletePipeline takes the lock exclusively
-- before it deletes, so it waits for batches in flight and deletes
-- their rows, and batches after it fail. DeletePipeline deletes the
-- record batches itself, as it did the stats deltas.
ALTER TABLE pipeline_stat_deltas DROP CONSTRAINT IF EXISTS pipeline_stat_deltas_pipeline_id_team_id_fkey;
ALTER TABLE record_batches DROP CONSTRAINT IF EXISTS record_batches_pipeline_id_fkey;
