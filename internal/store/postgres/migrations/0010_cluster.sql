-- Cluster membership (issue 14): each serve process registers itself and
-- renews its row with a heartbeat; rows whose heartbeat stopped expire.
-- load is the node's JSON load report (store.NodeLoad).
CREATE TABLE nodes (
    id           text PRIMARY KEY,
    version      text NOT NULL,
    address      text NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    draining     boolean NOT NULL DEFAULT false,
    load         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX nodes_heartbeat_idx ON nodes (heartbeat_at);
