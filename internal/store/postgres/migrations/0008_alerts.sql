-- Alerts: rules, their states per pipeline and history, notification
-- channels, silences and in-app notifications. See internal/store/alerts.go.

-- pipeline_id is NULL for a rule on every pipeline of the team.
-- last_tick is the evaluation tick the rule was last evaluated at; the
-- evaluation moves it forward in the transaction of its results.
CREATE TABLE alert_rules (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        text NOT NULL,
    pipeline_id uuid REFERENCES pipelines (id) ON DELETE CASCADE,
    enabled     boolean NOT NULL,
    spec        jsonb NOT NULL,
    last_tick   timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (team_id, name)
);
CREATE INDEX alert_rules_due_idx ON alert_rules (id) WHERE enabled;

CREATE TABLE alert_states (
    rule_id           uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    pipeline_id       uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    team_id           uuid NOT NULL,
    state             text NOT NULL CHECK (state IN ('ok', 'pending', 'firing', 'resolved')),
    since             timestamptz NOT NULL,
    value             double precision NOT NULL DEFAULT 0,
    firing_transition uuid,
    notified_at       timestamptz,
    repeats           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, pipeline_id)
);
CREATE INDEX alert_states_team_idx ON alert_states (team_id);

-- History. rule_name and pipeline_name are kept as they were, so the
-- history outlives renames and deletions.
CREATE TABLE alert_transitions (
    id            uuid PRIMARY KEY,
    team_id       uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    rule_id       uuid NOT NULL,
    rule_name     text NOT NULL,
    pipeline_id   uuid NOT NULL,
    pipeline_name text NOT NULL,
    from_state    text NOT NULL,
    to_state      text NOT NULL,
    at            timestamptz NOT NULL,
    value         double precision NOT NULL,
    message       text NOT NULL,
    severity      text NOT NULL,
    silenced      boolean NOT NULL
);
CREATE INDEX alert_transitions_team_idx ON alert_transitions (team_id, id DESC);
CREATE INDEX alert_transitions_rule_idx ON alert_transitions (rule_id, id DESC);

-- spec names the team secrets a channel uses, never holds them.
CREATE TABLE alert_channels (
    id         uuid PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       text NOT NULL,
    kind       text NOT NULL,
    spec       jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'failing')),
    last_error text NOT NULL DEFAULT '',
    last_sent  timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE alert_silences (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    rule_id     uuid REFERENCES alert_rules (id) ON DELETE CASCADE,
    pipeline_id uuid REFERENCES pipelines (id) ON DELETE CASCADE,
    until       timestamptz NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX alert_silences_team_idx ON alert_silences (team_id, until);

CREATE TABLE alert_notifications (
    id            uuid PRIMARY KEY,
    team_id       uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    transition_id uuid NOT NULL,
    repeat        integer NOT NULL,
    severity      text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL,
    read_at       timestamptz,
    UNIQUE (transition_id, repeat)
);
CREATE INDEX alert_notifications_team_idx ON alert_notifications (team_id, id DESC);
CREATE INDEX alert_notifications_unread_idx ON alert_notifications (team_id) WHERE read_at IS NULL;

-- Evaluation reads dead deliveries per pipeline.
CREATE INDEX deliveries_dead_idx ON deliveries (pipeline_id) WHERE status = 'dead';
