-- Batches no longer update rows that every batch of a pipeline shares.
-- Such a row (the pipeline's record_days row of the day, its minute
-- rollups, its push run) is locked by a batch until it commits, so two
-- batches of one pipeline could not commit together: the second waited at
-- the row for the first one's commit, and each paid an fsync of its own.
-- Batches now insert deltas; reads add the deltas not folded yet, and the
-- store folds them into the shared rows now and then (in a batch
-- transaction every so many batches of a pipeline, and in the compaction
-- job), as pipeline_stat_deltas (0007) already did for the counters.

-- Per-day summaries of committed batches not yet folded into record_days.
CREATE TABLE record_day_deltas (
    pipeline_id uuid NOT NULL,
    day         timestamptz NOT NULL,
    team_id     uuid NOT NULL,
    records     bigint NOT NULL,
    bytes       bigint NOT NULL,
    oldest      timestamptz NOT NULL,
    newest      timestamptz NOT NULL
);
CREATE INDEX record_day_deltas_idx ON record_day_deltas (pipeline_id, day);

-- record_days as reads see it: the folded rows plus the pending deltas.
CREATE VIEW record_days_now AS
    SELECT pipeline_id, day, (array_agg(team_id))[1] AS team_id,
        sum(records)::bigint AS records, sum(bytes)::bigint AS bytes,
        min(oldest) AS oldest, max(newest) AS newest
    FROM (
        SELECT pipeline_id, day, team_id, records, bytes, oldest, newest FROM record_days
        UNION ALL
        SELECT pipeline_id, day, team_id, records, bytes, oldest, newest FROM record_day_deltas
    ) u
    GROUP BY pipeline_id, day;

-- Minute deltas join the hourly ones: width 60 rows fold into the minute
-- rollups, width 3600 rows (all rows before this migration) into the hour
-- and day rollups.
ALTER TABLE rollup_pending ADD COLUMN width integer NOT NULL DEFAULT 3600;

-- What the batches of a push run (one run row shared by the batches of a
-- pipeline and trigger for an interval) add to it, not yet folded into
-- the row.
CREATE TABLE run_deltas (
    run_id      uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    version     integer NOT NULL,
    ended_at    timestamptz NOT NULL, -- the end of the batch's work
    fetched     integer NOT NULL,
    stored      integer NOT NULL,
    rejected    integer NOT NULL,
    bytes       bigint NOT NULL
);
CREATE INDEX run_deltas_run_idx ON run_deltas (run_id);
CREATE INDEX run_deltas_pipeline_idx ON run_deltas (pipeline_id);

-- runs as reads see them: each row plus its pending deltas.
CREATE VIEW runs_now AS
    SELECT r.id, r.team_id, r.pipeline_id,
        greatest(r.version, d.version) AS version, r.trigger, r.started_at,
        greatest(r.duration_us, (extract(epoch FROM d.ended_at - r.started_at) * 1000000)::bigint) AS duration_us,
        r.fetched + coalesce(d.fetched, 0) AS fetched,
        r.stored + coalesce(d.stored, 0) AS stored,
        r.rejected + coalesce(d.rejected, 0) AS rejected,
        r.bytes + coalesce(d.bytes, 0) AS bytes,
        r.error
    FROM runs r LEFT JOIN LATERAL (
        SELECT max(version) AS version, max(ended_at) AS ended_at,
            sum(fetched)::integer AS fetched, sum(stored)::integer AS stored,
            sum(rejected)::integer AS rejected, sum(bytes)::bigint AS bytes
        FROM run_deltas WHERE run_id = r.id
    ) d ON true;
