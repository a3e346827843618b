-- Time-series storage: per-day bookkeeping, rollups for charts and the
-- horizons of what is complete (see internal/store/storage.go). SQLite
-- keeps records in one table; retention deletes in batches.

-- What each pipeline stores per UTC day (day: micros of midnight UTC).
CREATE TABLE record_days (
    pipeline_id TEXT NOT NULL,
    day         INTEGER NOT NULL,
    team_id     TEXT NOT NULL,
    records     INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    oldest      INTEGER NOT NULL,
    newest      INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, day)
) STRICT, WITHOUT ROWID;

-- Rollups per pipeline, width (seconds), field and bucket (micros).
CREATE TABLE rollups (
    pipeline_id TEXT NOT NULL,
    width       INTEGER NOT NULL,
    field       TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    team_id     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL NOT NULL,
    min         REAL NOT NULL,
    max         REAL NOT NULL,
    first_ts    INTEGER NOT NULL,
    first_val   REAL NOT NULL,
    last_ts     INTEGER NOT NULL,
    last_val    REAL NOT NULL,
    PRIMARY KEY (pipeline_id, width, field, bucket)
) STRICT, WITHOUT ROWID;

-- Hourly deltas not yet folded into the 1h and 1d rollups.
CREATE TABLE rollup_pending (
    id          INTEGER PRIMARY KEY,
    pipeline_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    team_id     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL NOT NULL,
    min         REAL NOT NULL,
    max         REAL NOT NULL,
    first_ts    INTEGER NOT NULL,
    first_val   REAL NOT NULL,
    last_ts     INTEGER NOT NULL,
    last_val    REAL NOT NULL
) STRICT;
CREATE INDEX rollup_pending_idx ON rollup_pending (pipeline_id, field, bucket);

-- Per pipeline and level (width 0: raw records), the time (micros) before
-- which the level may be incomplete.
CREATE TABLE series_horizons (
    pipeline_id TEXT NOT NULL,
    width       INTEGER NOT NULL,
    horizon     INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, width)
) STRICT, WITHOUT ROWID;
