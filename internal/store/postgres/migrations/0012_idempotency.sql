-- Idempotency keys (issue 12): the first answer of a request sent with an
-- Idempotency-Key header, per team, principal and key. status is 0 while
-- the first request is in progress. Entries live 24 hours; maintenance
-- deletes older ones.
CREATE TABLE idempotency_keys (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    principal   text NOT NULL,
    key         text NOT NULL,
    fingerprint bytea NOT NULL,
    status      integer NOT NULL DEFAULT 0,
    header      bytea,
    body        bytea,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (team_id, principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
