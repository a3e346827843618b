package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Alerts = (*Store)(nil)

// nullID is a nullable uuid parameter.
func nullID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func orNil(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

func collectAll[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

const alertRuleColumns = `id, team_id, name, pipeline_id, enabled, spec, last_tick, created_at, updated_at`

func scanAlertRule(r pgx.Row) (store.AlertRule, error) {
	var (
		a    store.AlertRule
		pipe *uuid.UUID
		spec []byte
	)
	err := r.Scan(&a.ID, &a.TeamID, &a.Name, &pipe, &a.Enabled, &spec, &a.LastTick, &a.CreatedAt, &a.UpdatedAt)
	a.PipelineID, a.Spec = orNil(pipe), json.RawMessage(spec)
	utcPtr(a.LastTick)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, mapErr(err)
}

func ownPipeline(ctx context.Context, tx pgx.Tx, teamID, id uuid.UUID) error {
	var one int
	return mapErr(tx.QueryRow(ctx, `SELECT 1 FROM pipelines WHERE team_id = $1 AND id = $2`, teamID, id).Scan(&one))
}

// CreateAlertRule implements store.Alerts.
func (s *Store) CreateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if r.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, r.TeamID, r.PipelineID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO alert_rules (id, team_id, name, pipeline_id, enabled, spec, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, r.ID, r.TeamID, r.Name, nullID(r.PipelineID), r.Enabled, []byte(r.Spec), r.CreatedAt)
		return mapErr(err)
	})
	if err != nil {
		return r, fmt.Errorf("create alert rule %q: %w", r.Name, err)
	}
	return s.AlertRule(ctx, r.TeamID, r.ID)
}

// AlertRule implements store.Alerts.
func (s *Store) AlertRule(ctx context.Context, teamID, id uuid.UUID) (store.AlertRule, error) {
	return scanAlertRule(s.pool.QueryRow(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE team_id = $1 AND id = $2`, teamID, id))
}

// AlertRules implements store.Alerts.
func (s *Store) AlertRules(ctx context.Context, teamID uuid.UUID) ([]store.AlertRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules WHERE team_id = $1 ORDER BY name, id`, teamID)
	out, err := collectAll(rows, err, scanAlertRule)
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	return out, nil
}

// UpdateAlertRule implements store.Alerts.
func (s *Store) UpdateAlertRule(ctx context.Context, r store.AlertRule) (store.AlertRule, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if r.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, r.TeamID, r.PipelineID); err != nil {
				return err
			}
		}
		var old *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT pipeline_id FROM alert_rules WHERE team_id = $1 AND id = $2 FOR UPDATE`, r.TeamID, r.ID).Scan(&old); err != nil {
			return mapErr(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE alert_rules SET name = $3, pipeline_id = $4, enabled = $5, spec = $6, updated_at = $7
			WHERE team_id = $1 AND id = $2`, r.TeamID, r.ID, r.Name, nullID(r.PipelineID), r.Enabled, []byte(r.Spec), r.UpdatedAt); err != nil {
			return mapErr(err)
		}
		if orNil(old) != r.PipelineID || !r.Enabled {
			_, err := tx.Exec(ctx, `DELETE FROM alert_states WHERE rule_id = $1`, r.ID)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE team_id = $1 AND id = $2`, teamID, id)
	if err != nil {
		return fmt.Errorf("delete from %s: %w", table, err)
	}
	if tag.RowsAffected() == 0 {
		return core.ErrNotFound
	}
	return nil
}

const alertStateColumns = `rule_id, team_id, pipeline_id, state, since, value, firing_transition, notified_at, repeats`

func scanAlertState(r pgx.Row) (store.AlertState, error) {
	var (
		a      store.AlertState
		firing *uuid.UUID
	)
	err := r.Scan(&a.RuleID, &a.TeamID, &a.PipelineID, &a.State, &a.Since, &a.Value, &firing, &a.NotifiedAt, &a.Repeats)
	a.Since, a.FiringTransition = a.Since.UTC(), orNil(firing)
	utcPtr(a.NotifiedAt)
	return a, mapErr(err)
}

// AlertStates implements store.Alerts.
func (s *Store) AlertStates(ctx context.Context, teamID, ruleID uuid.UUID) ([]store.AlertState, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertStateColumns+` FROM alert_states
		WHERE team_id = $1 AND ($2::uuid IS NULL OR rule_id = $2) ORDER BY rule_id, pipeline_id`, teamID, nullID(ruleID))
	out, err := collectAll(rows, err, scanAlertState)
	if err != nil {
		return nil, fmt.Errorf("list alert states: %w", err)
	}
	return out, nil
}

const alertTransitionColumns = `id, team_id, rule_id, rule_name, pipeline_id, pipeline_name, from_state, to_state, at, value, message, severity, silenced`

func scanAlertTransition(r pgx.Row) (store.AlertTransition, error) {
	var a store.AlertTransition
	err := r.Scan(&a.ID, &a.TeamID, &a.RuleID, &a.RuleName, &a.PipelineID, &a.PipelineName, &a.From, &a.To, &a.At, &a.Value, &a.Message, &a.Severity, &a.Silenced)
	a.At = a.At.UTC()
	return a, mapErr(err)
}

// AlertTransitions implements store.Alerts.
func (s *Store) AlertTransitions(ctx context.Context, teamID, ruleID, before uuid.UUID, limit int) ([]store.AlertTransition, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertTransitionColumns+` FROM alert_transitions
		WHERE team_id = $1 AND ($2::uuid IS NULL OR rule_id = $2) AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4`,
		teamID, nullID(ruleID), nullID(before), limit)
	out, err := collectAll(rows, err, scanAlertTransition)
	if err != nil {
		return nil, fmt.Errorf("list alert transitions: %w", err)
	}
	return out, nil
}

// AlertTransition implements store.Alerts.
func (s *Store) AlertTransition(ctx context.Context, teamID, id uuid.UUID) (store.AlertTransition, error) {
	return scanAlertTransition(s.pool.QueryRow(ctx, `SELECT `+alertTransitionColumns+` FROM alert_transitions WHERE team_id = $1 AND id = $2`, teamID, id))
}

const alertChannelColumns = `id, team_id, name, kind, spec, status, last_error, last_sent, created_at, updated_at`

func scanAlertChannel(r pgx.Row) (store.AlertChannel, error) {
	var (
		c    store.AlertChannel
		spec []byte
	)
	err := r.Scan(&c.ID, &c.TeamID, &c.Name, &c.Kind, &spec, &c.Status, &c.LastError, &c.LastSent, &c.CreatedAt, &c.UpdatedAt)
	c.Spec, c.CreatedAt, c.UpdatedAt = json.RawMessage(spec), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	utcPtr(c.LastSent)
	return c, mapErr(err)
}

// CreateAlertChannel implements store.Alerts.
func (s *Store) CreateAlertChannel(ctx context.Context, c store.AlertChannel) (store.AlertChannel, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO alert_channels (id, team_id, name, kind, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		c.ID, c.TeamID, c.Name, c.Kind, []byte(c.Spec), c.CreatedAt)
	if err != nil {
		return c, fmt.Errorf("create alert channel %q: %w", c.Name, mapErr(err))
	}
	return s.AlertChannel(ctx, c.TeamID, c.ID)
}

// AlertChannel implements store.Alerts.
func (s *Store) AlertChannel(ctx context.Context, teamID, id uuid.UUID) (store.AlertChannel, error) {
	return scanAlertChannel(s.pool.QueryRow(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id = $1 AND id = $2`, teamID, id))
}

// AlertChannels implements store.Alerts.
func (s *Store) AlertChannels(ctx context.Context, teamID uuid.UUID) ([]store.AlertChannel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id = $1 ORDER BY name, id`, teamID)
	out, err := collectAll(rows, err, scanAlertChannel)
	if err != nil {
		return nil, fmt.Errorf("list alert channels: %w", err)
	}
	return out, nil
}

// UpdateAlertChannel implements store.Alerts.
func (s *Store) UpdateAlertChannel(ctx context.Context, c store.AlertChannel) (store.AlertChannel, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE alert_channels SET name = $3, kind = $4, spec = $5, status = 'ok', last_error = '', updated_at = $6
		WHERE team_id = $1 AND id = $2`, c.TeamID, c.ID, c.Name, c.Kind, []byte(c.Spec), c.UpdatedAt)
	if err != nil {
		return c, fmt.Errorf("update alert channel %s: %w", c.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
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
		_, err = s.pool.Exec(ctx, `UPDATE alert_channels SET status = 'ok', last_error = '', last_sent = $3 WHERE team_id = $1 AND id = $2`, teamID, id, at)
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE alert_channels SET status = 'failing', last_error = $3 WHERE team_id = $1 AND id = $2`, teamID, id, errMsg)
	}
	if err != nil {
		return fmt.Errorf("set alert channel health: %w", err)
	}
	return nil
}

const alertSilenceColumns = `id, team_id, rule_id, pipeline_id, until, reason, created_at`

func scanAlertSilence(r pgx.Row) (store.AlertSilence, error) {
	var (
		a          store.AlertSilence
		rule, pipe *uuid.UUID
	)
	err := r.Scan(&a.ID, &a.TeamID, &rule, &pipe, &a.Until, &a.Reason, &a.CreatedAt)
	a.RuleID, a.PipelineID, a.Until, a.CreatedAt = orNil(rule), orNil(pipe), a.Until.UTC(), a.CreatedAt.UTC()
	return a, mapErr(err)
}

// CreateAlertSilence implements store.Alerts.
func (s *Store) CreateAlertSilence(ctx context.Context, a store.AlertSilence) (store.AlertSilence, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if a.PipelineID != uuid.Nil {
			if err := ownPipeline(ctx, tx, a.TeamID, a.PipelineID); err != nil {
				return err
			}
		}
		if a.RuleID != uuid.Nil {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM alert_rules WHERE team_id = $1 AND id = $2`, a.TeamID, a.RuleID).Scan(&one); err != nil {
				return mapErr(err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO alert_silences (id, team_id, rule_id, pipeline_id, until, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			a.ID, a.TeamID, nullID(a.RuleID), nullID(a.PipelineID), a.Until, a.Reason, a.CreatedAt)
		return mapErr(err)
	})
	if err != nil {
		return a, fmt.Errorf("create alert silence: %w", err)
	}
	return a, nil
}

// AlertSilences implements store.Alerts.
func (s *Store) AlertSilences(ctx context.Context, teamID uuid.UUID) ([]store.AlertSilence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertSilenceColumns+` FROM alert_silences WHERE team_id = $1 ORDER BY until DESC, id`, teamID)
	out, err := collectAll(rows, err, scanAlertSilence)
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
	tag, err := s.pool.Exec(ctx, `INSERT INTO alert_notifications (id, team_id, transition_id, repeat, severity, title, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (transition_id, repeat) DO NOTHING`,
		n.ID, n.TeamID, n.TransitionID, n.Repeat, n.Severity, n.Title, n.Body, n.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("add alert notification: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// AlertNotifications implements store.Alerts.
func (s *Store) AlertNotifications(ctx context.Context, teamID uuid.UUID, unreadOnly bool, limit int) ([]store.AlertNotification, int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, team_id, transition_id, repeat, severity, title, body, created_at, read_at
		FROM alert_notifications WHERE team_id = $1 AND (NOT $2 OR read_at IS NULL) ORDER BY id DESC LIMIT $3`, teamID, unreadOnly, limit)
	out, err := collectAll(rows, err, func(r pgx.Row) (store.AlertNotification, error) {
		var n store.AlertNotification
		err := r.Scan(&n.ID, &n.TeamID, &n.TransitionID, &n.Repeat, &n.Severity, &n.Title, &n.Body, &n.CreatedAt, &n.ReadAt)
		n.CreatedAt = n.CreatedAt.UTC()
		utcPtr(n.ReadAt)
		return n, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list alert notifications: %w", err)
	}
	var unread int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM alert_notifications WHERE team_id = $1 AND read_at IS NULL`, teamID).Scan(&unread); err != nil {
		return nil, 0, fmt.Errorf("count unread alert notifications: %w", err)
	}
	return out, unread, nil
}

// MarkAlertNotificationsRead implements store.Alerts.
func (s *Store) MarkAlertNotificationsRead(ctx context.Context, teamID uuid.UUID, ids []uuid.UUID, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE alert_notifications SET read_at = $2
		WHERE team_id = $1 AND read_at IS NULL AND (coalesce(cardinality($3::uuid[]), 0) = 0 OR id = ANY($3::uuid[]))`, teamID, at, ids)
	if err != nil {
		return fmt.Errorf("mark alert notifications read: %w", err)
	}
	return nil
}

// DueAlertRules implements store.Alerts.
func (s *Store) DueAlertRules(ctx context.Context, tick time.Time, after uuid.UUID, limit int) ([]store.AlertRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertRuleColumns+` FROM alert_rules
		WHERE enabled AND (last_tick IS NULL OR last_tick < $1) AND id > $2 ORDER BY id LIMIT $3`, tick, after, limit)
	out, err := collectAll(rows, err, scanAlertRule)
	if err != nil {
		return nil, fmt.Errorf("list due alert rules: %w", err)
	}
	return out, nil
}

// AlertFacts implements store.Alerts.
func (s *Store) AlertFacts(ctx context.Context, teamIDs []uuid.UUID) ([]store.AlertPipelineFacts, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.team_id, p.id, p.name, p.status, p.created_at,
			coalesce(f.n, 0) + coalesce(d.n, 0),
			greatest(p.last_record_at, (SELECT max(sd.last_record_at) FROM pipeline_stat_deltas sd WHERE sd.pipeline_id = p.id))
		FROM pipelines p
		LEFT JOIN (SELECT pipeline_id, count(*) AS n FROM sink_states WHERE team_id = ANY($1::uuid[]) AND status = 'failing' GROUP BY pipeline_id) f
			ON f.pipeline_id = p.id
		LEFT JOIN (SELECT pipeline_id, count(DISTINCT sink) AS n FROM deliveries WHERE team_id = ANY($1::uuid[]) AND status = 'dead' GROUP BY pipeline_id) d
			ON d.pipeline_id = p.id
		WHERE p.team_id = ANY($1::uuid[])`, teamIDs)
	out, err := collectAll(rows, err, func(r pgx.Row) (store.AlertPipelineFacts, error) {
		var f store.AlertPipelineFacts
		err := r.Scan(&f.TeamID, &f.ID, &f.Name, &f.Status, &f.CreatedAt, &f.FailingSinks, &f.LastRecordAt)
		f.CreatedAt = f.CreatedAt.UTC()
		if f.LastRecordAt != nil {
			t := f.LastRecordAt.UTC()
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
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id, sum(fetched)::bigint, sum(stored)::bigint, sum(rejected)::bigint FROM runs_now
		WHERE pipeline_id = ANY($1::uuid[]) AND team_id = ANY($2::uuid[]) AND started_at >= $3 GROUP BY pipeline_id`,
		pipelineIDs, teamIDs, since)
	out, err := collectAll(rows, err, func(r pgx.Row) (store.AlertRunCounts, error) {
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
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id, field, sum(count)::bigint, sum(sum), min(min), max(max),
			(array_agg(last_val ORDER BY last_ts DESC))[1]
		FROM (
			SELECT pipeline_id, field, count, sum, min, max, last_ts, last_val FROM rollups
			WHERE pipeline_id = ANY($1::uuid[]) AND width = 60 AND field = ANY($3::text[]) AND bucket >= $4 AND team_id = ANY($2::uuid[])
			UNION ALL
			SELECT pipeline_id, field, count, sum, min, max, last_ts, last_val FROM rollup_pending
			WHERE pipeline_id = ANY($1::uuid[]) AND width = 60 AND field = ANY($3::text[]) AND bucket >= $4 AND team_id = ANY($2::uuid[])
		) r
		GROUP BY pipeline_id, field`, pipelineIDs, teamIDs, fields, since)
	out, err := collectAll(rows, err, func(r pgx.Row) (store.AlertAggregate, error) {
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
	rows, err := s.pool.Query(ctx, `SELECT `+alertStateColumns+` FROM alert_states WHERE rule_id = ANY($1::uuid[]) AND team_id = ANY($2::uuid[])`,
		ruleIDs, teamIDs)
	out, err := collectAll(rows, err, scanAlertState)
	if err != nil {
		return nil, fmt.Errorf("read alert states: %w", err)
	}
	return out, nil
}

// ActiveAlertSilences implements store.Alerts.
func (s *Store) ActiveAlertSilences(ctx context.Context, teamIDs []uuid.UUID, now time.Time) ([]store.AlertSilence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertSilenceColumns+` FROM alert_silences WHERE team_id = ANY($1::uuid[]) AND until > $2`, teamIDs, now)
	out, err := collectAll(rows, err, scanAlertSilence)
	if err != nil {
		return nil, fmt.Errorf("read alert silences: %w", err)
	}
	return out, nil
}

// AlertChannelsOf implements store.Alerts.
func (s *Store) AlertChannelsOf(ctx context.Context, teamIDs []uuid.UUID) ([]store.AlertChannel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertChannelColumns+` FROM alert_channels WHERE team_id = ANY($1::uuid[])`, teamIDs)
	out, err := collectAll(rows, err, scanAlertChannel)
	if err != nil {
		return nil, fmt.Errorf("read alert channels: %w", err)
	}
	return out, nil
}

// ApplyAlertEvaluation implements store.Alerts: one transaction for all of
// evs, rules moved to tick in one statement, states and transitions
// written with unnest.
func (s *Store) ApplyAlertEvaluation(ctx context.Context, tick time.Time, evs []store.AlertEvaluation) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	applied := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ids, teams := make([]uuid.UUID, len(evs)), make([]uuid.UUID, len(evs))
		for i, ev := range evs {
			ids[i], teams[i] = ev.RuleID, ev.TeamID
		}
		rows, err := tx.Query(ctx, `UPDATE alert_rules r SET last_tick = $3 FROM unnest($1::uuid[], $2::uuid[]) AS u(id, team_id)
			WHERE r.id = u.id AND r.team_id = u.team_id AND (r.last_tick IS NULL OR r.last_tick < $3) RETURNING r.id`, ids, teams, tick)
		if err != nil {
			return err
		}
		moved, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("move rules to tick: %w", err)
		}
		ok := make(map[uuid.UUID]bool, len(moved))
		for _, id := range moved {
			ok[id] = true
		}
		applied = len(moved)
		var (
			sRule, sTeam, sPipe, sFiring []uuid.UUID
			sState                       []string
			sSince                       []time.Time
			sNotified                    []*time.Time
			sValue                       []float64
			sRepeats                     []int32
			trs                          []store.AlertTransition
			jobs                         = 0
		)
		for _, ev := range evs {
			if !ok[ev.RuleID] {
				continue
			}
			for _, st := range ev.States {
				sRule, sTeam, sPipe, sFiring = append(sRule, st.RuleID), append(sTeam, st.TeamID), append(sPipe, st.PipelineID), append(sFiring, st.FiringTransition)
				sState, sSince, sNotified = append(sState, st.State), append(sSince, st.Since), append(sNotified, st.NotifiedAt)
				sValue, sRepeats = append(sValue, st.Value), append(sRepeats, int32(st.Repeats))
			}
			trs = append(trs, ev.Transitions...)
			jobs += len(ev.Jobs)
		}
		if len(sRule) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO alert_states (`+alertStateColumns+`)
				SELECT rule_id, team_id, pipeline_id, state, since, value, nullif(firing, '00000000-0000-0000-0000-000000000000'::uuid), notified_at, repeats
				FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::float8[], $7::uuid[], $8::timestamptz[], $9::int[])
					AS u(rule_id, team_id, pipeline_id, state, since, value, firing, notified_at, repeats)
				ON CONFLICT (rule_id, pipeline_id) DO UPDATE SET state = excluded.state, since = excluded.since, value = excluded.value,
					firing_transition = excluded.firing_transition, notified_at = excluded.notified_at, repeats = excluded.repeats`,
				sRule, sTeam, sPipe, sState, sSince, sValue, sFiring, sNotified, sRepeats); err != nil {
				return fmt.Errorf("write alert states: %w", err)
			}
		}
		if len(trs) > 0 {
			n := len(trs)
			var (
				tID, tTeam, tRule, tPipe               = make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
				tRuleName, tPipeName, tFrom, tTo, tMsg = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
				tSev                                   = make([]string, n)
				tAt                                    = make([]time.Time, n)
				tValue                                 = make([]float64, n)
				tSilenced                              = make([]bool, n)
			)
			for i, t := range trs {
				tID[i], tTeam[i], tRule[i], tPipe[i] = t.ID, t.TeamID, t.RuleID, t.PipelineID
				tRuleName[i], tPipeName[i], tFrom[i], tTo[i], tMsg[i], tSev[i] = t.RuleName, t.PipelineName, t.From, t.To, t.Message, t.Severity
				tAt[i], tValue[i], tSilenced[i] = t.At, t.Value, t.Silenced
			}
			if _, err := tx.Exec(ctx, `INSERT INTO alert_transitions (`+alertTransitionColumns+`)
				SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[],
					$9::timestamptz[], $10::float8[], $11::text[], $12::text[], $13::bool[])`,
				tID, tTeam, tRule, tRuleName, tPipe, tPipeName, tFrom, tTo, tAt, tValue, tMsg, tSev, tSilenced); err != nil {
				return fmt.Errorf("write alert transitions: %w", err)
			}
		}
		if jobs > 0 {
			var params []river.InsertManyParams
			for _, ev := range evs {
				if ok[ev.RuleID] {
					params = append(params, ev.Jobs...)
				}
			}
			if _, err := s.inserter.InsertManyTx(ctx, tx, params); err != nil {
				return fmt.Errorf("enqueue notifications: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("apply alert evaluation: %w", err)
	}
	return applied, nil
}
