-- Hardening (issue 11).

-- Webhook ingest tokens are kept as their SHA-256, like API tokens and
-- sessions: the token is 192 random bits, so a plain hash cannot be
-- reversed. The raw token is shown once, when the pipeline is created and
-- when its token is rotated. The first characters stay, so that a user can
-- tell which URL a pipeline has.
ALTER TABLE pipelines ADD COLUMN hook_token_hash bytea UNIQUE;
ALTER TABLE pipelines ADD COLUMN hook_token_prefix text;
UPDATE pipelines SET hook_token_hash = sha256(convert_to(hook_token, 'UTF8')),
    hook_token_prefix = left(hook_token, 4)
    WHERE hook_token IS NOT NULL;
ALTER TABLE pipelines DROP COLUMN hook_token;

-- The webhook-ids of signed requests a pipeline stored, for as long as a
-- replay of them could pass the signature's timestamp check. A batch
-- inserts its requests' ids in its own transaction, so an id is here if
-- and only if its records committed; the maintenance job deletes expired
-- ids. id_hash is the SHA-256 of the header value (bounded size).
CREATE TABLE webhook_ids (
    pipeline_id uuid NOT NULL,
    team_id     uuid NOT NULL,
    id_hash     bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, id_hash),
    FOREIGN KEY (pipeline_id, team_id) REFERENCES pipelines (id, team_id) ON DELETE CASCADE
);
CREATE INDEX webhook_ids_expires_idx ON webhook_ids (expires_at);

-- Deliveries not finished, for the reconciler that finds those whose job
-- ended without an outcome (a crash during their last attempt).
CREATE INDEX deliveries_open_idx ON deliveries (updated_at) WHERE status IN ('pending', 'retrying');

-- The id ranges of every persisted batch, so that a replay re-delivers
-- the batches as they were first delivered: one delivery per batch part
-- of up to 1000 records, with the same idempotency id (a function of the
-- part's record ids). ranges holds the first and last id of each run of
-- consecutive ids, flattened. Retention deletes the rows of expired
-- records; a replay of records stored before this migration delivers
-- them in pages, as before.
CREATE TABLE record_batches (
    pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id     uuid NOT NULL,
    first_id    bigint NOT NULL,
    last_id     bigint NOT NULL,
    ranges      bigint[] NOT NULL,
    records     integer NOT NULL,
    ts_from     timestamptz NOT NULL,
    ts_to       timestamptz NOT NULL,
    PRIMARY KEY (pipeline_id, first_id)
);
CREATE INDEX record_batches_ts_idx ON record_batches (pipeline_id, ts_to);
