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
