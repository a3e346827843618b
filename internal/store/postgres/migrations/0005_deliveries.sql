-- Sink deliveries, the state of sinks, and replays.

-- One row per delivery of a batch (or of a replay's chunk) to one sink,
-- written in the transaction that enqueues its River job. payload keeps
-- the job's arguments of a dead delivery, to retry it by hand.
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    team_id         uuid NOT NULL,
    pipeline_id     uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink            text NOT NULL,
    idempotency_key text NOT NULL,
    run_id          uuid,
    replay_id       uuid,
    job_id          bigint,
    records         integer NOT NULL,
    ts_from         timestamptz NOT NULL,
    ts_to           timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    duration_us     bigint NOT NULL DEFAULT 0,
    latency_us      bigint NOT NULL DEFAULT 0,
    payload         jsonb
);
CREATE INDEX deliveries_sink_idx ON deliveries (pipeline_id, sink, id DESC);
CREATE INDEX deliveries_status_idx ON deliveries (pipeline_id, sink, status, id DESC);
CREATE INDEX deliveries_replay_idx ON deliveries (replay_id) WHERE replay_id IS NOT NULL;
CREATE INDEX deliveries_finished_idx ON deliveries (status, updated_at) WHERE status IN ('delivered', 'dead');

-- The health and counters of each sink of a pipeline, by sink name.
CREATE TABLE sink_states (
    pipeline_id          uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink                 text NOT NULL,
    team_id              uuid NOT NULL,
    status               text NOT NULL CHECK (status IN ('active', 'failing', 'disabled')),
    reason               text NOT NULL DEFAULT '',
    consecutive_failures integer NOT NULL DEFAULT 0,
    delivered            bigint NOT NULL DEFAULT 0,
    records              bigint NOT NULL DEFAULT 0,
    failed               bigint NOT NULL DEFAULT 0,
    dead                 bigint NOT NULL DEFAULT 0,
    latency_total_us     bigint NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, sink)
);

-- Re-deliveries of the stored records of a time range to one sink. The
-- replay job walks the range newest first; cursor_ts and cursor_id are
-- the oldest record handed to a delivery so far.
CREATE TABLE sink_replays (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL,
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    sink        text NOT NULL,
    ts_from     timestamptz NOT NULL,
    ts_to       timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    total       bigint NOT NULL DEFAULT 0,
    enqueued    bigint NOT NULL DEFAULT 0,
    cursor_ts   timestamptz,
    cursor_id   bigint,
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX sink_replays_sink_idx ON sink_replays (pipeline_id, sink, id DESC);
