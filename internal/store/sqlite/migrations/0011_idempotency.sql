-- Idempotency keys (issue 12): the first answer of a request sent with an
-- Idempotency-Key header, per team, principal and key. status is 0 while
-- the first request is in progress. Entries live 24 hours; maintenance
-- deletes older ones. Times are microseconds since the epoch.
CREATE TABLE idempotency_keys (
    team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    principal   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,
    header      BLOB,
    body        BLOB,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, principal, key)
) STRICT;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
