-- Alerts: rules, their states per pipeline and history, notification
-- channels, silences and in-app notifications. See internal/store/alerts.go.

-- pipeline_id is NULL for a rule on every pipeline of the team.
-- last_tick is the evaluation tick the rule was last evaluated at; the
-- evaluation moves it forward in the transaction of its results.
CREATE TABLE alert_rules (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    pipeline_id TEXT REFERENCES pipelines (id) ON DELETE CASCADE,
    enabled     INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    last_tick   INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (team_id, name)
) STRICT;
CREATE INDEX alert_rules_due_idx ON alert_rules (id) WHERE enabled;

CREATE TABLE alert_states (
    rule_id           TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    pipeline_id       TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id           TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('ok', 'pending', 'firing', 'resolved')),
    since             INTEGER NOT NULL,
    value             REAL NOT NULL DEFAULT 0,
    firing_transition TEXT,
    notified_at       INTEGER,
    repeats           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, pipeline_id)
) STRICT;
CREATE INDEX alert_states_team_idx ON alert_states (team_id);

-- History. rule_name and pipeline_name are kept as they were, so the
-- history outlives renames and deletions.
CREATE TABLE alert_transitions (
    id            TEXT PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    rule_id       TEXT NOT NULL,
    rule_name     TEXT NOT NULL,
    pipeline_id   TEXT NOT NULL,
    pipeline_name TEXT NOT NULL,
    from_state    TEXT NOT NULL,
    to_state      TEXT NOT NULL,
    at            INTEGER NOT NULL,
    value         REAL NOT NULL,
    message       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    silenced      INTEGER NOT NULL
) STRICT;
CREATE INDEX alert_transitions_team_idx ON alert_transitions (team_id, id DESC);
CREATE INDEX alert_transitions_rule_idx ON alert_transitions (rule_id, id DESC);

-- spec names the team secrets a channel uses, never holds them.
CREATE TABLE alert_channels (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'failing')),
    last_error TEXT NOT NULL DEFAULT '',
    last_sent  INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (team_id, name)
) STRICT;

CREATE TABLE alert_silences (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    rule_id     TEXT REFERENCES alert_rules (id) ON DELETE CASCADE,
    pipeline_id TEXT REFERENCES pipelines (id) ON DELETE CASCADE,
    until       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX alert_silences_team_idx ON alert_silences (team_id, until);

CREATE TABLE alert_notifications (
    id            TEXT PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    transition_id TEXT NOT NULL,
    repeat        integer NOT NULL,
    severity      TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    read_at       INTEGER,
    UNIQUE (transition_id, repeat)
) STRICT;
CREATE INDEX alert_notifications_team_idx ON alert_notifications (team_id, id DESC);
CREATE INDEX alert_notifications_unread_idx ON alert_notifications (team_id) WHERE read_at IS NULL;

-- Evaluation reads dead deliveries per pipeline.
CREATE INDEX deliveries_dead_idx ON deliveries (pipeline_id) WHERE status = 'dead';
