-- Cluster membership (issue 14): each serve process registers itself and
-- renews its row with a heartbeat; rows whose heartbeat stopped expire.
-- load is the node's JSON load report (store.NodeLoad). Times are
-- microseconds since the epoch. (SQLite serves one node, which still
-- lists itself.)
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    address      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    draining     INTEGER NOT NULL DEFAULT 0,
    load         TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX nodes_heartbeat_idx ON nodes (heartbeat_at);
