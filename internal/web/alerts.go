package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

// Alerts is what the alerts page needs of the alert service;
// *orchestrator.Alerts is one. Roles are its business: editors manage
// rules and silences and send test notifications, admins manage channels.
type Alerts interface {
	AlertRules(ctx context.Context, who orchestrator.Caller) ([]orchestrator.AlertRule, error)
	CreateAlertRule(ctx context.Context, who orchestrator.Caller, doc json.RawMessage) (orchestrator.AlertRule, error)
	DeleteAlertRule(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	AlertStates(ctx context.Context, who orchestrator.Caller) ([]store.AlertState, error)
	AlertHistory(ctx context.Context, who orchestrator.Caller, ruleID, before uuid.UUID, limit int) ([]store.AlertTransition, error)
	AlertChannels(ctx context.Context, who orchestrator.Caller) ([]store.AlertChannel, error)
	CreateAlertChannel(ctx context.Context, who orchestrator.Caller, doc json.RawMessage) (store.AlertChannel, error)
	DeleteAlertChannel(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	TestAlertChannel(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (store.AlertChannel, error)
	AlertSilences(ctx context.Context, who orchestrator.Caller) ([]store.AlertSilence, error)
	CreateAlertSilence(ctx context.Context, who orchestrator.Caller, ns orchestrator.NewSilence) (store.AlertSilence, error)
	DeleteAlertSilence(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	AlertNotifications(ctx context.Context, who orchestrator.Caller, unreadOnly bool, limit int) ([]store.AlertNotification, int, error)
	MarkAlertNotificationsRead(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) error
}

var _ Alerts = (*orchestrator.Alerts)(nil)

// badgeInterval is how often the navigation's badge of firing alerts
// polls /alerts/badge (htmx, hx-trigger "every"). A poll rather than the
// live list's SSE: the badge is on every page, and one small GET every few
// seconds costs less than a stream per open tab.
const badgeInterval = "5s"

// alertRoutes adds the alerts page's routes; they answer 503 until
// UseAlerts is called.
func (h *Handler) alertRoutes() {
	h.mux.HandleFunc("GET /alerts", h.alertsPage)
	h.mux.HandleFunc("GET /alerts/badge", h.alertsBadge)
	h.mux.HandleFunc("POST /alerts/rules", h.alertForm(createRule))
	h.mux.HandleFunc("POST /alerts/rules/{id}/delete", h.alertForm(deleteRule))
	h.mux.HandleFunc("POST /alerts/channels", h.alertForm(createChannel))
	h.mux.HandleFunc("POST /alerts/channels/{id}/delete", h.alertForm(deleteChannel))
	h.mux.HandleFunc("POST /alerts/channels/{id}/test", h.alertForm(testChannel))
	h.mux.HandleFunc("POST /alerts/silences", h.alertForm(createSilence))
	h.mux.HandleFunc("POST /alerts/silences/{id}/delete", h.alertForm(deleteSilence))
	h.mux.HandleFunc("POST /alerts/notifications/read", h.alertForm(markRead))
}

// UseAlerts gives the pages the alert service (built after the handler
// in the composition root) and adds the Alerts entry, with its badge of
// firing alerts, to the navigation.
func (h *Handler) UseAlerts(a Alerts) {
	h.mu.Lock()
	h.alerts = a
	h.mu.Unlock()
	h.AddNav(NavEntry{Key: "alerts", Label: "Alerts", Href: "/alerts", Badge: "/alerts/badge"})
}

func (h *Handler) alertService() Alerts {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.alerts
}

// alertRank orders states from quiet to loud, for the badge of a
// pipeline watched by several rules.
var alertRank = map[string]int{"": 0, "ok": 1, "resolved": 2, "pending": 3, "firing": 4}

// pipelineAlerts returns the loudest alert state of each pipeline of the
// caller's team ("" where no rule watches it, and for everything when
// alerts are not wired or the read fails: a badge never fails a page).
func (h *Handler) pipelineAlerts(ctx context.Context, who orchestrator.Caller) map[uuid.UUID]string {
	a := h.alertService()
	if a == nil {
		return nil
	}
	states, err := a.AlertStates(ctx, who)
	if err != nil {
		if ctx.Err() == nil {
			h.log.WarnContext(ctx, "alert states for badges", "err", err)
		}
		return nil
	}
	out := map[uuid.UUID]string{}
	for _, s := range states {
		if alertRank[s.State] > alertRank[out[s.PipelineID]] {
			out[s.PipelineID] = s.State
		}
	}
	return out
}

// alertsView is the alerts page.
type alertsView struct {
	CanEdit, CanAdmin bool
	Rules             []ruleRow
	Active            []activeRow
	History           []store.AlertTransition
	Silences          []silenceRow
	Channels          []store.AlertChannel
	Notifications     []store.AlertNotification
	Unread            int
	Pipelines         []orchestrator.Summary
	Now               time.Time
}

type ruleRow struct {
	Rule     orchestrator.AlertRule
	Type     string
	Severity string
	Scope    string
	State    string
}

// activeRow is a rule firing or pending on a pipeline.
type activeRow struct {
	Rule, Pipeline, Severity string
	State                    store.AlertState
}

type silenceRow struct {
	S       store.AlertSilence
	Target  string
	Expired bool
}

func (h *Handler) alertsPage(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	a := h.alertService()
	svc, _ := h.services()
	if a == nil || svc == nil {
		h.unavailable(w, r)
		return
	}
	ctx := r.Context()
	v := alertsView{Now: core.Now(), CanEdit: canEdit(who), CanAdmin: hasRole(who, auth.Admin)}
	rules, err := a.AlertRules(ctx, who)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	if v.Pipelines, err = svc.Summaries(ctx, who); err != nil {
		h.serviceError(w, r, err)
		return
	}
	names := map[uuid.UUID]string{}
	for _, s := range v.Pipelines {
		names[s.Pipeline.ID] = s.Pipeline.Name
	}
	ruleNames := map[uuid.UUID]string{}
	for _, rule := range rules {
		row := ruleRow{Rule: rule, Scope: "every pipeline"}
		ruleNames[rule.ID] = rule.Name
		if rule.Rule != nil {
			row.Type, row.Severity = string(rule.Rule.Type), rule.Rule.Severity
		}
		if rule.PipelineID != uuid.Nil {
			row.Scope = names[rule.PipelineID]
		}
		for _, st := range rule.States {
			if alertRank[st.State] > alertRank[row.State] {
				row.State = st.State
			}
			if st.State == "firing" || st.State == "pending" {
				v.Active = append(v.Active, activeRow{Rule: rule.Name, Pipeline: names[st.PipelineID], Severity: row.Severity, State: st})
			}
		}
		if row.State == "" {
			row.State = "ok"
		}
		if !rule.Enabled {
			row.State = "disabled"
		}
		v.Rules = append(v.Rules, row)
	}
	// Firing first, then pending; the longest-standing first.
	slices.SortStableFunc(v.Active, func(x, y activeRow) int {
		if c := alertRank[y.State.State] - alertRank[x.State.State]; c != 0 {
			return c
		}
		return x.State.Since.Compare(y.State.Since)
	})
	if v.History, err = a.AlertHistory(ctx, who, uuid.Nil, uuid.Nil, 50); err != nil {
		h.serviceError(w, r, err)
		return
	}
	silences, err := a.AlertSilences(ctx, who)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	for _, s := range silences {
		var parts []string
		if s.RuleID != uuid.Nil {
			parts = append(parts, "rule "+orUnknown(ruleNames[s.RuleID]))
		}
		if s.PipelineID != uuid.Nil {
			parts = append(parts, "pipeline "+orUnknown(names[s.PipelineID]))
		}
		v.Silences = append(v.Silences, silenceRow{S: s, Target: strings.Join(parts, " on "), Expired: !s.Until.After(v.Now)})
	}
	if v.Channels, err = a.AlertChannels(ctx, who); err != nil {
		h.serviceError(w, r, err)
		return
	}
	if v.Notifications, v.Unread, err = a.AlertNotifications(ctx, who, false, 20); err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, alertsPage(h.shell(w, r, "Alerts", "alerts"), v))
}

func orUnknown(s string) string {
	if s == "" {
		return "(deleted)"
	}
	return s
}

func hasRole(who orchestrator.Caller, min auth.Role) bool {
	if who.Principal == nil {
		return false
	}
	_, _, err := who.Principal.Require(who.Team, min)
	return err == nil
}

// alertsBadge answers the navigation badge: how many rules fire on how
// many pipelines, polled by every page.
func (h *Handler) alertsBadge(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	firing := 0
	if a := h.alertService(); a != nil {
		states, err := a.AlertStates(r.Context(), who)
		if err != nil && !errors.Is(err, orchestrator.ErrForbidden) && r.Context().Err() == nil {
			h.log.WarnContext(r.Context(), "alert badge", "err", err)
		}
		for _, s := range states {
			if s.State == "firing" {
				firing++
			}
		}
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := alertBadge(firing).Render(r.Context(), w); err != nil && r.Context().Err() == nil {
		h.log.ErrorContext(r.Context(), "render alert badge", "err", err)
	}
}

// alertAction is one form of the alerts page: it calls the service and
// returns the sentence of the flash message.
type alertAction func(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error)

// alertForm serves a form post of the alerts page: the service decides
// (a viewer's post is refused there, 403), then back to the page with a
// flash message saying what happened or what was wrong.
func (h *Handler) alertForm(do alertAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := h.caller(w, r)
		if !ok {
			return
		}
		a := h.alertService()
		if a == nil {
			h.unavailable(w, r)
			return
		}
		if !h.readForm(w, r) {
			return
		}
		msg, err := do(r.Context(), a, who, r)
		if err != nil {
			if errors.Is(err, orchestrator.ErrForbidden) || errors.Is(err, orchestrator.ErrNotFound) {
				h.serviceError(w, r, err)
				return
			}
			if m := userFacing(err); m != "" {
				setFlash(w, h.secure(r), "error", m)
				http.Redirect(w, r, "/alerts", http.StatusSeeOther)
				return
			}
			h.serviceError(w, r, err)
			return
		}
		setFlash(w, h.secure(r), "success", msg)
		http.Redirect(w, r, "/alerts", http.StatusSeeOther)
	}
}

func formID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, &orchestrator.Error{Kind: orchestrator.ErrNotFound, Msg: "There is no such object in the team."}
	}
	return id, nil
}

func createRule(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	doc, err := specJSON(r.PostFormValue("rule"))
	if err != nil {
		return "", err
	}
	rule, err := a.CreateAlertRule(ctx, who, doc)
	return "Alert rule " + rule.Name + " is saved; it is evaluated from the next tick.", err
}

func deleteRule(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	id, err := formID(r)
	if err != nil {
		return "", err
	}
	return "The alert rule is deleted; its history stays.", a.DeleteAlertRule(ctx, who, id)
}

func createChannel(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	doc, err := specJSON(r.PostFormValue("channel"))
	if err != nil {
		return "", err
	}
	c, err := a.CreateAlertChannel(ctx, who, doc)
	return "Channel " + c.Name + " is saved.", err
}

func deleteChannel(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	id, err := formID(r)
	if err != nil {
		return "", err
	}
	return "The channel is deleted.", a.DeleteAlertChannel(ctx, who, id)
}

func testChannel(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	id, err := formID(r)
	if err != nil {
		return "", err
	}
	c, err := a.TestAlertChannel(ctx, who, id)
	if err != nil {
		return "", err
	}
	if c.Status == "failing" {
		return "", &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "The test notification to " + c.Name + " failed: " + c.LastError}
	}
	return "A test notification went to " + c.Name + ".", nil
}

func createSilence(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	ns := orchestrator.NewSilence{Pipeline: r.PostFormValue("pipeline"), Reason: r.PostFormValue("reason")}
	if v := r.PostFormValue("rule_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return "", &orchestrator.Error{Kind: orchestrator.ErrNotFound, Msg: "There is no such alert rule in the team."}
		}
		ns.RuleID = id
	}
	until, err := parseUntil(r.PostFormValue("until"), r.PostFormValue("hours"))
	if err != nil {
		return "", err
	}
	ns.Until = until
	if _, err := a.CreateAlertSilence(ctx, who, ns); err != nil {
		return "", err
	}
	return "Silenced until " + stamp(until) + ".", nil
}

// parseUntil reads the silence form's end: a datetime-local value (UTC),
// or a number of hours from now.
func parseUntil(until, hours string) (time.Time, error) {
	bad := &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "Say until when, as a date and time (UTC) or a number of hours."}
	if until != "" {
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
			if t, err := time.ParseInLocation(layout, until, time.UTC); err == nil {
				return t, nil
			}
		}
		return time.Time{}, bad
	}
	n, err := strconv.ParseFloat(hours, 64)
	if err != nil || n <= 0 || n > 24*366 {
		return time.Time{}, bad
	}
	return core.Now().Add(time.Duration(n * float64(time.Hour))), nil
}

func deleteSilence(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	id, err := formID(r)
	if err != nil {
		return "", err
	}
	return "The silence is over.", a.DeleteAlertSilence(ctx, who, id)
}

func markRead(ctx context.Context, a Alerts, who orchestrator.Caller, r *http.Request) (string, error) {
	return "Every notification is marked read.", a.MarkAlertNotificationsRead(ctx, who, nil)
}
