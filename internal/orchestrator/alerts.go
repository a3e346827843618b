package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/alert"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// Alerts: rules, channels, silences, history and in-app notifications.
// Any member reads them; editors manage rules and silences (they build the
// pipelines the rules watch); channels carry credentials and reach outside,
// so admins manage them. Every rule and channel is checked against the
// team: the pipeline and channels it names, the fields and retention of
// the pipeline, the secrets a channel names, and the addresses it sends to.

// AlertSender sends a test notification; *alert.Service is one.
type AlertSender interface {
	Test(ctx context.Context, ch store.AlertChannel) error
}

var _ AlertSender = (*alert.Service)(nil)

// AlertsDeps are what the alert use cases need besides the pipeline
// service.
type AlertsDeps struct {
	Store store.Alerts
	// Sender sends test notifications; nil answers ErrUnavailable.
	Sender AlertSender
	// CheckURL refuses a URL pointing at an internal address
	// (netguard.Guard.CheckURL).
	CheckURL func(rawURL string) error
}

// Alerts is the alert service: the alert use cases of the pipeline
// service's teams, with the same callers and domain errors.
type Alerts struct {
	s *Service
	d AlertsDeps
}

// Alerts returns the alert service built on s.
func (s *Service) Alerts(d AlertsDeps) (*Alerts, error) {
	if d.Store == nil || d.CheckURL == nil {
		return nil, errors.New("orchestrator: AlertsDeps.Store and CheckURL are required")
	}
	return &Alerts{s: s, d: d}, nil
}

// AlertRule is a rule as the API shows it: the stored rule, its decoded
// document and its states per pipeline.
type AlertRule struct {
	store.AlertRule
	Rule   *alert.Rule
	States []store.AlertState
}

var (
	errNoRule    = newError(ErrNotFound, "There is no such alert rule in the team.")
	errNoChannel = newError(ErrNotFound, "There is no such alert channel in the team.")
	errNoSilence = newError(ErrNotFound, "There is no such silence in the team.")
)

func notFound(err error, e *Error) error {
	if errors.Is(err, core.ErrNotFound) {
		return e
	}
	return err
}

func conflict(err error, what string) error {
	if errors.Is(err, core.ErrConflict) {
		return newError(ErrConflict, "The team already has %s of that name; choose another name.", what)
	}
	return err
}

func specProblems(err error) error {
	var se *pipeline.SpecError
	if errors.As(err, &se) {
		return invalid("The document is not valid: "+se.Error(), se.Problems...)
	}
	return err
}

// AlertRules lists the team's rules with their states (viewer).
func (a *Alerts) AlertRules(ctx context.Context, who Caller) ([]AlertRule, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	rows, err := a.d.Store.AlertRules(ctx, team)
	if err != nil {
		return nil, err
	}
	states, err := a.d.Store.AlertStates(ctx, team, uuid.Nil)
	if err != nil {
		return nil, err
	}
	out := make([]AlertRule, 0, len(rows))
	for _, r := range rows {
		v := AlertRule{AlertRule: r}
		v.Rule, _ = alert.ParseRule(r.Spec)
		for _, st := range states {
			if st.RuleID == r.ID {
				v.States = append(v.States, st)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// AlertRule returns one rule with its states (viewer).
func (a *Alerts) AlertRule(ctx context.Context, who Caller, id uuid.UUID) (AlertRule, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return AlertRule{}, err
	}
	return a.rule(ctx, team, id)
}

func (a *Alerts) rule(ctx context.Context, team, id uuid.UUID) (AlertRule, error) {
	r, err := a.d.Store.AlertRule(ctx, team, id)
	if err != nil {
		return AlertRule{}, notFound(err, errNoRule)
	}
	v := AlertRule{AlertRule: r}
	v.Rule, _ = alert.ParseRule(r.Spec)
	v.States, err = a.d.Store.AlertStates(ctx, team, id)
	return v, err
}

// CreateAlertRule checks a rule document against the team and saves it
// (editor).
func (a *Alerts) CreateAlertRule(ctx context.Context, who Caller, doc json.RawMessage) (AlertRule, error) {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return AlertRule{}, err
	}
	rule, pipe, err := a.checkRule(ctx, team, doc)
	if err != nil {
		return AlertRule{}, err
	}
	now := core.Now()
	r, err := a.d.Store.CreateAlertRule(ctx, store.AlertRule{
		ID: uuid.Must(uuid.NewV7()), TeamID: team, Name: rule.Name, PipelineID: pipe, Enabled: rule.Enabled, Spec: doc, CreatedAt: now,
	})
	if err != nil {
		return AlertRule{}, conflict(notFound(err, errNoPipeline), "an alert rule")
	}
	return a.rule(ctx, team, r.ID)
}

// UpdateAlertRule replaces a rule's document (editor). A rule moved to
// another pipeline, or disabled, starts over from ok.
func (a *Alerts) UpdateAlertRule(ctx context.Context, who Caller, id uuid.UUID, doc json.RawMessage) (AlertRule, error) {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return AlertRule{}, err
	}
	rule, pipe, err := a.checkRule(ctx, team, doc)
	if err != nil {
		return AlertRule{}, err
	}
	_, err = a.d.Store.UpdateAlertRule(ctx, store.AlertRule{
		ID: id, TeamID: team, Name: rule.Name, PipelineID: pipe, Enabled: rule.Enabled, Spec: doc, UpdatedAt: core.Now(),
	})
	if err != nil {
		return AlertRule{}, conflict(notFound(err, errNoRule), "an alert rule")
	}
	return a.rule(ctx, team, id)
}

// DeleteAlertRule deletes a rule and its states; its history stays
// (editor).
func (a *Alerts) DeleteAlertRule(ctx context.Context, who Caller, id uuid.UUID) error {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return err
	}
	return notFound(a.d.Store.DeleteAlertRule(ctx, team, id), errNoRule)
}

// findPipeline finds a pipeline of the team by id or name.
func (a *Alerts) findPipeline(ctx context.Context, team uuid.UUID, ref string) (core.Pipeline, error) {
	if id, err := uuid.Parse(ref); err == nil {
		p, err := a.s.st.Pipeline(ctx, team, id)
		if err == nil || !errors.Is(err, core.ErrNotFound) {
			return p, err
		}
	}
	ps, err := a.s.st.Pipelines(ctx, team)
	if err != nil {
		return core.Pipeline{}, err
	}
	for _, p := range ps {
		if p.Name == ref {
			return p, nil
		}
	}
	return core.Pipeline{}, core.ErrNotFound
}

// checkRule decodes a rule and checks it against the team: the pipeline
// exists, the channels exist, the window fits in the pipeline's retention,
// and a threshold's field is a number the pipeline's mapping produces.
func (a *Alerts) checkRule(ctx context.Context, team uuid.UUID, doc json.RawMessage) (*alert.Rule, uuid.UUID, error) {
	rule, err := alert.ParseRule(doc)
	if err != nil {
		return nil, uuid.Nil, specProblems(err)
	}
	var ps []pipeline.Problem
	pipeID := uuid.Nil
	if rule.Pipeline != "" {
		p, err := a.findPipeline(ctx, team, rule.Pipeline)
		switch {
		case errors.Is(err, core.ErrNotFound):
			ps = append(ps, pipeline.Problem{Path: "pipeline", Message: fmt.Sprintf("the team has no pipeline %q", rule.Pipeline)})
		case err != nil:
			return nil, uuid.Nil, err
		default:
			pipeID = p.ID
			ps = append(ps, a.checkAgainstPipeline(rule, p)...)
		}
	}
	if len(rule.Channels) > 0 {
		chans, err := a.d.Store.AlertChannels(ctx, team)
		if err != nil {
			return nil, uuid.Nil, err
		}
		for i, name := range rule.Channels {
			if !slices.ContainsFunc(chans, func(c store.AlertChannel) bool { return c.Name == name }) {
				ps = append(ps, pipeline.Problem{Path: fmt.Sprintf("channels[%d]", i),
					Message: fmt.Sprintf("the team has no alert channel %q; create it first (POST /api/v1/alert-channels)", name)})
			}
		}
	}
	if len(ps) > 0 {
		return nil, uuid.Nil, invalid("The rule does not fit the team: "+problemList(ps), ps...)
	}
	return rule, pipeID, nil
}

func problemList(ps []pipeline.Problem) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

func (a *Alerts) checkAgainstPipeline(rule *alert.Rule, p core.Pipeline) []pipeline.Problem {
	c, err := a.s.eng.Compiled(p)
	if err != nil {
		return nil // a stored spec that no longer compiles: nothing to check against
	}
	var ps []pipeline.Problem
	cond := map[alert.Type]string{alert.TypeNoData: "no_data", alert.TypeRejectedRatio: "rejected_ratio", alert.TypeThreshold: "threshold"}[rule.Type]
	if w := rule.Window(); w > 0 && c.Retention > 0 && w > c.Retention {
		ps = append(ps, pipeline.Problem{Path: cond + ".window",
			Message: fmt.Sprintf("the window of %s is longer than pipeline %s keeps its data (retention %s)", w, p.Name, c.Retention)})
	}
	if t := rule.Threshold; t != nil && len(c.Spec.Mapping) > 0 {
		var m mapping.Spec
		if json.Unmarshal(c.Spec.Mapping, &m) == nil && len(m.Fields) > 0 && m.Expr == "" && !m.KeepUnmapped {
			f, ok := m.Fields[t.Field]
			switch {
			case !ok:
				names := make([]string, 0, len(m.Fields))
				for n := range m.Fields {
					names = append(names, n)
				}
				slices.Sort(names)
				ps = append(ps, pipeline.Problem{Path: "threshold.field",
					Message: fmt.Sprintf("pipeline %s does not produce a field %q; its mapping produces %s", p.Name, t.Field, strings.Join(names, ", "))})
			case f.Type != "" && f.Type != "number" && f.Type != "integer" && t.Aggregate != "count":
				ps = append(ps, pipeline.Problem{Path: "threshold.field",
					Message: fmt.Sprintf("field %q of pipeline %s is a %s, not a number; a threshold needs a numeric field", t.Field, p.Name, f.Type)})
			}
		}
	}
	return ps
}

// AlertHistory lists transitions, newest first, of one rule or every rule
// (uuid.Nil), before a transition id (viewer).
func (a *Alerts) AlertHistory(ctx context.Context, who Caller, ruleID, before uuid.UUID, limit int) ([]store.AlertTransition, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return a.d.Store.AlertTransitions(ctx, team, ruleID, before, limit)
}

// AlertStates lists the states of every rule of the team, for the state
// badge of each pipeline (viewer).
func (a *Alerts) AlertStates(ctx context.Context, who Caller) ([]store.AlertState, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return a.d.Store.AlertStates(ctx, team, uuid.Nil)
}

// AlertChannels lists the team's channels with their health (viewer).
func (a *Alerts) AlertChannels(ctx context.Context, who Caller) ([]store.AlertChannel, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return a.d.Store.AlertChannels(ctx, team)
}

// AlertChannel returns one channel (viewer).
func (a *Alerts) AlertChannel(ctx context.Context, who Caller, id uuid.UUID) (store.AlertChannel, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return store.AlertChannel{}, err
	}
	c, err := a.d.Store.AlertChannel(ctx, team, id)
	return c, notFound(err, errNoChannel)
}

// checkChannel decodes a channel and checks it against the team: its
// secrets exist and its URL (a webhook's, or the Slack URL in its secret)
// points at no internal address.
func (a *Alerts) checkChannel(ctx context.Context, team uuid.UUID, doc json.RawMessage) (*alert.Channel, error) {
	c, err := alert.ParseChannel(doc)
	if err != nil {
		return nil, specProblems(err)
	}
	var ps []pipeline.Problem
	for path, name := range c.Secrets() {
		if _, err := a.s.v.Get(ctx, team, name); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				ps = append(ps, noSecret(path, name))
				continue
			}
			return nil, err
		}
	}
	if c.Webhook != nil {
		if err := a.d.CheckURL(c.Webhook.URL); err != nil {
			ps = append(ps, pipeline.Problem{Path: "webhook.url", Message: "the URL is refused: " + err.Error()})
		}
	}
	if c.Slack != nil && len(ps) == 0 {
		raw, err := a.s.v.Open(ctx, team, c.Slack.URLSecret)
		if err != nil {
			return nil, fmt.Errorf("open the Slack URL secret: %w", err)
		}
		if err := a.d.CheckURL(strings.TrimSpace(string(raw))); err != nil {
			ps = append(ps, pipeline.Problem{Path: "slack.url_secret", Message: "the URL in the secret is refused: " + err.Error()})
		}
	}
	if len(ps) > 0 {
		return nil, invalid("The channel cannot be used: "+problemList(ps), ps...)
	}
	return c, nil
}

// CreateAlertChannel saves a channel (admin).
func (a *Alerts) CreateAlertChannel(ctx context.Context, who Caller, doc json.RawMessage) (store.AlertChannel, error) {
	team, _, err := a.s.access(who, auth.Admin)
	if err != nil {
		return store.AlertChannel{}, err
	}
	c, err := a.checkChannel(ctx, team, doc)
	if err != nil {
		return store.AlertChannel{}, err
	}
	ch, err := a.d.Store.CreateAlertChannel(ctx, store.AlertChannel{
		ID: uuid.Must(uuid.NewV7()), TeamID: team, Name: c.Name, Kind: c.Kind(), Spec: doc, CreatedAt: core.Now(),
	})
	return ch, conflict(err, "an alert channel")
}

// UpdateAlertChannel replaces a channel's document; its health starts over
// (admin).
func (a *Alerts) UpdateAlertChannel(ctx context.Context, who Caller, id uuid.UUID, doc json.RawMessage) (store.AlertChannel, error) {
	team, _, err := a.s.access(who, auth.Admin)
	if err != nil {
		return store.AlertChannel{}, err
	}
	c, err := a.checkChannel(ctx, team, doc)
	if err != nil {
		return store.AlertChannel{}, err
	}
	ch, err := a.d.Store.UpdateAlertChannel(ctx, store.AlertChannel{ID: id, TeamID: team, Name: c.Name, Kind: c.Kind(), Spec: doc, UpdatedAt: core.Now()})
	return ch, conflict(notFound(err, errNoChannel), "an alert channel")
}

// DeleteAlertChannel deletes a channel; rules naming it stop sending to it
// (admin).
func (a *Alerts) DeleteAlertChannel(ctx context.Context, who Caller, id uuid.UUID) error {
	team, _, err := a.s.access(who, auth.Admin)
	if err != nil {
		return err
	}
	return notFound(a.d.Store.DeleteAlertChannel(ctx, team, id), errNoChannel)
}

// TestAlertChannel sends a test notification now and returns the channel
// with its health after it (editor). A failed send is not an error of the
// call: the channel's status and last error say what happened.
func (a *Alerts) TestAlertChannel(ctx context.Context, who Caller, id uuid.UUID) (store.AlertChannel, error) {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return store.AlertChannel{}, err
	}
	if a.d.Sender == nil {
		return store.AlertChannel{}, newError(ErrUnavailable, "Alert notifications are not running on this server.")
	}
	ch, err := a.d.Store.AlertChannel(ctx, team, id)
	if err != nil {
		return ch, notFound(err, errNoChannel)
	}
	if err := a.d.Sender.Test(ctx, ch); err != nil {
		a.s.log.InfoContext(ctx, "test notification failed", "channel", ch.ID, "err", err)
	}
	return a.d.Store.AlertChannel(ctx, team, id)
}

// NewSilence is what CreateAlertSilence takes: a rule, a pipeline (by id
// or name) or both, until when, and why.
type NewSilence struct {
	RuleID   uuid.UUID
	Pipeline string
	Until    time.Time
	Reason   string
}

// AlertSilences lists the team's silences, expired ones included (viewer).
func (a *Alerts) AlertSilences(ctx context.Context, who Caller) ([]store.AlertSilence, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return a.d.Store.AlertSilences(ctx, team)
}

// CreateAlertSilence mutes a rule, a pipeline or a rule on a pipeline
// until a time (editor).
func (a *Alerts) CreateAlertSilence(ctx context.Context, who Caller, ns NewSilence) (store.AlertSilence, error) {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return store.AlertSilence{}, err
	}
	var ps []pipeline.Problem
	now := core.Now()
	if ns.RuleID == uuid.Nil && ns.Pipeline == "" {
		ps = append(ps, pipeline.Problem{Path: "rule_id", Message: "a silence needs a rule_id, a pipeline or both"})
	}
	if !ns.Until.After(now) {
		ps = append(ps, pipeline.Problem{Path: "until", Message: "must be in the future"})
	}
	if strings.TrimSpace(ns.Reason) == "" || len(ns.Reason) > 1000 {
		ps = append(ps, pipeline.Problem{Path: "reason", Message: "say why, in 1 to 1000 characters"})
	}
	pipe := uuid.Nil
	if ns.Pipeline != "" {
		p, err := a.findPipeline(ctx, team, ns.Pipeline)
		if errors.Is(err, core.ErrNotFound) {
			ps = append(ps, pipeline.Problem{Path: "pipeline", Message: fmt.Sprintf("the team has no pipeline %q", ns.Pipeline)})
		} else if err != nil {
			return store.AlertSilence{}, err
		}
		pipe = p.ID
	}
	if len(ps) > 0 {
		return store.AlertSilence{}, invalid("The silence is not valid: "+problemList(ps), ps...)
	}
	s, err := a.d.Store.CreateAlertSilence(ctx, store.AlertSilence{
		ID: uuid.Must(uuid.NewV7()), TeamID: team, RuleID: ns.RuleID, PipelineID: pipe, Until: ns.Until.UTC(), Reason: ns.Reason, CreatedAt: now,
	})
	return s, notFound(err, errNoRule)
}

// DeleteAlertSilence ends a silence (editor).
func (a *Alerts) DeleteAlertSilence(ctx context.Context, who Caller, id uuid.UUID) error {
	team, _, err := a.s.access(who, auth.Editor)
	if err != nil {
		return err
	}
	return notFound(a.d.Store.DeleteAlertSilence(ctx, team, id), errNoSilence)
}

// AlertNotifications lists the team's in-app notifications, newest first,
// with the unread count for the badge (viewer).
func (a *Alerts) AlertNotifications(ctx context.Context, who Caller, unreadOnly bool, limit int) ([]store.AlertNotification, int, error) {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return a.d.Store.AlertNotifications(ctx, team, unreadOnly, limit)
}

// MarkAlertNotificationsRead marks notifications read: those of ids, or
// all when ids is empty (viewer).
func (a *Alerts) MarkAlertNotificationsRead(ctx context.Context, who Caller, ids []uuid.UUID) error {
	team, _, err := a.s.access(who, auth.Viewer)
	if err != nil {
		return err
	}
	return a.d.Store.MarkAlertNotificationsRead(ctx, team, ids, core.Now())
}
