package graphql

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

// AlertService is what the alert resolvers call: the alert use cases,
// which check roles (editors manage rules and silences, admins channels);
// *orchestrator.Alerts is one.
type AlertService interface {
	AlertRules(ctx context.Context, who orchestrator.Caller) ([]orchestrator.AlertRule, error)
	AlertRule(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (orchestrator.AlertRule, error)
	CreateAlertRule(ctx context.Context, who orchestrator.Caller, doc json.RawMessage) (orchestrator.AlertRule, error)
	UpdateAlertRule(ctx context.Context, who orchestrator.Caller, id uuid.UUID, doc json.RawMessage) (orchestrator.AlertRule, error)
	DeleteAlertRule(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	AlertHistory(ctx context.Context, who orchestrator.Caller, ruleID, before uuid.UUID, limit int) ([]store.AlertTransition, error)
	AlertChannels(ctx context.Context, who orchestrator.Caller) ([]store.AlertChannel, error)
	CreateAlertChannel(ctx context.Context, who orchestrator.Caller, doc json.RawMessage) (store.AlertChannel, error)
	UpdateAlertChannel(ctx context.Context, who orchestrator.Caller, id uuid.UUID, doc json.RawMessage) (store.AlertChannel, error)
	DeleteAlertChannel(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	TestAlertChannel(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (store.AlertChannel, error)
	AlertSilences(ctx context.Context, who orchestrator.Caller) ([]store.AlertSilence, error)
	CreateAlertSilence(ctx context.Context, who orchestrator.Caller, ns orchestrator.NewSilence) (store.AlertSilence, error)
	DeleteAlertSilence(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	AlertNotifications(ctx context.Context, who orchestrator.Caller, unreadOnly bool, limit int) ([]store.AlertNotification, int, error)
	MarkAlertNotificationsRead(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) error
}

var _ AlertService = (*orchestrator.Alerts)(nil)

// alerts returns the alert service, or UNAVAILABLE.
func (r *Resolver) alerts() (AlertService, error) {
	if r.deps.Alerts == nil {
		return nil, &orchestrator.Error{Kind: orchestrator.ErrUnavailable, Msg: "This server does not serve alerts over GraphQL."}
	}
	return r.deps.Alerts, nil
}

// alertCall resolves the alert service and the caller of team.
func (r *Resolver) alertCall(ctx context.Context, team *string) (AlertService, orchestrator.Caller, error) {
	svc, err := r.alerts()
	if err != nil {
		return nil, orchestrator.Caller{}, err
	}
	who, err := caller(ctx, team)
	return svc, who, err
}

// optIDArg reads an optional ID argument; an id that is not a UUID names
// nothing (NOT_FOUND).
func optIDArg(id *string, what string) (uuid.UUID, error) {
	if id == nil || *id == "" {
		return uuid.Nil, nil
	}
	return parseID(*id, what)
}

func alertRule(v orchestrator.AlertRule) *AlertRule {
	out := &AlertRule{ID: v.ID.String(), Name: v.Name, PipelineID: optID(v.PipelineID), Enabled: v.Enabled, Spec: v.Spec,
		LastTick: v.LastTick, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, States: make([]*AlertState, 0, len(v.States))}
	if v.Rule != nil {
		out.Type, out.Severity = string(v.Rule.Type), v.Rule.Severity
	}
	for _, s := range v.States {
		out.States = append(out.States, &AlertState{PipelineID: s.PipelineID.String(), State: s.State, Since: s.Since, Value: s.Value, NotifiedAt: s.NotifiedAt})
	}
	return out
}

func alertChannel(c store.AlertChannel) *AlertChannel {
	out := &AlertChannel{ID: c.ID.String(), Name: c.Name, Kind: c.Kind, Spec: c.Spec, Status: c.Status, LastSent: c.LastSent,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.LastError != "" {
		e := c.LastError
		out.LastError = &e
	}
	return out
}

func alertSilence(s store.AlertSilence) *AlertSilence {
	return &AlertSilence{ID: s.ID.String(), RuleID: optID(s.RuleID), PipelineID: optID(s.PipelineID), Until: s.Until, Reason: s.Reason, CreatedAt: s.CreatedAt}
}

func alertTransition(t store.AlertTransition) *AlertTransition {
	return &AlertTransition{ID: t.ID.String(), RuleID: t.RuleID.String(), Rule: t.RuleName, PipelineID: t.PipelineID.String(), Pipeline: t.PipelineName,
		From: t.From, To: t.To, At: t.At, Value: t.Value, Message: t.Message, Severity: t.Severity, Silenced: t.Silenced}
}

func alertNotification(n store.AlertNotification) *AlertNotification {
	return &AlertNotification{ID: n.ID.String(), TransitionID: n.TransitionID.String(), Severity: n.Severity, Title: n.Title, Body: n.Body,
		CreatedAt: n.CreatedAt, ReadAt: n.ReadAt}
}

func mapList[T, U any](in []T, fn func(T) *U) []*U {
	out := make([]*U, len(in))
	for i, v := range in {
		out[i] = fn(v)
	}
	return out
}
