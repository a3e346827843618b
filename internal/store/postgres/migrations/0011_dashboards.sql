-- Dashboards: a team's named grids of widgets over its pipelines. The
-- document names pipelines by id; a pipeline deleted later leaves its
-- widgets in place, and reads report it missing.
CREATE TABLE dashboards (
    id         uuid PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       text NOT NULL,
    version    integer NOT NULL,
    doc        jsonb NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (team_id, name)
);
