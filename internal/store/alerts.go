package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Alerts.
//
// A rule is a team's document (internal/alert decodes it) with its scope
// (one pipeline, or uuid.Nil for every pipeline of the team) and the tick
// it was last evaluated at. A rule has one state row per pipeline it
// watches; every change of state is a transition row, and transitions
// that notify enqueue one River job per channel in the transaction that
// records them. ApplyAlertEvaluation is the only writer of states: it
// moves each rule's last tick forward first, so a rule is evaluated at
// most once per tick whatever node runs the evaluation.

// AlertRule is a stored rule.
type AlertRule struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	Name       string
	PipelineID uuid.UUID // uuid.Nil: every pipeline of the team
	Enabled    bool
	Spec       json.RawMessage
	LastTick   *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// AlertState is where a rule stands for one pipeline.
type AlertState struct {
	RuleID     uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	State      string // ok, pending, firing, resolved
	Since      time.Time
	Value      float64
	// FiringTransition is the transition that made the state firing,
	// which repeats of its notification refer to.
	FiringTransition uuid.UUID
	NotifiedAt       *time.Time
	Repeats          int
}

// AlertTransition is one recorded change of state.
type AlertTransition struct {
	ID           uuid.UUID
	TeamID       uuid.UUID
	RuleID       uuid.UUID
	RuleName     string
	PipelineID   uuid.UUID
	PipelineName string
	From, To     string
	At           time.Time
	Value        float64
	Message      string
	Severity     string
	Silenced     bool
}

// AlertChannel is a stored notification channel; Settings names secrets,
// never holds them.
type AlertChannel struct {
	ID        uuid.UUID
	TeamID    uuid.UUID
	Name      string
	Kind      string
	Spec      json.RawMessage
	Status    string // ok or failing
	LastError string
	LastSent  *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AlertSilence mutes a rule, a pipeline, or a rule on a pipeline until a
// time.
type AlertSilence struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	RuleID     uuid.UUID // uuid.Nil: any rule
	PipelineID uuid.UUID // uuid.Nil: any pipeline
	Until      time.Time
	Reason     string
	CreatedAt  time.Time
}

// AlertNotification is an in-app notification.
type AlertNotification struct {
	ID           uuid.UUID
	TeamID       uuid.UUID
	TransitionID uuid.UUID
	Repeat       int
	Severity     string
	Title        string
	Body         string
	CreatedAt    time.Time
	ReadAt       *time.Time
}

// AlertPipelineFacts is what evaluation reads of one pipeline.
type AlertPipelineFacts struct {
	TeamID       uuid.UUID
	ID           uuid.UUID
	Name         string
	Status       string
	CreatedAt    time.Time
	FailingSinks int // sinks failing or with dead deliveries
	// LastRecordAt is the event time of the newest record the pipeline
	// stored (nil: none yet, or it persists nothing).
	LastRecordAt *time.Time
}

// AlertRunCounts sums a pipeline's runs since a time.
type AlertRunCounts struct {
	PipelineID                uuid.UUID
	Fetched, Stored, Rejected int64
}

// AlertAggregate is one field's minute rollups of a pipeline folded over
// a window.
type AlertAggregate struct {
	PipelineID uuid.UUID
	Field      string
	Count      int64
	Sum        float64
	Min, Max   float64
	Last       float64
}

// AlertEvaluation is the outcome of one rule at one tick: its states and
// the transitions to record, with the notification jobs they enqueue.
type AlertEvaluation struct {
	TeamID      uuid.UUID
	RuleID      uuid.UUID
	States      []AlertState
	Transitions []AlertTransition
	Jobs        []river.InsertManyParams
}

// Alerts stores alert rules, their states and history, channels,
// silences and in-app notifications.
type Alerts interface {
	CreateAlertRule(ctx context.Context, r AlertRule) (AlertRule, error)
	AlertRule(ctx context.Context, teamID, id uuid.UUID) (AlertRule, error)
	AlertRules(ctx context.Context, teamID uuid.UUID) ([]AlertRule, error)
	// UpdateAlertRule replaces name, scope, enabled and spec; the states
	// of the rule are reset when the scope changed.
	UpdateAlertRule(ctx context.Context, r AlertRule) (AlertRule, error)
	DeleteAlertRule(ctx context.Context, teamID, id uuid.UUID) error
	// AlertStates lists a team's states, of one rule (or uuid.Nil: all).
	AlertStates(ctx context.Context, teamID, ruleID uuid.UUID) ([]AlertState, error)
	// AlertTransitions lists a team's transitions, newest first, of one
	// rule or every rule (uuid.Nil), before a transition id (uuid.Nil: the
	// newest).
	AlertTransitions(ctx context.Context, teamID, ruleID uuid.UUID, before uuid.UUID, limit int) ([]AlertTransition, error)
	AlertTransition(ctx context.Context, teamID, id uuid.UUID) (AlertTransition, error)

	CreateAlertChannel(ctx context.Context, c AlertChannel) (AlertChannel, error)
	AlertChannel(ctx context.Context, teamID, id uuid.UUID) (AlertChannel, error)
	AlertChannels(ctx context.Context, teamID uuid.UUID) ([]AlertChannel, error)
	UpdateAlertChannel(ctx context.Context, c AlertChannel) (AlertChannel, error)
	DeleteAlertChannel(ctx context.Context, teamID, id uuid.UUID) error
	// SetAlertChannelHealth records the outcome of a send: errMsg "" is a
	// success.
	SetAlertChannelHealth(ctx context.Context, teamID, id uuid.UUID, at time.Time, errMsg string) error

	CreateAlertSilence(ctx context.Context, s AlertSilence) (AlertSilence, error)
	AlertSilences(ctx context.Context, teamID uuid.UUID) ([]AlertSilence, error)
	DeleteAlertSilence(ctx context.Context, teamID, id uuid.UUID) error

	// AddAlertNotification stores an in-app notification; a second one for
	// the same transition and repeat is ignored (false).
	AddAlertNotification(ctx context.Context, n AlertNotification) (bool, error)
	AlertNotifications(ctx context.Context, teamID uuid.UUID, unreadOnly bool, limit int) ([]AlertNotification, int, error)
	MarkAlertNotificationsRead(ctx context.Context, teamID uuid.UUID, ids []uuid.UUID, at time.Time) error

	// Evaluation: these span teams, like maintenance; every query after
	// DueAlertRules is bounded by the teams and pipelines it returned.

	// DueAlertRules returns up to limit enabled rules not evaluated at
	// tick, after the rule id after (uuid.Nil: from the start), by id.
	DueAlertRules(ctx context.Context, tick time.Time, after uuid.UUID, limit int) ([]AlertRule, error)
	// AlertFacts returns the facts of every pipeline of the teams.
	AlertFacts(ctx context.Context, teamIDs []uuid.UUID) ([]AlertPipelineFacts, error)
	// AlertRunCounts sums the runs of the pipelines started at or after since.
	AlertRunCounts(ctx context.Context, teamIDs, pipelineIDs []uuid.UUID, since time.Time) ([]AlertRunCounts, error)
	// AlertAggregates folds the minute rollups of the fields of the
	// pipelines with a bucket at or after since.
	AlertAggregates(ctx context.Context, teamIDs, pipelineIDs []uuid.UUID, fields []string, since time.Time) ([]AlertAggregate, error)
	// AlertStatesOf returns the states of the rules.
	AlertStatesOf(ctx context.Context, teamIDs, ruleIDs []uuid.UUID) ([]AlertState, error)
	// ActiveAlertSilences returns the silences of the teams in force at now.
	ActiveAlertSilences(ctx context.Context, teamIDs []uuid.UUID, now time.Time) ([]AlertSilence, error)
	// AlertChannelsOf returns the channels of the teams.
	AlertChannelsOf(ctx context.Context, teamIDs []uuid.UUID) ([]AlertChannel, error)
	// ApplyAlertEvaluation writes the evaluations of one tick, each in the
	// same transaction as its rule's move to tick: an evaluation whose rule
	// was already evaluated at tick (or is gone) is skipped. It returns how
	// many were applied.
	ApplyAlertEvaluation(ctx context.Context, tick time.Time, evs []AlertEvaluation) (int, error)
}
