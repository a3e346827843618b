-- Polling: the schedule of each polling pipeline and the dedup keys of
-- polled records. The incremental state lives in pipelines.state, written
-- with each batch.

CREATE TABLE poll_schedules (
    pipeline_id uuid PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     uuid NOT NULL,
    next_due    timestamptz NOT NULL,  -- the due time of the one pending poll job
    lease_due   timestamptz,           -- the due time of the poll running, if any
    lease_until timestamptz,           -- when that lease ends if the poll never finishes
    updated_at  timestamptz NOT NULL
);
CREATE INDEX poll_schedules_next_due_idx ON poll_schedules (next_due);

CREATE TABLE source_keys (
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     uuid NOT NULL,
    key         bytea NOT NULL,        -- truncated SHA-256 of the record's dedup key
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, key)
);
CREATE INDEX source_keys_expires_idx ON source_keys (expires_at);
