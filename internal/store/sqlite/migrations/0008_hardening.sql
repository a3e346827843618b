-- Hardening (issue 11).

-- Webhook ingest tokens are kept as their SHA-256, like API tokens and
-- sessions. SQLite has no sha256(): Store.Migrate hashes the tokens of
-- existing pipelines in Go, in the transaction that applies this file, and
-- clears hook_token (kept, always NULL: SQLite cannot drop a UNIQUE
-- column).
ALTER TABLE pipelines ADD COLUMN hook_token_hash BLOB;
ALTER TABLE pipelines ADD COLUMN hook_token_prefix TEXT;
CREATE UNIQUE INDEX pipelines_hook_token_hash_idx ON pipelines (hook_token_hash);

-- The webhook-ids of signed requests a pipeline stored, for as long as a
-- replay of them could pass the signature's timestamp check; see the
-- PostgreSQL migration.
CREATE TABLE webhook_ids (
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL,
    id_hash     BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, id_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_ids_expires_idx ON webhook_ids (expires_at);

-- Deliveries not finished, for the reconciler that finds those whose job
-- ended without an outcome (a crash during their last attempt).
CREATE INDEX deliveries_open_idx ON deliveries (updated_at) WHERE status IN ('pending', 'retrying');

-- The id ranges of every persisted batch, for replays that re-deliver
-- batches as they were first delivered; see the PostgreSQL migration.
-- ranges is a JSON array of [first, last] pairs.
CREATE TABLE record_batches (
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL,
    first_id    INTEGER NOT NULL,
    last_id     INTEGER NOT NULL,
    ranges      TEXT NOT NULL,
    records     INTEGER NOT NULL,
    ts_from     INTEGER NOT NULL,
    ts_to       INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, first_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_batches_ts_idx ON record_batches (pipeline_id, ts_to);
