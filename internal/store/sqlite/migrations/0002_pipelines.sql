-- Pipelines with their spec history, records, rejected records, runs and
-- team secrets.

CREATE TABLE pipelines (
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('polling', 'webhook', 'p2p')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'paused', 'failing')),
    version         INTEGER NOT NULL,
    spec            TEXT NOT NULL,
    hook_token      TEXT UNIQUE,
    state           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    record_count    INTEGER NOT NULL DEFAULT 0,
    rejected_count  INTEGER NOT NULL DEFAULT 0,
    stored_bytes    INTEGER NOT NULL DEFAULT 0,
    last_record_at  INTEGER,
    last_run_at     INTEGER,
    UNIQUE (team_id, name)
) STRICT;

CREATE TABLE pipeline_versions (
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, version)
) STRICT;

CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    team_id     TEXT NOT NULL,
    pipeline_id TEXT NOT NULL, -- no foreign key: a per-row check slows ingest; DeletePipeline removes records
    ts          INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT NOT NULL
) STRICT;
CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts DESC, id DESC);

CREATE TABLE rejected_records (
    id          INTEGER PRIMARY KEY,
    team_id     TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    run_id      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    raw         TEXT NOT NULL,
    reason      TEXT NOT NULL
) STRICT;
CREATE INDEX rejected_records_pipeline_idx ON rejected_records (pipeline_id, id DESC);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    fetched     INTEGER NOT NULL,
    stored      INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    error       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX runs_pipeline_idx ON runs (pipeline_id, started_at DESC, id DESC);

CREATE TABLE secrets (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (team_id, name)
) STRICT;
