-- A big batch is written in slices, one transaction each, so that the one
-- writer takes turns between it and other teams' batches (batchwriter.go).
-- Until the transaction of its last slice commits, its records are
-- hidden: a pipeline with a row here shows only records with an id below
-- first_id (every read of records says so), and a process that died
-- while writing one deletes those records when its writer starts again.
-- One batch of a pipeline is staged at a time: a team's batches are
-- written in order.
CREATE TABLE staged_batches (
    pipeline_id TEXT PRIMARY KEY,
    first_id    INTEGER NOT NULL
) STRICT;
