-- Dashboards: a team's named grids of widgets over its pipelines. The
-- document names pipelines by id; a pipeline deleted later leaves its
-- widgets in place, and reads report it missing.
CREATE TABLE dashboards (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (team_id, name)
) STRICT;
