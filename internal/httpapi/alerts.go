package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

// Alerts: rules, channels, silences, history and in-app notifications.
// Rule and channel documents are decoded by the service (strictly, with
// the paths of the problems), so the handlers take them raw and the
// OpenAPI document describes them with the doc types below.

// RegisterAlerts adds the alert routes, served by svc.
func (s *Server) RegisterAlerts(svc *orchestrator.Alerts) {
	r := &alertRoutes{s: s, svc: svc}
	r.register()
}

type alertRoutes struct {
	s   *Server
	svc *orchestrator.Alerts
}

// Documentation types of the request documents.

type alertNoDataDoc struct {
	Window string `json:"window" doc:"How long without a record makes the pipeline quiet, such as \"15m\"."`
}

type alertRejectedDoc struct {
	Window     string  `json:"window" doc:"The window, such as \"10m\"."`
	Above      float64 `json:"above" minimum:"0" exclusiveMaximum:"1" doc:"The share of rejected records (0 to 1) above which the rule fires."`
	MinRecords int     `json:"min_records,omitempty" minimum:"1" doc:"Fire only once the window has at least this many records (default 1)."`
}

type alertThresholdDoc struct {
	Field     string  `json:"field" doc:"A numeric field of the pipeline's records."`
	Aggregate string  `json:"aggregate,omitempty" enum:"avg,min,max,sum,count,last" doc:"How the field's values over the window are folded (default avg)."`
	Op        string  `json:"op" enum:">,>=,<,<=,==,!="`
	Value     float64 `json:"value" doc:"The number the aggregate is compared with."`
	Window    string  `json:"window" doc:"The window, such as \"5m\"; read from the minute rollups."`
}

// AlertRuleDoc is a rule document: a name, a scope, one condition and how
// to notify.
type AlertRuleDoc struct {
	Name          string             `json:"name" doc:"Unique in the team."`
	Pipeline      string             `json:"pipeline,omitempty" doc:"The watched pipeline, by name or id; omitted: every pipeline of the team."`
	Failing       *struct{}          `json:"failing,omitempty" doc:"Fires while the pipeline is failing or a sink is failing or has dead deliveries."`
	NoData        *alertNoDataDoc    `json:"no_data,omitempty"`
	RejectedRatio *alertRejectedDoc  `json:"rejected_ratio,omitempty"`
	Threshold     *alertThresholdDoc `json:"threshold,omitempty"`
	For           string             `json:"for,omitempty" doc:"How long the condition must hold before the rule fires (pending period); default 0."`
	Severity      string             `json:"severity,omitempty" enum:"info,warning,critical" doc:"Default warning."`
	Repeat        string             `json:"repeat,omitempty" doc:"Notify again at this interval while firing; omitted: once."`
	Labels        map[string]string  `json:"labels,omitempty"`
	Channels      []string           `json:"channels,omitempty" doc:"Names of the team's alert channels to notify."`
	Enabled       *bool              `json:"enabled,omitempty" doc:"Default true."`
}

// AlertChannelDoc is a channel document: a name and one kind's settings.
type AlertChannelDoc struct {
	Name    string `json:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,63}$"`
	Webhook *struct {
		URL           string `json:"url" doc:"Receives a signed POST per notification (Standard Webhooks)."`
		SigningSecret string `json:"signing_secret,omitempty" doc:"Name of the team secret holding the whsec_ key."`
	} `json:"webhook,omitempty"`
	Slack *struct {
		URLSecret string `json:"url_secret" doc:"Name of the team secret holding the incoming-webhook URL."`
	} `json:"slack,omitempty"`
	Email *struct {
		To []string `json:"to"`
	} `json:"email,omitempty"`
	InApp *struct{} `json:"inapp,omitempty" doc:"The notifications list and badge of the UI."`
}

// Wire types of responses.

// AlertStateBody is a rule's state for one pipeline.
type AlertStateBody struct {
	RuleID     uuid.UUID  `json:"rule_id"`
	PipelineID uuid.UUID  `json:"pipeline_id"`
	State      string     `json:"state" enum:"ok,pending,firing,resolved"`
	Since      time.Time  `json:"since"`
	Value      float64    `json:"value"`
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
}

// AlertRuleBody is a rule with its states.
type AlertRuleBody struct {
	ID         uuid.UUID        `json:"id"`
	Name       string           `json:"name"`
	Type       string           `json:"type" enum:"failing,no_data,rejected_ratio,threshold"`
	PipelineID *uuid.UUID       `json:"pipeline_id,omitempty" doc:"The watched pipeline; omitted for every pipeline of the team."`
	Enabled    bool             `json:"enabled"`
	Severity   string           `json:"severity"`
	Spec       json.RawMessage  `json:"spec" doc:"The rule document as saved."`
	LastTick   *time.Time       `json:"last_tick,omitempty" doc:"The evaluation tick the rule was last evaluated at."`
	States     []AlertStateBody `json:"states"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
}

// AlertChannelBody is a channel with its health; it never holds a secret.
type AlertChannelBody struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind" enum:"webhook,slack,email,inapp"`
	Spec      json.RawMessage `json:"spec" doc:"The channel document as saved: secret names, never values."`
	Status    string          `json:"status" enum:"ok,failing"`
	LastError string          `json:"last_error,omitempty"`
	LastSent  *time.Time      `json:"last_sent,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// AlertTransitionBody is one change of a rule's state.
type AlertTransitionBody struct {
	ID         uuid.UUID `json:"id"`
	RuleID     uuid.UUID `json:"rule_id"`
	Rule       string    `json:"rule"`
	PipelineID uuid.UUID `json:"pipeline_id"`
	Pipeline   string    `json:"pipeline"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	At         time.Time `json:"at"`
	Value      float64   `json:"value"`
	Message    string    `json:"message"`
	Severity   string    `json:"severity"`
	Silenced   bool      `json:"silenced" doc:"Recorded while a silence held: not notified."`
}

// AlertSilenceBody is a silence.
type AlertSilenceBody struct {
	ID         uuid.UUID  `json:"id"`
	RuleID     *uuid.UUID `json:"rule_id,omitempty"`
	PipelineID *uuid.UUID `json:"pipeline_id,omitempty"`
	Until      time.Time  `json:"until"`
	Reason     string     `json:"reason"`
	CreatedAt  time.Time  `json:"created_at"`
}

// AlertSilenceRequest creates a silence.
type AlertSilenceRequest struct {
	RuleID   *uuid.UUID `json:"rule_id,omitempty" doc:"The rule to mute; omitted: every rule (then pipeline is required)."`
	Pipeline string     `json:"pipeline,omitempty" doc:"The pipeline to mute, by name or id; omitted: every pipeline of the rule."`
	Until    time.Time  `json:"until"`
	Reason   string     `json:"reason" minLength:"1" maxLength:"1000"`
}

// AlertNotificationBody is an in-app notification.
type AlertNotificationBody struct {
	ID           uuid.UUID  `json:"id"`
	TransitionID uuid.UUID  `json:"transition_id"`
	Severity     string     `json:"severity"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	CreatedAt    time.Time  `json:"created_at"`
	ReadAt       *time.Time `json:"read_at,omitempty"`
}

func idPtr(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func alertStateBody(s store.AlertState) AlertStateBody {
	return AlertStateBody{RuleID: s.RuleID, PipelineID: s.PipelineID, State: s.State, Since: s.Since, Value: s.Value, NotifiedAt: s.NotifiedAt}
}

func alertRuleBody(r orchestrator.AlertRule) AlertRuleBody {
	b := AlertRuleBody{ID: r.ID, Name: r.Name, PipelineID: idPtr(r.PipelineID), Enabled: r.Enabled, Spec: r.Spec, LastTick: r.LastTick,
		States: make([]AlertStateBody, 0, len(r.States)), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.Rule != nil {
		b.Type, b.Severity = string(r.Rule.Type), r.Rule.Severity
	}
	for _, s := range r.States {
		b.States = append(b.States, alertStateBody(s))
	}
	return b
}

func alertChannelBody(c store.AlertChannel) AlertChannelBody {
	return AlertChannelBody{ID: c.ID, Name: c.Name, Kind: c.Kind, Spec: c.Spec, Status: c.Status, LastError: c.LastError, LastSent: c.LastSent,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func alertTransitionBody(t store.AlertTransition) AlertTransitionBody {
	return AlertTransitionBody{ID: t.ID, RuleID: t.RuleID, Rule: t.RuleName, PipelineID: t.PipelineID, Pipeline: t.PipelineName,
		From: t.From, To: t.To, At: t.At, Value: t.Value, Message: t.Message, Severity: t.Severity, Silenced: t.Silenced}
}

func alertSilenceBody(s store.AlertSilence) AlertSilenceBody {
	return AlertSilenceBody{ID: s.ID, RuleID: idPtr(s.RuleID), PipelineID: idPtr(s.PipelineID), Until: s.Until, Reason: s.Reason, CreatedAt: s.CreatedAt}
}

// Inputs and outputs.

type alertIDInput struct {
	TeamScope
	ID uuid.UUID `path:"id"`
}

type alertDocInput struct {
	TeamScope
	RawBody []byte
}

type alertDocIDInput struct {
	TeamScope
	ID      uuid.UUID `path:"id"`
	RawBody []byte
}

type alertRuleOutput struct{ Body AlertRuleBody }

type alertRulesOutput struct {
	Body struct {
		Rules []AlertRuleBody `json:"rules"`
	}
}

type alertChannelOutput struct{ Body AlertChannelBody }

type alertChannelsOutput struct {
	Body struct {
		Channels []AlertChannelBody `json:"channels"`
	}
}

type alertHistoryInput struct {
	TeamScope
	Rule   uuid.UUID `query:"rule" doc:"Only this rule's transitions."`
	Before uuid.UUID `query:"before" doc:"Transitions older than this one (the previous page's last id)."`
	Limit  int       `query:"limit" minimum:"0" maximum:"500" doc:"At most this many (default 100)."`
}

type alertHistoryOutput struct {
	Body struct {
		Transitions []AlertTransitionBody `json:"transitions"`
	}
}

type alertStatesOutput struct {
	Body struct {
		States []AlertStateBody `json:"states"`
	}
}

type alertSilenceInput struct {
	TeamScope
	Body AlertSilenceRequest
}

type alertSilenceOutput struct{ Body AlertSilenceBody }

type alertSilencesOutput struct {
	Body struct {
		Silences []AlertSilenceBody `json:"silences"`
	}
}

type alertNotificationsInput struct {
	TeamScope
	Unread bool `query:"unread" doc:"Only unread notifications."`
	Limit  int  `query:"limit" minimum:"0" maximum:"500" doc:"At most this many (default 100)."`
}

type alertNotificationsOutput struct {
	Body struct {
		Notifications []AlertNotificationBody `json:"notifications"`
		Unread        int                     `json:"unread" doc:"How many notifications are unread: the badge."`
	}
}

type alertReadInput struct {
	TeamScope
	Body struct {
		IDs []uuid.UUID `json:"ids,omitempty" doc:"The notifications to mark read; omitted or empty: all."`
	}
}

func (r *alertRoutes) register() {
	api := r.s.api
	rules, channels, silences := []string{"Alert rules"}, []string{"Alert channels"}, []string{"Alert silences"}
	history := []string{"Alert history"}

	huma.Register(api, huma.Operation{OperationID: "list-alert-rules", Method: http.MethodGet, Path: "/api/v1/alert-rules", Tags: rules,
		Summary: "List alert rules", Description: "The team's rules with their state per watched pipeline."}, r.listRules)
	huma.Register(api, huma.Operation{OperationID: "create-alert-rule", Method: http.MethodPost, Path: "/api/v1/alert-rules", Tags: rules,
		Summary: "Create an alert rule", DefaultStatus: http.StatusCreated,
		Description: "Checks the document against the team (pipeline, channels, the pipeline's fields and retention); 422 names each problem. Needs editor."}, r.createRule)
	documentRawJSON(api, http.MethodPost, "/api/v1/alert-rules", reflect.TypeFor[AlertRuleDoc]())
	huma.Register(api, huma.Operation{OperationID: "get-alert-rule", Method: http.MethodGet, Path: "/api/v1/alert-rules/{id}", Tags: rules,
		Summary: "Get an alert rule"}, r.getRule)
	huma.Register(api, huma.Operation{OperationID: "update-alert-rule", Method: http.MethodPut, Path: "/api/v1/alert-rules/{id}", Tags: rules,
		Summary: "Replace an alert rule", Description: "A rule moved to another pipeline, or disabled, starts over from ok. Needs editor."}, r.updateRule)
	documentRawJSON(api, http.MethodPut, "/api/v1/alert-rules/{id}", reflect.TypeFor[AlertRuleDoc]())
	huma.Register(api, huma.Operation{OperationID: "delete-alert-rule", Method: http.MethodDelete, Path: "/api/v1/alert-rules/{id}", Tags: rules,
		Summary: "Delete an alert rule", Description: "Its history stays. Needs editor.", DefaultStatus: http.StatusNoContent}, r.deleteRule)
	huma.Register(api, huma.Operation{OperationID: "list-alert-states", Method: http.MethodGet, Path: "/api/v1/alert-states", Tags: rules,
		Summary: "List alert states", Description: "Every rule's state per pipeline, for the badge of each pipeline."}, r.listStates)

	huma.Register(api, huma.Operation{OperationID: "list-alert-history", Method: http.MethodGet, Path: "/api/v1/alert-history", Tags: history,
		Summary: "List alert transitions", Description: "Changes of state of the team's rules, newest first."}, r.listHistory)

	huma.Register(api, huma.Operation{OperationID: "list-alert-channels", Method: http.MethodGet, Path: "/api/v1/alert-channels", Tags: channels,
		Summary: "List alert channels", Description: "With their health: failing and the last error when the last send failed."}, r.listChannels)
	huma.Register(api, huma.Operation{OperationID: "create-alert-channel", Method: http.MethodPost, Path: "/api/v1/alert-channels", Tags: channels,
		Summary: "Create an alert channel", DefaultStatus: http.StatusCreated,
		Description: "Credentials are named team secrets. A URL pointing at an internal address is refused (422). Needs admin."}, r.createChannel)
	documentRawJSON(api, http.MethodPost, "/api/v1/alert-channels", reflect.TypeFor[AlertChannelDoc]())
	huma.Register(api, huma.Operation{OperationID: "get-alert-channel", Method: http.MethodGet, Path: "/api/v1/alert-channels/{id}", Tags: channels,
		Summary: "Get an alert channel"}, r.getChannel)
	huma.Register(api, huma.Operation{OperationID: "update-alert-channel", Method: http.MethodPut, Path: "/api/v1/alert-channels/{id}", Tags: channels,
		Summary: "Replace an alert channel", Description: "Needs admin."}, r.updateChannel)
	documentRawJSON(api, http.MethodPut, "/api/v1/alert-channels/{id}", reflect.TypeFor[AlertChannelDoc]())
	huma.Register(api, huma.Operation{OperationID: "delete-alert-channel", Method: http.MethodDelete, Path: "/api/v1/alert-channels/{id}", Tags: channels,
		Summary: "Delete an alert channel", Description: "Needs admin.", DefaultStatus: http.StatusNoContent}, r.deleteChannel)
	huma.Register(api, huma.Operation{OperationID: "test-alert-channel", Method: http.MethodPost, Path: "/api/v1/alert-channels/{id}/test", Tags: channels,
		Summary: "Send a test notification", Description: "Sends now and answers the channel with its health after the send. Needs editor."}, r.testChannel)

	huma.Register(api, huma.Operation{OperationID: "list-alert-silences", Method: http.MethodGet, Path: "/api/v1/alert-silences", Tags: silences,
		Summary: "List silences"}, r.listSilences)
	huma.Register(api, huma.Operation{OperationID: "create-alert-silence", Method: http.MethodPost, Path: "/api/v1/alert-silences", Tags: silences,
		Summary: "Create a silence", Description: "Mutes a rule, a pipeline, or a rule on a pipeline until a time: transitions are recorded, not notified. Needs editor.",
		DefaultStatus: http.StatusCreated}, r.createSilence)
	huma.Register(api, huma.Operation{OperationID: "delete-alert-silence", Method: http.MethodDelete, Path: "/api/v1/alert-silences/{id}", Tags: silences,
		Summary: "End a silence", Description: "Needs editor.", DefaultStatus: http.StatusNoContent}, r.deleteSilence)

	huma.Register(api, huma.Operation{OperationID: "list-alert-notifications", Method: http.MethodGet, Path: "/api/v1/alert-notifications", Tags: history,
		Summary: "List in-app notifications", Description: "Newest first, with the unread count."}, r.listNotifications)
	huma.Register(api, huma.Operation{OperationID: "read-alert-notifications", Method: http.MethodPost, Path: "/api/v1/alert-notifications/read", Tags: history,
		Summary: "Mark in-app notifications read", DefaultStatus: http.StatusNoContent}, r.readNotifications)
}

func (r *alertRoutes) listRules(ctx context.Context, in *TeamScope) (*alertRulesOutput, error) {
	rs, err := r.svc.AlertRules(ctx, caller(ctx, *in))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertRulesOutput{}
	out.Body.Rules = make([]AlertRuleBody, 0, len(rs))
	for _, x := range rs {
		out.Body.Rules = append(out.Body.Rules, alertRuleBody(x))
	}
	return out, nil
}

func (r *alertRoutes) createRule(ctx context.Context, in *alertDocInput) (*alertRuleOutput, error) {
	x, err := r.svc.CreateAlertRule(ctx, caller(ctx, in.TeamScope), in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertRuleOutput{Body: alertRuleBody(x)}, nil
}

func (r *alertRoutes) getRule(ctx context.Context, in *alertIDInput) (*alertRuleOutput, error) {
	x, err := r.svc.AlertRule(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertRuleOutput{Body: alertRuleBody(x)}, nil
}

func (r *alertRoutes) updateRule(ctx context.Context, in *alertDocIDInput) (*alertRuleOutput, error) {
	x, err := r.svc.UpdateAlertRule(ctx, caller(ctx, in.TeamScope), in.ID, in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertRuleOutput{Body: alertRuleBody(x)}, nil
}

func (r *alertRoutes) deleteRule(ctx context.Context, in *alertIDInput) (*struct{}, error) {
	return nil, r.s.problem(ctx, r.svc.DeleteAlertRule(ctx, caller(ctx, in.TeamScope), in.ID))
}

func (r *alertRoutes) listStates(ctx context.Context, in *TeamScope) (*alertStatesOutput, error) {
	ss, err := r.svc.AlertStates(ctx, caller(ctx, *in))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertStatesOutput{}
	out.Body.States = make([]AlertStateBody, 0, len(ss))
	for _, s := range ss {
		out.Body.States = append(out.Body.States, alertStateBody(s))
	}
	return out, nil
}

func (r *alertRoutes) listHistory(ctx context.Context, in *alertHistoryInput) (*alertHistoryOutput, error) {
	ts, err := r.svc.AlertHistory(ctx, caller(ctx, in.TeamScope), in.Rule, in.Before, in.Limit)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertHistoryOutput{}
	out.Body.Transitions = make([]AlertTransitionBody, 0, len(ts))
	for _, t := range ts {
		out.Body.Transitions = append(out.Body.Transitions, alertTransitionBody(t))
	}
	return out, nil
}

func (r *alertRoutes) listChannels(ctx context.Context, in *TeamScope) (*alertChannelsOutput, error) {
	cs, err := r.svc.AlertChannels(ctx, caller(ctx, *in))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertChannelsOutput{}
	out.Body.Channels = make([]AlertChannelBody, 0, len(cs))
	for _, c := range cs {
		out.Body.Channels = append(out.Body.Channels, alertChannelBody(c))
	}
	return out, nil
}

func (r *alertRoutes) createChannel(ctx context.Context, in *alertDocInput) (*alertChannelOutput, error) {
	c, err := r.svc.CreateAlertChannel(ctx, caller(ctx, in.TeamScope), in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertChannelOutput{Body: alertChannelBody(c)}, nil
}

func (r *alertRoutes) getChannel(ctx context.Context, in *alertIDInput) (*alertChannelOutput, error) {
	c, err := r.svc.AlertChannel(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertChannelOutput{Body: alertChannelBody(c)}, nil
}

func (r *alertRoutes) updateChannel(ctx context.Context, in *alertDocIDInput) (*alertChannelOutput, error) {
	c, err := r.svc.UpdateAlertChannel(ctx, caller(ctx, in.TeamScope), in.ID, in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertChannelOutput{Body: alertChannelBody(c)}, nil
}

func (r *alertRoutes) deleteChannel(ctx context.Context, in *alertIDInput) (*struct{}, error) {
	return nil, r.s.problem(ctx, r.svc.DeleteAlertChannel(ctx, caller(ctx, in.TeamScope), in.ID))
}

func (r *alertRoutes) testChannel(ctx context.Context, in *alertIDInput) (*alertChannelOutput, error) {
	c, err := r.svc.TestAlertChannel(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertChannelOutput{Body: alertChannelBody(c)}, nil
}

func (r *alertRoutes) listSilences(ctx context.Context, in *TeamScope) (*alertSilencesOutput, error) {
	ss, err := r.svc.AlertSilences(ctx, caller(ctx, *in))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertSilencesOutput{}
	out.Body.Silences = make([]AlertSilenceBody, 0, len(ss))
	for _, s := range ss {
		out.Body.Silences = append(out.Body.Silences, alertSilenceBody(s))
	}
	return out, nil
}

func (r *alertRoutes) createSilence(ctx context.Context, in *alertSilenceInput) (*alertSilenceOutput, error) {
	ns := orchestrator.NewSilence{Pipeline: in.Body.Pipeline, Until: in.Body.Until, Reason: in.Body.Reason}
	if in.Body.RuleID != nil {
		ns.RuleID = *in.Body.RuleID
	}
	s, err := r.svc.CreateAlertSilence(ctx, caller(ctx, in.TeamScope), ns)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &alertSilenceOutput{Body: alertSilenceBody(s)}, nil
}

func (r *alertRoutes) deleteSilence(ctx context.Context, in *alertIDInput) (*struct{}, error) {
	return nil, r.s.problem(ctx, r.svc.DeleteAlertSilence(ctx, caller(ctx, in.TeamScope), in.ID))
}

func (r *alertRoutes) listNotifications(ctx context.Context, in *alertNotificationsInput) (*alertNotificationsOutput, error) {
	ns, unread, err := r.svc.AlertNotifications(ctx, caller(ctx, in.TeamScope), in.Unread, in.Limit)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &alertNotificationsOutput{}
	out.Body.Unread = unread
	out.Body.Notifications = make([]AlertNotificationBody, 0, len(ns))
	for _, n := range ns {
		out.Body.Notifications = append(out.Body.Notifications, AlertNotificationBody{ID: n.ID, TransitionID: n.TransitionID, Severity: n.Severity,
			Title: n.Title, Body: n.Body, CreatedAt: n.CreatedAt, ReadAt: n.ReadAt})
	}
	return out, nil
}

func (r *alertRoutes) readNotifications(ctx context.Context, in *alertReadInput) (*struct{}, error) {
	return nil, r.s.problem(ctx, r.svc.MarkAlertNotificationsRead(ctx, caller(ctx, in.TeamScope), in.Body.IDs))
}
