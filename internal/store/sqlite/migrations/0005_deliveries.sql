-- Sink deliveries, the state of sinks, and replays.

-- One row per delivery of a batch (or of a replay's chunk) to one sink,
-- written in the transaction that enqueues its River job. payload keeps
-- the job's arguments of a dead delivery, to retry it by hand.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL,
    pipeline_id     TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    run_id          TEXT,
    replay_id       TEXT,
    job_id          INTEGER,
    records         INTEGER NOT NULL,
    ts_from         INTEGER NOT NULL,
    ts_to           INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    duration_us     INTEGER NOT NULL DEFAULT 0,
    latency_us      INTEGER NOT NULL DEFAULT 0,
    payload         TEXT
) STRICT;
CREATE INDEX deliveries_sink_idx ON deliveries (pipeline_id, sink, id DESC);
CREATE INDEX deliveries_status_idx ON deliveries (pipeline_id, sink, status, id DESC);
CREATE INDEX deliveries_replay_idx ON deliveries (replay_id) WHERE replay_id IS NOT NULL;
CREATE INDEX deliveries_finished_idx ON deliveries (status, updated_at) WHERE status IN ('delivered', 'dead');

-- The health and counters of each sink of a pipeline, by sink name.
CREATE TABLE sink_states (
    pipeline_id          TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink                 TEXT NOT NULL,
    team_id              TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('active', 'failing', 'disabled')),
    reason               TEXT NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    delivered            INTEGER NOT NULL DEFAULT 0,
    records              INTEGER NOT NULL DEFAULT 0,
    failed               INTEGER NOT NULL DEFAULT 0,
    dead                 INTEGER NOT NULL DEFAULT 0,
    latency_total_us     INTEGER NOT NULL DEFAULT 0,
    last_success_at      INTEGER,
    last_failure_at      INTEGER,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, sink)
) STRICT;

-- Re-deliveries of the stored records of a time range to one sink. The
-- replay job walks the range newest first; cursor_ts and cursor_id are
-- the oldest record handed to a delivery so far.
CREATE TABLE sink_replays (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink        TEXT NOT NULL,
    ts_from     INTEGER NOT NULL,
    ts_to       INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    total       INTEGER NOT NULL DEFAULT 0,
    enqueued    INTEGER NOT NULL DEFAULT 0,
    cursor_ts   INTEGER,
    cursor_id   INTEGER,
    error       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;
CREATE INDEX sink_replays_sink_idx ON sink_replays (pipeline_id, sink, id DESC);
