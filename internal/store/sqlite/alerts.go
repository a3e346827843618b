package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Alerts = (*Store)(nil)

func fromNullUUID(v sql.NullString) uuid.UUID {
	if !v.Valid {
		return uuid.Nil
	}
	id, _ := uuid.Parse(v.String)
	return id
}

const alertRuleColumns = `id, team_id, name, pipeline_id, enabled, spec, last_tick, created_at, updated_at`

func scanAlertRule(r row) (store.AlertRule, error) {
	var (
		a                store.AlertRule
		pipe             sql.NullString
		spec             string
		tick             sql.NullInt64
		created, updated int64
	)
	err := r.Scan(&a.ID, &a.TeamID, &a.Name, &pipe, &a.Enabled, &spec, &tick, &created, &updated)
	a.PipelineID, a.Spec, a.LastTick = fromNullUUID(pipe), json.RawMessage(spec), fromNullMicros(tick)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, mapErr(err)
}

func collect[T any](rows *sql.Rows, err error, scan func(row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateAlertRule implements store.Alerts.
func (s *Store) CreateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if r.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, r.TeamID, r.PipelineID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_rules (id, team_id, name, pipeline_id, enabled, spec, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.TeamID, r.Name, nullUUID(r.PipelineID), r.Enabled, string(r.Spec),
			micros(r.CreatedAt), micros(r.CreatedAt))
		return mapErr(err)
	})
	if err != nil {
		return r, fmt.Errorf("create alert rule %q: %w", r.Name, err)
	}
	return s.AlertRule(ctx, r.TeamID, r.ID)
}

func ownPipeline(ctx context.Context, q dbtx, teamID, id uuid.UUID) error {
	var one int
	return mapErr(q.QueryRowContext(ctx, `SELECT 1 FROM pipelines WHERE team_id = ? AND id = ?`, teamID, id).Scan(&one))
}

// AlertRule implements store.Alerts.
func (s *Store) AlertRule(ctx context.Context, teamID, id uuid.UUID) (store.AlertRule, error) {
	return scanAlertRule(s.read.QueryRowContext(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE team_id = ? AND id = ?`, teamID, id))
}

// AlertRules implements store.Alerts.
func (s *Store) AlertRules(ctx context.Context, teamID uuid.UUID) ([]store.AlertRule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE team_id = ? ORDER BY name, id`, teamID)
	out, err := collect(rows, err, scanAlertRule)
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	return out, nil
}

// UpdateAlertRule implements store.Alerts.
func (s *Store) UpdateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if r.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, r.TeamID, r.PipelineID); err != nil {
				return err
			}
		}
		var old sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT pipeline_id FROM alert_rules WHERE team_id = ? AND id = ?`, r.TeamID, r.ID).Scan(&old); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alert_rules SET name = ?, pipeline_id = ?, enabled = ?, spec = ?, updated_at = ?
			WHERE team_id = ? AND id = ?`, r.Name, nullUUID(r.PipelineID), r.Enabled, string(r.Spec), micros(r.UpdatedAt), r.TeamID, r.ID); err != nil {
			return mapErr(err)
		}
		if fromNullUUID(old) != r.PipelineID || !r.Enabled {
			_, err := tx.ExecContext(ctx, `DELETE FROM alert_states WHERE rule_id = ?`, r.ID)
			return err
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("update alert rule %s: %w", r.ID, err)
	}
	return s.AlertRule(ctx, r.TeamID, r.ID)
}

// DeleteAlertRule implements store.Alerts.
func (s *Store) DeleteAlertRule(ctx context.Context, teamID, id uuid.UUID) error {
	return s.deleteTeamRow(ctx, "alert_rules", teamID, id)
}

func (s *Store) deleteTeamRow(ctx context.Context, table string, teamID, id uuid.UUID) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM `+table+` WHERE team_id = ? AND id = ?`, teamID, id)
	if err != nil {
		return fmt.Errorf("delete from %s: %w", table, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.ErrNotFound
	}
	return nil
}

const alertStateColumns = `rule_id, team_id, pipeline_id, state, since, value, firing_transition, notified_at, repeats`

func scanAlertState(r row) (store.AlertState, error) {
	var (
		a        store.AlertState
		since    int64
		firing   sql.NullString
		notified sql.NullInt64
	)
	err := r.Scan(&a.RuleID, &a.TeamID, &a.PipelineID, &a.State, &since, &a.Value, &firing, &notified, &a.Repeats)
	a.Since, a.FiringTransition, a.NotifiedAt = fromMicros(since), fromNullUUID(firing), fromNullMicros(notified)
	return a, mapErr(err)
}

// AlertStates implements store.Alerts.
func (s *Store) AlertStates(ctx context.Context, teamID, ruleID uuid.UUID) ([]store.AlertState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertStateColumns+` FROM alert_states
		WHERE team_id = ? AND (? IS NULL OR rule_id = ?) ORDER BY rule_id, pipeline_id`, teamID, nullUUID(ruleID), ruleID)
	out, err := collect(rows, err, scanAlertState)
	if err != nil {
		return nil, fmt.Errorf("list alert states: %w", err)
	}
	return out, nil
}

const alertTransitionColumns = `id, team_id, rule_id, rule_name, pipeline_id, pipeline_name, from_state, to_state, at, value, message, severity, silenced`

func scanAlertTransition(r row) (store.AlertTransition, error) {
	var (
		a  store.AlertTransition
		at int64
	)
	err := r.Scan(&a.ID, &a.TeamID, &a.RuleID, &a.RuleName, &a.PipelineID, &a.PipelineName, &a.From, &a.To, &at, &a.Value, &a.Message, &a.Severity, &a.Silenced)
	a.At = fromMicros(at)
	return a, mapErr(err)
}

// AlertTransitions implements store.Alerts.
func (s *Store) AlertTransitions(ctx context.Context, teamID, ruleID, before uuid.UUID, limit int) ([]store.AlertTransition, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertTransitionColumns+` FROM alert_transitions
		WHERE team_id = ? AND (? IS NULL OR rule_id = ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?`,
		teamID, nullUUID(ruleID), ruleID, nullUUID(before), before, limit)
	out, err := collect(rows, err, scanAlertTransition)
	if err != nil {
		return nil, fmt.Errorf("list alert transitions: %w", err)
	}
	return out, nil
}

// AlertTransition implements store.Alerts.
func (s *Store) AlertTransition(ctx context.Context, teamID, id uuid.UUID) (store.AlertTransition, error) {
	return scanAlertTransition(s.read.QueryRowContext(ctx, `SELECT `+alertTransitionColumns+` FROM alert_transitions WHERE team_id = ? AND id = ?`, teamID, id))
}

const alertChannelColumns = `id, team_id, name, kind, spec, status, last_error, last_sent, created_at, updated_at`

func scanAlertChannel(r row) (store.AlertChannel, error) {
	var (
		c                store.AlertChannel
		spec             string
		sent             sql.NullInt64
		created, updated int64
	)
	err := r.Scan(&c.ID, &c.TeamID, &c.Name, &c.Kind, &spec, &c.Status, &c.LastError, &sent, &created, &updated)
	c.Spec, c.LastSent, c.CreatedAt, c.UpdatedAt = json.RawMessage(spec), fromNullMicros(sent), fromMicros(created), fromMicros(updated)
	return c, mapErr(err)
}

// CreateAlertChannel implements store.Alerts.
func (s *Store) CreateAlertChannel(ctx context.Context, c store.AlertChannel) (store.AlertChannel, error) {
	_, err := s.write.ExecContext(ctx, `INSERT INTO alert_channels (id, team_id, name, kind, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TeamID, c.Name, c.Kind, string(c.Spec), micros(c.CreatedAt), micros(c.CreatedAt))
	if err != nil {
		return c, fmt.Errorf("create alert channel %q: %w", c.Name, mapErr(err))
	}
	return s.AlertChannel(ctx, c.TeamID, c.ID)
}

// AlertChannel implements store.Alerts.
func (s *Store) AlertChannel(ctx context.Context, teamID, id uuid.UUID) (store.AlertChannel, error) {
	return scanAlertChannel(s.read.QueryRowContext(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id = ? AND id = ?`, teamID, id))
}

// AlertChannels implements store.Alerts.
func (s *Store) AlertChannels(ctx context.Context, teamID uuid.UUID) ([]store.AlertChannel, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id = ? ORDER BY name, id`, teamID)
	out, err := collect(rows, err, scanAlertChannel)
	if err != nil {
		return nil, fmt.Errorf("list alert channels: %w", err)
	}
	return out, nil
}

// UpdateAlertChannel implements store.Alerts.
func (s *Store) UpdateAlertChannel(ctx context.Context, c store.AlertChannel) (store.AlertChannel, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE alert_channels SET name = ?, kind = ?, spec = ?, status = 'ok', last_error = '', updated_at = ?
		WHERE team_id = ? AND id = ?`, c.Name, c.Kind, string(c.Spec), micros(c.UpdatedAt), c.TeamID, c.ID)
	if err != nil {
		return c, fmt.Errorf("update alert channel %s: %w", c.ID, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return c, core.ErrNotFound
	}
	return s.AlertChannel(ctx, c.TeamID, c.ID)
}

// DeleteAlertChannel implements store.Alerts.
func (s *Store) DeleteAlertChannel(ctx context.Context, teamID, id uuid.UUID) error {
	return s.deleteTeamRow(ctx, "alert_channels", teamID, id)
}

// SetAlertChannelHealth implements store.Alerts.
func (s *Store) SetAlertChannelHealth(ctx context.Context, teamID, id uuid.UUID, at time.Time, errMsg string) error {
	var err error
	if errMsg == "" {
		_, err = s.write.ExecContext(ctx, `UPDATE alert_channels SET status = 'ok', last_error = '', last_sent = ? WHERE team_id = ? AND id = ?`, micros(at), teamID, id)
	} else {
		_, err = s.write.ExecContext(ctx, `UPDATE alert_channels SET status = 'failing', last_error = ? WHERE team_id = ? AND id = ?`, errMsg, teamID, id)
	}
	if err != nil {
		return fmt.Errorf("set alert channel health: %w", err)
	}
	return nil
}

const alertSilenceColumns = `id, team_id, rule_id, pipeline_id, until, reason, created_at`

func scanAlertSilence(r row) (store.AlertSilence, error) {
	var (
		a              store.AlertSilence
		rule, pipe     sql.NullString
		until, created int64
	)
	err := r.Scan(&a.ID, &a.TeamID, &rule, &pipe, &until, &a.Reason, &created)
	a.RuleID, a.PipelineID, a.Until, a.CreatedAt = fromNullUUID(rule), fromNullUUID(pipe), fromMicros(until), fromMicros(created)
	return a, mapErr(err)
}

// CreateAlertSilence implements store.Alerts.
func (s *Store) CreateAlertSilence(ctx context.Context, a store.AlertSilence) (store.AlertSilence, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if a.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, a.TeamID, a.PipelineID); err != nil {
				return err
			}
		}
		if a.RuleID != uuid.Nil {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM alert_rules WHERE team_id = ? AND id = ?`, a.TeamID, a.RuleID).Scan(&one); err != nil {
				return mapErr(err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_silences (id, team_id, rule_id, pipeline_id, until, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.TeamID, nullUUID(a.RuleID), nullUUID(a.PipelineID), micros(a.Until), a.Reason, micros(a.CreatedAt))
		return mapErr(err)
	})
	if err != nil {
		return a, fmt.Errorf("create alert silence: %w", err)
	}
	return a, nil
}

// AlertSilences implements store.Alerts.
func (s *Store) AlertSilences(ctx context.Context, teamID uuid.UUID) ([]store.AlertSilence, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertSilenceColumns+` FROM alert_silences WHERE team_id = ? ORDER BY until DESC, id`, teamID)
	out, err := collect(rows, err, scanAlertSilence)
	if err != nil {
		return nil, fmt.Errorf("list alert silences: %w", err)
	}
	return out, nil
}

// DeleteAlertSilence implements store.Alerts.
func (s *Store) DeleteAlertSilence(ctx context.Context, teamID, id uuid.UUID) error {
	return s.deleteTeamRow(ctx, "alert_silences", teamID, id)
}

// AddAlertNotification implements store.Alerts.
func (s *Store) AddAlertNotification(ctx context.Context, n store.AlertNotification) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO alert_notifications (id, team_id, transition_id, repeat, severity, title, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transition_id, repeat) DO NOTHING`,
		n.ID, n.TeamID, n.TransitionID, n.Repeat, n.Severity, n.Title, n.Body, micros(n.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("add alert notification: %w", err)
	}
	k, _ := res.RowsAffected()
	return k > 0, nil
}

// AlertNotifications implements store.Alerts.
func (s *Store) AlertNotifications(ctx context.Context, teamID uuid.UUID, unreadOnly bool, limit int) ([]store.AlertNotification, int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, team_id, transition_id, repeat, severity, title, body, created_at, read_at
		FROM alert_notifications WHERE team_id = ? AND (? = 0 OR read_at IS NULL) ORDER BY id DESC LIMIT ?`, teamID, unreadOnly, limit)
	out, err := collect(rows, err, func(r row) (store.AlertNotification, error) {
		var (
			n       store.AlertNotification
			created int64
			read    sql.NullInt64
		)
		err := r.Scan(&n.ID, &n.TeamID, &n.TransitionID, &n.Repeat, &n.Severity, &n.Title, &n.Body, &created, &read)
		n.CreatedAt, n.ReadAt = fromMicros(created), fromNullMicros(read)
		return n, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list alert notifications: %w", err)
	}
	var unread int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM alert_notifications WHERE team_id = ? AND read_at IS NULL`, teamID).Scan(&unread); err != nil {
		return nil, 0, fmt.Errorf("count unread alert notifications: %w", err)
	}
	return out, unread, nil
}

// MarkAlertNotificationsRead implements store.Alerts.
func (s *Store) MarkAlertNotificationsRead(ctx context.Context, teamID uuid.UUID, ids []uuid.UUID, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE alert_notifications SET read_at = ?
		WHERE team_id = ? AND read_at IS NULL AND (? = '[]' OR id IN (SELECT value FROM json_each(?)))`, micros(at), teamID, idList(ids), idList(ids))
	if err != nil {
		return fmt.Errorf("mark alert notifications read: %w", err)
	}
	return nil
}

// DueAlertRules implements store.Alerts.
func (s *Store) DueAlertRules(ctx context.Context, tick time.Time, after uuid.UUID, limit int) ([]store.AlertRule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules
		WHERE enabled AND (last_tick IS NULL OR last_tick < ?) AND id > ? ORDER BY id LIMIT ?`, micros(tick), after, limit)
	out, err := collect(rows, err, scanAlertRule)
	if err != nil {
		return nil, fmt.Errorf("list due alert rules: %w", err)
	}
	return out, nil
}

// AlertFacts implements store.Alerts.
func (s *Store) AlertFacts(ctx context.Context, teamIDs []uuid.UUID) ([]store.AlertPipelineFacts, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT p.team_id, p.id, p.name, p.status, p.created_at,
			(SELECT count(*) FROM sink_states ss WHERE ss.pipeline_id = p.id AND ss.status = 'failing')
			+ (SELECT count(DISTINCT d.sink) FROM deliveries d WHERE d.pipeline_id = p.id AND d.status = 'dead'),
			p.last_record_at
		FROM pipelines p WHERE p.team_id IN (SELECT value FROM json_each(?))`, idList(teamIDs))
	out, err := collect(rows, err, func(r row) (store.AlertPipelineFacts, error) {
		var (
			f       store.AlertPipelineFacts
			created int64
			last    sql.NullInt64
		)
		err := r.Scan(&f.TeamID, &f.ID, &f.Name, &f.Status, &created, &f.FailingSinks, &last)
		f.CreatedAt = fromMicros(created)
		if last.Valid {
			t := fromMicros(last.Int64)
			f.LastRecordAt = &t
		}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("read alert facts: %w", err)
	}
	return out, nil
}

// AlertRunCounts implements store.Alerts.
func (s *Store) AlertRunCounts(ctx context.Context, teamIDs, pipelineIDs []uuid.UUID, since time.Time) ([]store.AlertRunCounts, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT pipeline_id, sum(fetched), sum(stored), sum(rejected) FROM runs
		WHERE pipeline_id IN (SELECT value FROM json_each(?)) AND team_id IN (SELECT value FROM json_each(?)) AND started_at >= ?
		GROUP BY pipeline_id`, idList(pipelineIDs), idList(teamIDs), micros(since))
	out, err := collect(rows, err, func(r row) (store.AlertRunCounts, error) {
		var c store.AlertRunCounts
		return c, r.Scan(&c.PipelineID, &c.Fetched, &c.Stored, &c.Rejected)
	})
	if err != nil {
		return nil, fmt.Errorf("read alert run counts: %w", err)
	}
	return out, nil
}

// AlertAggregates implements store.Alerts.
func (s *Store) AlertAggregates(ctx context.Context, teamIDs, pipelineIDs []uuid.UUID, fields []string, since time.Time) ([]store.AlertAggregate, error) {
	fs, _ := json.Marshal(fields)
	// The last value is the last_val of the bucket with the newest
	// last_ts: a window function, since SQLite's bare columns beside
	// several min/max aggregates are not defined.
	rows, err := s.read.QueryContext(ctx, `SELECT pipeline_id, field, sum(count), sum(sum), min(min), max(max),
			max(CASE WHEN rn = 1 THEN last_val END)
		FROM (SELECT pipeline_id, field, count, sum, min, max, last_val,
				row_number() OVER (PARTITION BY pipeline_id, field ORDER BY last_ts DESC) AS rn
			FROM rollups WHERE width = 60 AND bucket >= ?
				AND pipeline_id IN (SELECT value FROM json_each(?)) AND team_id IN (SELECT value FROM json_each(?))
				AND field IN (SELECT value FROM json_each(?)))
		GROUP BY pipeline_id, field`, micros(since), idList(pipelineIDs), idList(teamIDs), string(fs))
	out, err := collect(rows, err, func(r row) (store.AlertAggregate, error) {
		var a store.AlertAggregate
		return a, r.Scan(&a.PipelineID, &a.Field, &a.Count, &a.Sum, &a.Min, &a.Max, &a.Last)
	})
	if err != nil {
		return nil, fmt.Errorf("read alert aggregates: %w", err)
	}
	return out, nil
}

// AlertStatesOf implements store.Alerts.
func (s *Store) AlertStatesOf(ctx context.Context, teamIDs, ruleIDs []uuid.UUID) ([]store.AlertState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertStateColumns+` FROM alert_states
		WHERE rule_id IN (SELECT value FROM json_each(?)) AND team_id IN (SELECT value FROM json_each(?))`, idList(ruleIDs), idList(teamIDs))
	out, err := collect(rows, err, scanAlertState)
	if err != nil {
		return nil, fmt.Errorf("read alert states: %w", err)
	}
	return out, nil
}

// ActiveAlertSilences implements store.Alerts.
func (s *Store) ActiveAlertSilences(ctx context.Context, teamIDs []uuid.UUID, now time.Time) ([]store.AlertSilence, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertSilenceColumns+` FROM alert_silences
		WHERE team_id IN (SELECT value FROM json_each(?)) AND until > ?`, idList(teamIDs), micros(now))
	out, err := collect(rows, err, scanAlertSilence)
	if err != nil {
		return nil, fmt.Errorf("read alert silences: %w", err)
	}
	return out, nil
}

// AlertChannelsOf implements store.Alerts.
func (s *Store) AlertChannelsOf(ctx context.Context, teamIDs []uuid.UUID) ([]store.AlertChannel, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id IN (SELECT value FROM json_each(?))`, idList(teamIDs))
	out, err := collect(rows, err, scanAlertChannel)
	if err != nil {
		return nil, fmt.Errorf("read alert channels: %w", err)
	}
	return out, nil
}

// ApplyAlertEvaluation implements store.Alerts: one transaction for all
// of evs (SQLite has one writer; one commit is cheaper than many).
func (s *Store) ApplyAlertEvaluation(ctx context.Context, tick time.Time, evs []store.AlertEvaluation) (int, error) {
	applied := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		applied = 0
		for _, ev := range evs {
			res, err := tx.ExecContext(ctx, `UPDATE alert_rules SET last_tick = ? WHERE team_id = ? AND id = ? AND (last_tick IS NULL OR last_tick < ?)`,
				micros(tick), ev.TeamID, ev.RuleID, micros(tick))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			applied++
			for _, st := range ev.States {
				if _, err := tx.ExecContext(ctx, `INSERT INTO alert_states (`+alertStateColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
					ON CONFLICT (rule_id, pipeline_id) DO UPDATE SET state = excluded.state, since = excluded.since, value = excluded.value,
						firing_transition = excluded.firing_transition, notified_at = excluded.notified_at, repeats = excluded.repeats`,
					st.RuleID, st.TeamID, st.PipelineID, st.State, micros(st.Since), st.Value, nullUUID(st.FiringTransition),
					nullMicros(st.NotifiedAt), st.Repeats); err != nil {
					return fmt.Errorf("write alert state: %w", err)
				}
			}
			for _, t := range ev.Transitions {
				if _, err := tx.ExecContext(ctx, `INSERT INTO alert_transitions (`+alertTransitionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					t.ID, t.TeamID, t.RuleID, t.RuleName, t.PipelineID, t.PipelineName, t.From, t.To, micros(t.At), t.Value, t.Message, t.Severity, t.Silenced); err != nil {
					return fmt.Errorf("write alert transition: %w", err)
				}
			}
			if len(ev.Jobs) > 0 {
				if _, err := s.inserter.InsertManyTx(ctx, tx, ev.Jobs); err != nil {
					return fmt.Errorf("enqueue notifications: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("apply alert evaluation: %w", err)
	}
	return applied, nil
}
