package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AlertState is a rule's state for one pipeline.
type AlertState struct {
	RuleID     string     `json:"rule_id"`
	PipelineID string     `json:"pipeline_id"`
	State      string     `json:"state"`
	Since      time.Time  `json:"since"`
	Value      float64    `json:"value"`
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
}

// AlertRule is an alert rule with its states.
type AlertRule struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	PipelineID string          `json:"pipeline_id,omitempty"`
	Enabled    bool            `json:"enabled"`
	Severity   string          `json:"severity"`
	Spec       json.RawMessage `json:"spec"`
	LastTick   *time.Time      `json:"last_tick,omitempty"`
	States     []AlertState    `json:"states"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// AlertChannel is a notification channel with its health.
type AlertChannel struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Spec      json.RawMessage `json:"spec"`
	Status    string          `json:"status"`
	LastError string          `json:"last_error,omitempty"`
	LastSent  *time.Time      `json:"last_sent,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// AlertTransition is one change of a rule's state.
type AlertTransition struct {
	ID         string    `json:"id"`
	RuleID     string    `json:"rule_id"`
	Rule       string    `json:"rule"`
	PipelineID string    `json:"pipeline_id"`
	Pipeline   string    `json:"pipeline"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	At         time.Time `json:"at"`
	Value      float64   `json:"value"`
	Message    string    `json:"message"`
	Severity   string    `json:"severity"`
	Silenced   bool      `json:"silenced"`
}

// AlertSilence mutes a rule, a pipeline or both until a time.
type AlertSilence struct {
	ID         string    `json:"id"`
	RuleID     string    `json:"rule_id,omitempty"`
	PipelineID string    `json:"pipeline_id,omitempty"`
	Until      time.Time `json:"until"`
	Reason     string    `json:"reason"`
	CreatedAt  time.Time `json:"created_at"`
}

// AlertSilenceRequest creates a silence: a rule id, a pipeline (name or
// id) or both.
type AlertSilenceRequest struct {
	RuleID   string    `json:"rule_id,omitempty"`
	Pipeline string    `json:"pipeline,omitempty"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
}

// AlertNotification is an in-app notification.
type AlertNotification struct {
	ID           string     `json:"id"`
	TransitionID string     `json:"transition_id"`
	Severity     string     `json:"severity"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	CreatedAt    time.Time  `json:"created_at"`
	ReadAt       *time.Time `json:"read_at,omitempty"`
}

// AlertNotifications is a list of in-app notifications and the unread
// count.
type AlertNotifications struct {
	Notifications []AlertNotification `json:"notifications"`
	Unread        int                 `json:"unread"`
}

// AlertReadRequest marks notifications read (all when IDs is empty).
type AlertReadRequest struct {
	IDs []string `json:"ids,omitempty"`
}

func alertPath(kind, id, tail string) string {
	p := "/api/v1/" + kind
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p + tail
}

// ListAlertRules lists the team's alert rules (operation list-alert-rules).
func (c *Client) ListAlertRules(ctx context.Context) ([]AlertRule, error) {
	var out struct {
		Rules []AlertRule `json:"rules"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-rules", "", "")}, &out)
	return out.Rules, err
}

// AlertRule returns one rule (operation get-alert-rule).
func (c *Client) AlertRule(ctx context.Context, id string) (*AlertRule, error) {
	var out AlertRule
	if err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-rules", id, "")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateAlertRule saves a rule document (operation create-alert-rule).
func (c *Client) CreateAlertRule(ctx context.Context, doc json.RawMessage) (*AlertRule, error) {
	var out AlertRule
	if err := c.do(ctx, request{method: http.MethodPost, path: alertPath("alert-rules", "", ""), body: doc}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAlertRule replaces a rule's document (operation update-alert-rule).
func (c *Client) UpdateAlertRule(ctx context.Context, id string, doc json.RawMessage) (*AlertRule, error) {
	var out AlertRule
	if err := c.do(ctx, request{method: http.MethodPut, path: alertPath("alert-rules", id, ""), body: doc}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAlertRule deletes a rule (operation delete-alert-rule).
func (c *Client) DeleteAlertRule(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: alertPath("alert-rules", id, "")}, nil)
}

// ListAlertStates lists every rule's state per pipeline (operation
// list-alert-states).
func (c *Client) ListAlertStates(ctx context.Context) ([]AlertState, error) {
	var out struct {
		States []AlertState `json:"states"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-states", "", "")}, &out)
	return out.States, err
}

// AlertHistory lists transitions, newest first: of one rule (ruleID, or
// "" for all), before a transition id ("" for the newest), at most limit
// (0: the server's default) (operation list-alert-history).
func (c *Client) AlertHistory(ctx context.Context, ruleID, before string, limit int) ([]AlertTransition, error) {
	q := url.Values{}
	if ruleID != "" {
		q.Set("rule", ruleID)
	}
	if before != "" {
		q.Set("before", before)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Transitions []AlertTransition `json:"transitions"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-history", "", ""), query: q}, &out)
	return out.Transitions, err
}

// ListAlertChannels lists the team's channels (operation
// list-alert-channels).
func (c *Client) ListAlertChannels(ctx context.Context) ([]AlertChannel, error) {
	var out struct {
		Channels []AlertChannel `json:"channels"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-channels", "", "")}, &out)
	return out.Channels, err
}

// AlertChannel returns one channel (operation get-alert-channel).
func (c *Client) AlertChannel(ctx context.Context, id string) (*AlertChannel, error) {
	var out AlertChannel
	if err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-channels", id, "")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateAlertChannel saves a channel document (operation
// create-alert-channel).
func (c *Client) CreateAlertChannel(ctx context.Context, doc json.RawMessage) (*AlertChannel, error) {
	var out AlertChannel
	if err := c.do(ctx, request{method: http.MethodPost, path: alertPath("alert-channels", "", ""), body: doc}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAlertChannel replaces a channel's document (operation
// update-alert-channel).
func (c *Client) UpdateAlertChannel(ctx context.Context, id string, doc json.RawMessage) (*AlertChannel, error) {
	var out AlertChannel
	if err := c.do(ctx, request{method: http.MethodPut, path: alertPath("alert-channels", id, ""), body: doc}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAlertChannel deletes a channel (operation delete-alert-channel).
func (c *Client) DeleteAlertChannel(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: alertPath("alert-channels", id, "")}, nil)
}

// TestAlertChannel sends a test notification and returns the channel with
// its health after it (operation test-alert-channel).
func (c *Client) TestAlertChannel(ctx context.Context, id string) (*AlertChannel, error) {
	var out AlertChannel
	if err := c.do(ctx, request{method: http.MethodPost, path: alertPath("alert-channels", id, "/test")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAlertSilences lists the team's silences (operation
// list-alert-silences).
func (c *Client) ListAlertSilences(ctx context.Context) ([]AlertSilence, error) {
	var out struct {
		Silences []AlertSilence `json:"silences"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-silences", "", "")}, &out)
	return out.Silences, err
}

// CreateAlertSilence creates a silence (operation create-alert-silence).
func (c *Client) CreateAlertSilence(ctx context.Context, s AlertSilenceRequest) (*AlertSilence, error) {
	var out AlertSilence
	if err := c.do(ctx, request{method: http.MethodPost, path: alertPath("alert-silences", "", ""), body: s}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAlertSilence ends a silence (operation delete-alert-silence).
func (c *Client) DeleteAlertSilence(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: alertPath("alert-silences", id, "")}, nil)
}

// AlertNotifications lists in-app notifications with the unread count
// (operation list-alert-notifications).
func (c *Client) AlertNotifications(ctx context.Context, unreadOnly bool, limit int) (*AlertNotifications, error) {
	q := url.Values{}
	if unreadOnly {
		q.Set("unread", "true")
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out AlertNotifications
	if err := c.do(ctx, request{method: http.MethodGet, path: alertPath("alert-notifications", "", ""), query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MarkAlertNotificationsRead marks notifications read, all of them when
// ids is empty (operation read-alert-notifications).
func (c *Client) MarkAlertNotificationsRead(ctx context.Context, ids ...string) error {
	return c.do(ctx, request{method: http.MethodPost, path: alertPath("alert-notifications", "", "/read"), body: AlertReadRequest{IDs: ids}}, nil)
}
