-- Pipelines with their spec history, records, rejected records, runs and
-- team secrets.

CREATE TABLE pipelines (
    id              uuid PRIMARY KEY,
    team_id         uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('polling', 'webhook', 'p2p')),
    status          text NOT NULL CHECK (status IN ('active', 'paused', 'failing')),
    version         integer NOT NULL,
    spec            jsonb NOT NULL,
    hook_token      text UNIQUE,
    state           jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    record_count    bigint NOT NULL DEFAULT 0,
    rejected_count  bigint NOT NULL DEFAULT 0,
    stored_bytes    bigint NOT NULL DEFAULT 0,
    last_record_at  timestamptz,
    last_run_at     timestamptz,
    UNIQUE (team_id, name)
);

CREATE TABLE pipeline_versions (
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, version)
);

-- Records are created, partitioned by time, in 0003_storage.sql.

CREATE TABLE rejected_records (
    id          bigserial PRIMARY KEY,
    team_id     uuid NOT NULL,
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL,
    version     integer NOT NULL,
    received_at timestamptz NOT NULL,
    raw         jsonb NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX rejected_records_pipeline_idx ON rejected_records (pipeline_id, id DESC);

CREATE TABLE runs (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL,
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    trigger     text NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_us bigint NOT NULL,
    fetched     integer NOT NULL,
    stored      integer NOT NULL,
    rejected    integer NOT NULL,
    bytes       bigint NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX runs_pipeline_idx ON runs (pipeline_id, started_at DESC, id DESC);

CREATE TABLE secrets (
    id         uuid PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       text NOT NULL,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (team_id, name)
);
