package graphql_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/graphql"
)

type alertObject struct {
	ID string `json:"id"`
}

// newAlertRule creates a rule of team A (by its admin) and returns its id.
func (f *fixture) newAlertRule(t *testing.T) string {
	t.Helper()
	return decode[alertObject](t, post(t, f.s.URL, f.s.Token, `mutation($r: JSON!) { createAlertRule(rule: $r) { id } }`,
		map[string]any{"r": map[string]any{"name": f.unique("rule"), "pipeline": f.pipeline.ID, "failing": map[string]any{}}}), "createAlertRule").ID
}

// newAlertChannel creates an in-app channel of team A and returns its id.
func (f *fixture) newAlertChannel(t *testing.T) string {
	t.Helper()
	return decode[alertObject](t, post(t, f.s.URL, f.s.Token, `mutation($c: JSON!) { createAlertChannel(channel: $c) { id } }`,
		map[string]any{"c": map[string]any{"name": f.unique("ch"), "inapp": map[string]any{}}}), "createAlertChannel").ID
}

func teamVars(t *testing.T, f *fixture, team string) map[string]any {
	return map[string]any{"team": team}
}

// alertMatrixFields are the alert rows of the role × team matrix: any
// member reads, editors manage rules and silences and test channels,
// admins manage channels.
func alertMatrixFields() []field {
	until := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	ruleVars := func(t *testing.T, f *fixture, team string) map[string]any {
		return map[string]any{"id": f.newAlertRule(t), "team": team}
	}
	chanVars := func(t *testing.T, f *fixture, team string) map[string]any {
		return map[string]any{"id": f.newAlertChannel(t), "team": team}
	}
	return []field{
		{name: "alertRules", query: `query($team: ID) { alertRules(team: $team) { id name type pipelineId severity spec states { state } } }`,
			min: auth.Viewer, vars: teamVars},
		{name: "alertRule", query: `query($id: ID!, $team: ID) { alertRule(id: $id, team: $team) { id name enabled lastTick } }`,
			min: auth.Viewer, vars: ruleVars},
		{name: "alertChannels", query: `query($team: ID) { alertChannels(team: $team) { id name kind status lastError lastSent } }`,
			min: auth.Viewer, vars: teamVars},
		{name: "alertSilences", query: `query($team: ID) { alertSilences(team: $team) { id ruleId pipelineId until reason } }`,
			min: auth.Viewer, vars: teamVars},
		{name: "alertHistory", query: `query($rule: ID, $team: ID) { alertHistory(ruleId: $rule, first: 10, team: $team) { id rule pipeline from to at } }`,
			min: auth.Viewer, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"rule": f.newAlertRule(t), "team": team}
			}},
		{name: "alertNotifications", query: `query($team: ID) { alertNotifications(team: $team, unreadOnly: true) { unread notifications { id title } } }`,
			min: auth.Viewer, vars: teamVars},

		{name: "createAlertRule", query: `mutation($r: JSON!, $team: ID) { createAlertRule(rule: $r, team: $team) { id type } }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"team": team, "r": map[string]any{"name": f.unique("new-rule"), "no_data": map[string]any{"window": "15m"}}}
			}},
		{name: "updateAlertRule", query: `mutation($id: ID!, $r: JSON!, $team: ID) { updateAlertRule(id: $id, rule: $r, team: $team) { severity } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newAlertRule(t), "team": team,
					"r": map[string]any{"name": f.unique("upd"), "failing": map[string]any{}, "severity": "critical"}}
			}},
		{name: "deleteAlertRule", query: `mutation($id: ID!, $team: ID) { deleteAlertRule(id: $id, team: $team) }`, min: auth.Editor, vars: ruleVars},
		{name: "createAlertChannel", query: `mutation($c: JSON!, $team: ID) { createAlertChannel(channel: $c, team: $team) { id kind } }`, min: auth.Admin,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"team": team, "c": map[string]any{"name": f.unique("new-ch"), "inapp": map[string]any{}}}
			}},
		{name: "updateAlertChannel", query: `mutation($id: ID!, $c: JSON!, $team: ID) { updateAlertChannel(id: $id, channel: $c, team: $team) { name } }`,
			min: auth.Admin, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newAlertChannel(t), "team": team, "c": map[string]any{"name": f.unique("renamed"), "inapp": map[string]any{}}}
			}},
		{name: "deleteAlertChannel", query: `mutation($id: ID!, $team: ID) { deleteAlertChannel(id: $id, team: $team) }`, min: auth.Admin, vars: chanVars},
		{name: "testAlertChannel", query: `mutation($id: ID!, $team: ID) { testAlertChannel(id: $id, team: $team) { status lastError } }`,
			min: auth.Editor, vars: chanVars},
		{name: "createAlertSilence", query: `mutation($id: ID!, $team: ID) { createAlertSilence(input: {ruleId: $id, until: "` + until + `", reason: "deploy"}, team: $team) { id until } }`,
			min: auth.Editor, vars: ruleVars},
		{name: "deleteAlertSilence", query: `mutation($id: ID!, $team: ID) { deleteAlertSilence(id: $id, team: $team) }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				s := decode[alertObject](t, post(t, f.s.URL, f.s.Token, `mutation($p: String) { createAlertSilence(input: {pipeline: $p, until: "`+until+`", reason: "r"}) { id } }`,
					map[string]any{"p": f.pipeline.ID}), "createAlertSilence")
				return map[string]any{"id": s.ID, "team": team}
			}},
		{name: "markAlertNotificationsRead", query: `mutation($team: ID) { markAlertNotificationsRead(team: $team) }`, min: auth.Viewer, vars: teamVars},
	}
}

// TestAlertBadInput: the rule problems the REST API answers 422 for are
// INVALID with each problem's path, through GraphQL too.
func TestAlertBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	decode[map[string]any](t, post(t, f.s.URL, f.s.Token, `mutation($s: JSON!) { createPipeline(spec: $s) { id } }`, map[string]any{"s": map[string]any{
		"name": "weather", "kind": "webhook", "retention": "2h",
		"mapping": map[string]any{"fields": map[string]any{"temp": map[string]any{"type": "number"}, "city": map[string]any{"type": "string"}}},
	}}), "createPipeline")
	for _, c := range []struct {
		name string
		rule map[string]any
		path string
		want string
	}{
		{"field not produced", map[string]any{"field": "humidity", "op": ">", "value": 1, "window": "5m"}, "threshold.field", `does not produce a field "humidity"`},
		{"threshold of the wrong type", map[string]any{"field": "temp", "op": ">", "value": "high", "window": "5m"}, "threshold.value", "must be a number"},
		{"window beyond retention", map[string]any{"field": "temp", "op": ">", "value": 1, "window": "3h"}, "threshold.window", "longer than pipeline weather keeps its data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, f.s.URL, f.tokens["editor"], `mutation($r: JSON!) { createAlertRule(rule: $r) { id } }`,
				map[string]any{"r": map[string]any{"name": "x", "pipeline": "weather", "threshold": c.rule}})
			if r.code(t) != graphql.CodeInvalid || !strings.Contains(r.Errors[0].Message, c.want) {
				t.Fatalf("errors %+v, want INVALID naming %q", r.Errors, c.want)
			}
			found := false
			for _, p := range r.Errors[0].Extensions.Problems {
				found = found || p.Path == c.path && strings.Contains(p.Message, c.want)
			}
			if !found {
				t.Fatalf("problems %+v do not hold %s: %s", r.Errors[0].Extensions.Problems, c.path, c.want)
			}
		})
	}
}
