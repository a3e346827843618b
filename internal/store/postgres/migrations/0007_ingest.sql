-- Cheaper group commits (issue 10).
--
-- Record ids are handed out in blocks: one nextval reserves
-- records_id_seq's increment of ids, which the store caches in process
-- (see ids.go), so a batch takes its ids without a statement.
ALTER SEQUENCE records_id_seq INCREMENT BY 1024;

-- Insert-only deltas of pipelines' stats. A batch inserts one row here
-- instead of updating its pipeline's row, so concurrent batches of one
-- pipeline do not queue on that row; reads add the pending deltas to the
-- columns of pipelines, and the store folds them in now and then (in a
-- batch transaction every so many batches, and in CompactRollups).
--
-- Its foreign key names the team too: a batch whose team does not own its
-- pipeline fails on it, as the update of the pipeline's row used to.
ALTER TABLE pipelines ADD CONSTRAINT pipelines_id_team_key UNIQUE (id, team_id);

CREATE TABLE pipeline_stat_deltas (
    pipeline_id    uuid NOT NULL,
    team_id        uuid NOT NULL,
    records        bigint NOT NULL,
    rejected       bigint NOT NULL,
    bytes          bigint NOT NULL,
    last_record_at timestamptz,
    last_run_at    timestamptz NOT NULL,
    FOREIGN KEY (pipeline_id, team_id) REFERENCES pipelines (id, team_id) ON DELETE CASCADE
);
CREATE INDEX pipeline_stat_deltas_pipeline_idx ON pipeline_stat_deltas (pipeline_id);
