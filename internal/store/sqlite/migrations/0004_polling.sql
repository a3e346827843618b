-- Polling: the schedule of each polling pipeline and the dedup keys of
-- polled records. The incremental state lives in pipelines.state, written
-- with each batch. Times are microseconds since the epoch.

CREATE TABLE poll_schedules (
    pipeline_id TEXT PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL,
    next_due    INTEGER NOT NULL,  -- the due time of the one pending poll job
    lease_due   INTEGER,           -- the due time of the poll running, if any
    lease_until INTEGER,           -- when that lease ends if the poll never finishes
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX poll_schedules_next_due_idx ON poll_schedules (next_due);

CREATE TABLE source_keys (
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL,
    key         BLOB NOT NULL,     -- truncated SHA-256 of the record's dedup key
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX source_keys_expires_idx ON source_keys (expires_at);
