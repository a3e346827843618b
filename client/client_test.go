package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
)

// env is what the operations of TestEveryOperation share, in order.
type env struct {
	srv       *apptest.Server
	c         *client.Client
	ctx       context.Context
	webhook   *client.Pipeline // a webhook pipeline with a sink
	polling   *client.Pipeline
	delivery  string
	replay    string
	upload    string
	tokenID   string
	otherUser string
	session   *client.Client // signed in with a password
	dashboard string
	rule      string // an alert rule
	channel   string // an alert channel
	silence   string // an alert silence
}

// operation calls one operation of the API through the client.
type operation struct {
	id   string
	call func(t *testing.T, e *env)
}

// operations exercise every documented operation, in an order where each
// finds what it needs.
var operations = []operation{
	{"login", func(t *testing.T, e *env) {
		jar, _ := cookiejar.New(nil)
		s, err := client.New(e.srv.URL, "", client.WithHTTPClient(&http.Client{Jar: jar}))
		must(t, err)
		u, err := s.Login(e.ctx, e.srv.Email, apptest.Password)
		must(t, err)
		if u.Email != e.srv.Email {
			t.Errorf("login: user %+v", u)
		}
		e.session = s
	}},
	{"me", func(t *testing.T, e *env) {
		me, err := e.c.Me(e.ctx)
		must(t, err)
		if me.Token == nil || len(me.Teams) != 1 || me.Teams[0].Slug != "acme" {
			t.Errorf("me (token): %+v", me)
		}
		me, err = e.session.Me(e.ctx)
		must(t, err)
		if me.User == nil || me.User.Email != e.srv.Email {
			t.Errorf("me (session): %+v", me)
		}
	}},
	{"list-teams", func(t *testing.T, e *env) {
		ts, err := e.session.ListTeams(e.ctx)
		must(t, err)
		if len(ts) != 1 || ts[0].Role != "owner" {
			t.Errorf("teams: %+v", ts)
		}
	}},
	{"create-team", func(t *testing.T, e *env) {
		team, err := e.session.CreateTeam(e.ctx, "Second Team")
		must(t, err)
		if team.Slug != "second-team" {
			t.Errorf("team: %+v", team)
		}
	}},
	{"get-team", func(t *testing.T, e *env) {
		team, err := e.c.Team(e.ctx)
		must(t, err)
		if team.ID != e.srv.Team.ID.String() {
			t.Errorf("team: %+v", team)
		}
	}},
	{"add-member", func(t *testing.T, e *env) {
		u, _, err := e.srv.Accounts.CreateUser(e.ctx, "bob@example.com", apptest.Password, "Bobs", "")
		must(t, err)
		e.otherUser = u.ID.String()
		m, err := e.c.AddMember(e.ctx, "bob@example.com", "viewer")
		must(t, err)
		if m.User.Email != "bob@example.com" || m.Role != "viewer" {
			t.Errorf("member: %+v", m)
		}
	}},
	{"update-member", func(t *testing.T, e *env) {
		m, err := e.c.UpdateMember(e.ctx, e.otherUser, "editor")
		must(t, err)
		if m.Role != "editor" {
			t.Errorf("member: %+v", m)
		}
	}},
	{"list-members", func(t *testing.T, e *env) {
		ms, err := e.c.ListMembers(e.ctx)
		must(t, err)
		if len(ms) != 2 {
			t.Errorf("members: %+v", ms)
		}
	}},
	{"remove-member", func(t *testing.T, e *env) {
		must(t, e.c.RemoveMember(e.ctx, e.otherUser))
	}},
	{"create-token", func(t *testing.T, e *env) {
		tok, err := e.c.CreateToken(e.ctx, client.TokenRequest{Name: "ci", Role: "viewer"})
		must(t, err)
		if tok.Secret == "" || tok.Name != "ci" {
			t.Errorf("token: %+v", tok)
		}
		e.tokenID = tok.ID
	}},
	{"list-tokens", func(t *testing.T, e *env) {
		ts, err := e.c.ListTokens(e.ctx)
		must(t, err)
		if len(ts) < 2 {
			t.Errorf("tokens: %+v", ts)
		}
	}},
	{"revoke-token", func(t *testing.T, e *env) { must(t, e.c.RevokeToken(e.ctx, e.tokenID)) }},
	{"create-secret", func(t *testing.T, e *env) {
		s, err := e.c.CreateSecret(e.ctx, "api-key", "s3cr3t-value")
		must(t, err)
		if s.Name != "api-key" {
			t.Errorf("secret: %+v", s)
		}
	}},
	{"list-secrets", func(t *testing.T, e *env) {
		ss, err := e.c.ListSecrets(e.ctx)
		must(t, err)
		if len(ss) != 1 {
			t.Errorf("secrets: %+v", ss)
		}
	}},
	{"get-secret", func(t *testing.T, e *env) {
		_, err := e.c.Secret(e.ctx, "api-key")
		must(t, err)
	}},
	{"rotate-secret", func(t *testing.T, e *env) {
		_, err := e.c.RotateSecret(e.ctx, "api-key", "another-value")
		must(t, err)
	}},
	{"list-source-kinds", func(t *testing.T, e *env) {
		ks, err := e.c.ListSourceKinds(e.ctx)
		must(t, err)
		if len(ks) == 0 || len(ks[0].Settings) == 0 {
			t.Errorf("source kinds %+v", ks)
		}
	}},
	{"list-sink-kinds", func(t *testing.T, e *env) {
		ks, err := e.c.ListSinkKinds(e.ctx)
		must(t, err)
		if len(ks) == 0 {
			t.Error("no sink kinds")
		}
	}},
	{"create-pipeline", func(t *testing.T, e *env) {
		p, err := e.c.CreatePipeline(e.ctx, json.RawMessage(`{"name":"orders","kind":"webhook"}`))
		must(t, err)
		if p.Name != "orders" || p.Version != 1 || p.IngestURL == "" {
			t.Errorf("pipeline: %+v", p)
		}
		e.webhook = p
		p, err = e.c.CreatePipeline(e.ctx, json.RawMessage(`{"name":"weather","kind":"polling","source":{"interval":"1h","http":{"url":"https://api.example.com/v1/obs","auth":{"type":"bearer","secret":"api-key"}}}}`))
		must(t, err)
		e.polling = p
	}},
	{"list-pipelines", func(t *testing.T, e *env) {
		ps, err := e.c.ListPipelines(e.ctx)
		must(t, err)
		if len(ps) != 2 || ps[0].Name != "orders" {
			t.Errorf("pipelines: %+v", ps)
		}
	}},
	{"get-pipeline", func(t *testing.T, e *env) {
		p, err := e.c.Pipeline(e.ctx, e.webhook.ID)
		must(t, err)
		if p.Name != "orders" || !json.Valid(p.Spec) {
			t.Errorf("pipeline: %+v", p)
		}
	}},
	{"update-pipeline", func(t *testing.T, e *env) {
		p, err := e.c.UpdatePipeline(e.ctx, e.webhook.ID, json.RawMessage(`{"name":"orders","kind":"webhook","retention":"7d"}`), e.webhook.Version)
		must(t, err)
		if p.Version != 2 {
			t.Errorf("version %d after update", p.Version)
		}
		// The old version is refused.
		_, err = e.c.UpdatePipeline(e.ctx, e.webhook.ID, json.RawMessage(`{"name":"orders","kind":"webhook"}`), 1)
		wantStatus(t, err, http.StatusConflict)
		p.IngestURL = e.webhook.IngestURL // shown once, at create
		e.webhook = p
	}},
	{"preview-pipeline", func(t *testing.T, e *env) {
		r, err := e.c.PreviewPipeline(e.ctx, client.Preview{Spec: json.RawMessage(`{"name":"p","kind":"webhook"}`), Input: json.RawMessage(`[{"v":1},{"v":2}]`)})
		must(t, err)
		if r.Accepted != 2 {
			t.Errorf("preview: %+v", r)
		}
	}},
	{"create-sink", func(t *testing.T, e *env) {
		rc := receiver(t)
		s, err := e.c.CreateSink(e.ctx, e.webhook.ID, json.RawMessage(`{"name":"out","http":{"url":"`+rc+`"}}`), 0)
		must(t, err)
		if s.Name != "out" || s.Kind != "http" {
			t.Errorf("sink: %+v", s)
		}
	}},
	{"update-sink", func(t *testing.T, e *env) {
		rc := receiver(t)
		_, err := e.c.UpdateSink(e.ctx, e.webhook.ID, "out", json.RawMessage(`{"name":"out","http":{"url":"`+rc+`"}}`), 0)
		must(t, err)
		p, err := e.c.Pipeline(e.ctx, e.webhook.ID)
		must(t, err)
		p.IngestURL = e.webhook.IngestURL
		e.webhook = p
	}},
	{"list-sinks", func(t *testing.T, e *env) {
		ss, err := e.c.ListSinks(e.ctx, e.webhook.ID)
		must(t, err)
		if len(ss) != 1 {
			t.Errorf("sinks: %+v", ss)
		}
	}},
	{"get-sink", func(t *testing.T, e *env) {
		_, err := e.c.Sink(e.ctx, e.webhook.ID, "out")
		must(t, err)
	}},
	{"stream-records", func(t *testing.T, e *env) {
		s, err := e.c.StreamRecords(e.ctx, e.webhook.ID)
		must(t, err)
		defer s.Close()
		ev, err := s.Next()
		must(t, err)
		if ev.Type != client.EventRecent {
			t.Fatalf("first event %q, want recent", ev.Type)
		}
		ingest(t, e.webhook.IngestURL, `[{"v":1},{"v":2},{"v":3}]`)
		ev, err = s.Next()
		must(t, err)
		if ev.Type != client.EventRecords || len(ev.Records) != 3 || ev.Records[0].ID == 0 {
			t.Errorf("event %+v, want the batch of 3 records", ev)
		}
	}},
	{"list-records", func(t *testing.T, e *env) {
		page, err := e.c.Records(e.ctx, e.webhook.ID, client.RecordQuery{Limit: 2})
		must(t, err)
		if len(page.Records) != 2 || page.NextCursor == "" {
			t.Fatalf("page: %+v", page)
		}
		page, err = e.c.Records(e.ctx, e.webhook.ID, client.RecordQuery{Limit: 2, Cursor: page.NextCursor})
		must(t, err)
		if len(page.Records) != 1 {
			t.Errorf("second page: %+v", page)
		}
	}},
	{"list-rejected", func(t *testing.T, e *env) {
		_, err := e.c.RejectedRecords(e.ctx, e.webhook.ID, client.PageQuery{Limit: 10})
		must(t, err)
	}},
	{"list-runs", func(t *testing.T, e *env) {
		runs, err := e.c.Runs(e.ctx, e.webhook.ID, client.PageQuery{})
		must(t, err)
		if len(runs.Runs) == 0 || runs.Runs[0].Stored != 3 {
			t.Errorf("runs: %+v", runs)
		}
	}},
	{"pipeline-series", func(t *testing.T, e *env) {
		s, err := e.c.Series(e.ctx, e.webhook.ID, client.SeriesQuery{Field: "v", Agg: "sum", Bucket: "1h"})
		must(t, err)
		var sum float64
		for _, p := range s.Points {
			sum += p.V
		}
		if sum != 6 {
			t.Errorf("series: %+v", s)
		}
	}},
	{"pipeline-storage", func(t *testing.T, e *env) {
		s, err := e.c.Storage(e.ctx, e.webhook.ID)
		must(t, err)
		if s.Records != 3 {
			t.Errorf("storage: %+v", s)
		}
	}},
	{"list-deliveries", func(t *testing.T, e *env) {
		var page *client.DeliveryPage
		var err error
		waitFor(t, "a delivery", func() bool {
			page, err = e.c.Deliveries(e.ctx, e.webhook.ID, "out", client.DeliveryQuery{})
			must(t, err)
			return len(page.Deliveries) > 0
		})
		e.delivery = page.Deliveries[0].ID
	}},
	{"get-delivery", func(t *testing.T, e *env) {
		d, err := e.c.Delivery(e.ctx, e.webhook.ID, "out", e.delivery)
		must(t, err)
		if d.Records != 3 {
			t.Errorf("delivery: %+v", d)
		}
	}},
	{"retry-delivery", func(t *testing.T, e *env) {
		// A delivered delivery cannot be retried: the client reports the
		// server's refusal as an *Error; a pending one is retried.
		_, err := e.c.RetryDelivery(e.ctx, e.webhook.ID, "out", e.delivery)
		var apiErr *client.Error
		if err != nil && (!errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict) {
			t.Errorf("retry: %v", err)
		}
	}},
	{"start-replay", func(t *testing.T, e *env) {
		now := time.Now()
		r, err := e.c.StartReplay(e.ctx, e.webhook.ID, "out", client.ReplayRequest{From: now.Add(-time.Hour), To: now.Add(time.Minute)})
		must(t, err)
		e.replay = r.ID
	}},
	{"list-replays", func(t *testing.T, e *env) {
		rs, err := e.c.ListReplays(e.ctx, e.webhook.ID, "out")
		must(t, err)
		if len(rs) != 1 {
			t.Errorf("replays: %+v", rs)
		}
	}},
	{"get-replay", func(t *testing.T, e *env) {
		_, err := e.c.Replay(e.ctx, e.webhook.ID, "out", e.replay)
		must(t, err)
	}},
	{"delete-sink", func(t *testing.T, e *env) { must(t, e.c.DeleteSink(e.ctx, e.webhook.ID, "out", 0)) }},
	{"create-upload", func(t *testing.T, e *env) {
		file := "{\"v\":10}\n{\"v\":20}\n"
		var mu sync.Mutex
		var last client.UploadProgress
		u, err := e.c.Upload(e.ctx, e.webhook.ID, strings.NewReader(file), client.UploadOptions{
			Filename: "more.ndjson", Size: int64(len(file)),
			Progress: func(p client.UploadProgress) { mu.Lock(); last = p; mu.Unlock() },
		})
		must(t, err)
		if last.Sent != int64(len(file)) || last.Total != int64(len(file)) {
			t.Errorf("last progress %+v, want all %d bytes", last, len(file))
		}
		var rows int64
		u, err = e.c.WaitUpload(e.ctx, e.webhook.ID, u.ID, 20*time.Millisecond, func(p client.UploadProgress) { rows = p.RowsDone })
		must(t, err)
		if u.Status != "done" || u.Accepted != 2 || rows != 2 {
			t.Errorf("upload: %+v (progress rows %d)", u, rows)
		}
		e.upload = u.ID
	}},
	{"list-uploads", func(t *testing.T, e *env) {
		us, err := e.c.ListUploads(e.ctx, e.webhook.ID, 10)
		must(t, err)
		if len(us) != 1 {
			t.Errorf("uploads: %+v", us)
		}
	}},
	{"get-upload", func(t *testing.T, e *env) {
		_, err := e.c.GetUpload(e.ctx, e.webhook.ID, e.upload)
		must(t, err)
	}},
	{"get-upload-file", func(t *testing.T, e *env) {
		// The server deletes a file once its upload is done: the client
		// reports that as a 410 *Error.
		f, err := e.c.UploadFile(e.ctx, e.webhook.ID, e.upload)
		if err == nil {
			f.Close()
		}
		wantStatus(t, err, http.StatusGone)
	}},
	{"create-dashboard", func(t *testing.T, e *env) {
		d, err := e.c.CreateDashboard(e.ctx, json.RawMessage(`{"name":"ops","widgets":[{"kind":"stat","series":[{"pipeline":"`+
			e.webhook.ID+`","field":"n"}]},{"kind":"table","x":3,"pipeline":"`+e.webhook.ID+`"}]}`))
		must(t, err)
		if d.Version != 1 || len(d.Pipelines) != 1 || d.Pipelines[0].ID != e.webhook.ID {
			t.Fatalf("created %+v", d)
		}
		e.dashboard = d.ID
	}},
	{"list-dashboards", func(t *testing.T, e *env) {
		ds, err := e.c.ListDashboards(e.ctx)
		must(t, err)
		if len(ds) != 1 || ds[0].ID != e.dashboard {
			t.Errorf("dashboards: %+v", ds)
		}
	}},
	{"get-dashboard", func(t *testing.T, e *env) {
		d, err := e.c.Dashboard(e.ctx, e.dashboard)
		must(t, err)
		if d.Name != "ops" || len(d.Missing) != 0 {
			t.Errorf("dashboard: %+v", d)
		}
	}},
	{"update-dashboard", func(t *testing.T, e *env) {
		d, err := e.c.UpdateDashboard(e.ctx, e.dashboard, json.RawMessage(`{"name":"ops2","widgets":[{"kind":"table","pipeline":"`+e.webhook.ID+`"}]}`), 1)
		must(t, err)
		if d.Version != 2 || d.Name != "ops2" {
			t.Errorf("updated: %+v", d)
		}
		_, err = e.c.UpdateDashboard(e.ctx, e.dashboard, json.RawMessage(`{"name":"ops3","widgets":[]}`), 1)
		wantStatus(t, err, http.StatusConflict)
	}},
	{"dashboard-data", func(t *testing.T, e *env) {
		d, err := e.c.DashboardData(e.ctx, e.dashboard, time.Time{}, time.Time{})
		must(t, err)
		if d.Version != 2 || len(d.Widgets) != 1 || d.Widgets[0].Kind != "table" || d.Widgets[0].MissingPipeline {
			t.Errorf("data: %+v", d)
		}
	}},
	{"delete-dashboard", func(t *testing.T, e *env) {
		must(t, e.c.DeleteDashboard(e.ctx, e.dashboard))
		_, err := e.c.Dashboard(e.ctx, e.dashboard)
		if !client.IsNotFound(err) {
			t.Errorf("get after delete: %v", err)
		}
	}},
	{"rotate-pipeline-token", func(t *testing.T, e *env) {
		p, err := e.c.RotatePipelineToken(e.ctx, e.webhook.ID)
		must(t, err)
		if p.IngestURL == "" || p.IngestURL == e.webhook.IngestURL {
			t.Errorf("the ingest URL %q did not change", p.IngestURL)
		}
		e.webhook.IngestURL = p.IngestURL // shown once, here
	}},
	{"run-pipeline", func(t *testing.T, e *env) {
		r, err := e.c.RunPipeline(e.ctx, e.polling.ID)
		must(t, err)
		if r.Pipeline != e.polling.ID {
			t.Errorf("run: %+v", r)
		}
	}},
	{"get-pipeline-schedule", func(t *testing.T, e *env) {
		s, err := e.c.Schedule(e.ctx, e.polling.ID)
		must(t, err)
		if s.Interval != "1h" { // as the spec says it
			t.Errorf("schedule: %+v", s)
		}
	}},
	{"create-alert-channel", func(t *testing.T, e *env) {
		ch, err := e.c.CreateAlertChannel(e.ctx, json.RawMessage(`{"name": "ui", "inapp": {}}`))
		must(t, err)
		e.channel = ch.ID
		_, err = e.c.CreateAlertChannel(e.ctx, json.RawMessage(`{"name": "meta", "webhook": {"url": "http://169.254.169.254/x"}}`))
		wantStatus(t, err, http.StatusUnprocessableEntity)
	}},
	{"list-alert-channels", func(t *testing.T, e *env) {
		cs, err := e.c.ListAlertChannels(e.ctx)
		must(t, err)
		if len(cs) != 1 || cs[0].Kind != "inapp" {
			t.Errorf("channels %+v", cs)
		}
	}},
	{"get-alert-channel", func(t *testing.T, e *env) {
		_, err := e.c.AlertChannel(e.ctx, e.channel)
		must(t, err)
	}},
	{"update-alert-channel", func(t *testing.T, e *env) {
		ch, err := e.c.UpdateAlertChannel(e.ctx, e.channel, json.RawMessage(`{"name": "ui", "inapp": {}}`))
		must(t, err)
		if ch.Status != "ok" {
			t.Errorf("channel %+v", ch)
		}
	}},
	{"test-alert-channel", func(t *testing.T, e *env) {
		ch, err := e.c.TestAlertChannel(e.ctx, e.channel)
		must(t, err)
		if ch.Status != "ok" || ch.LastSent == nil {
			t.Errorf("channel after a test %+v", ch)
		}
	}},
	{"list-alert-notifications", func(t *testing.T, e *env) {
		ns, err := e.c.AlertNotifications(e.ctx, true, 0)
		must(t, err)
		if ns.Unread != 1 || len(ns.Notifications) != 1 {
			t.Errorf("notifications %+v", ns)
		}
	}},
	{"read-alert-notifications", func(t *testing.T, e *env) {
		must(t, e.c.MarkAlertNotificationsRead(e.ctx))
		ns, err := e.c.AlertNotifications(e.ctx, false, 0)
		must(t, err)
		if ns.Unread != 0 {
			t.Errorf("unread after reading all: %d", ns.Unread)
		}
	}},
	{"create-alert-rule", func(t *testing.T, e *env) {
		r, err := e.c.CreateAlertRule(e.ctx, json.RawMessage(`{"name": "broken", "pipeline": "`+e.polling.ID+`", "failing": {}, "channels": ["ui"]}`))
		must(t, err)
		e.rule = r.ID
		_, err = e.c.CreateAlertRule(e.ctx, json.RawMessage(`{"name": "x", "threshold": {"field": "t", "op": ">", "value": "high", "window": "5m"}}`))
		wantStatus(t, err, http.StatusUnprocessableEntity)
	}},
	{"list-alert-rules", func(t *testing.T, e *env) {
		rs, err := e.c.ListAlertRules(e.ctx)
		must(t, err)
		if len(rs) != 1 || rs[0].Type != "failing" {
			t.Errorf("rules %+v", rs)
		}
	}},
	{"get-alert-rule", func(t *testing.T, e *env) {
		_, err := e.c.AlertRule(e.ctx, e.rule)
		must(t, err)
	}},
	{"update-alert-rule", func(t *testing.T, e *env) {
		r, err := e.c.UpdateAlertRule(e.ctx, e.rule, json.RawMessage(`{"name": "broken", "failing": {}, "severity": "critical"}`))
		must(t, err)
		if r.Severity != "critical" || r.PipelineID != "" {
			t.Errorf("rule %+v", r)
		}
	}},
	{"list-alert-states", func(t *testing.T, e *env) {
		_, err := e.c.ListAlertStates(e.ctx)
		must(t, err)
	}},
	{"list-alert-history", func(t *testing.T, e *env) {
		_, err := e.c.AlertHistory(e.ctx, e.rule, "", 10)
		must(t, err)
	}},
	{"create-alert-silence", func(t *testing.T, e *env) {
		s, err := e.c.CreateAlertSilence(e.ctx, client.AlertSilenceRequest{RuleID: e.rule, Until: time.Now().Add(time.Hour), Reason: "maintenance"})
		must(t, err)
		e.silence = s.ID
	}},
	{"list-alert-silences", func(t *testing.T, e *env) {
		ss, err := e.c.ListAlertSilences(e.ctx)
		must(t, err)
		if len(ss) != 1 {
			t.Errorf("silences %+v", ss)
		}
	}},
	{"delete-alert-silence", func(t *testing.T, e *env) { must(t, e.c.DeleteAlertSilence(e.ctx, e.silence)) }},
	{"delete-alert-rule", func(t *testing.T, e *env) { must(t, e.c.DeleteAlertRule(e.ctx, e.rule)) }},
	{"delete-alert-channel", func(t *testing.T, e *env) { must(t, e.c.DeleteAlertChannel(e.ctx, e.channel)) }},
	{"pause-pipeline", func(t *testing.T, e *env) {
		p, err := e.c.PausePipeline(e.ctx, e.polling.ID)
		must(t, err)
		if p.Status != "paused" {
			t.Errorf("status %q", p.Status)
		}
	}},
	{"resume-pipeline", func(t *testing.T, e *env) {
		p, err := e.c.ResumePipeline(e.ctx, e.polling.ID)
		must(t, err)
		if p.Status == "paused" {
			t.Errorf("status %q", p.Status)
		}
	}},
	{"post-hook", func(t *testing.T, e *env) {
		res, err := e.c.Ingest(e.ctx, e.webhook.IngestURL, []map[string]int{{"v": 9}})
		must(t, err)
		if res.Accepted != 1 || res.Rejected != 0 {
			t.Errorf("ingest: %+v", res)
		}
		_, err = e.c.Ingest(e.ctx, e.srv.URL+"/hooks/nope", map[string]int{"v": 1})
		wantStatus(t, err, http.StatusNotFound)
	}},
	{"delete-pipeline", func(t *testing.T, e *env) {
		must(t, e.c.DeletePipeline(e.ctx, e.polling.ID))
		_, err := e.c.Pipeline(e.ctx, e.polling.ID)
		if !client.IsNotFound(err) {
			t.Errorf("get after delete: %v", err)
		}
	}},
	{"delete-secret", func(t *testing.T, e *env) { must(t, e.c.DeleteSecret(e.ctx, "api-key")) }},
	{"get-cluster", func(t *testing.T, e *env) {
		// A team token is no instance administrator; the first user is.
		_, err := e.c.Cluster(e.ctx)
		wantStatus(t, err, http.StatusForbidden)
		cl, err := e.session.Cluster(e.ctx)
		must(t, err)
		if len(cl.Nodes) != 1 || cl.Nodes[0].ID != cl.Self || !cl.Nodes[0].Self || cl.HeartbeatSeconds <= 0 {
			t.Errorf("cluster: %+v", cl)
		}
	}},
	{"logout", func(t *testing.T, e *env) {
		must(t, e.session.Logout(e.ctx))
		_, err := e.session.Me(e.ctx)
		wantStatus(t, err, http.StatusUnauthorized)
	}},
}

// TestEveryOperation calls every operation of the OpenAPI document through
// the client against a real server, on both backends.
func TestEveryOperation(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, backend, allowLoopback)
			c, err := client.New(srv.URL, srv.Token)
			must(t, err)
			ops := documentOperations(t, srv.URL)
			tested := map[string]bool{}
			e := &env{srv: srv, c: c, ctx: t.Context()}
			for _, op := range operations {
				tested[op.id] = true
				if !t.Run(op.id, func(t *testing.T) { op.call(t, e) }) {
					t.Fatalf("operation %s failed; the ones after it depend on it", op.id)
				}
			}
			for id := range ops {
				if !tested[id] {
					t.Errorf("operation %s of the OpenAPI document is not exercised through the client", id)
				}
			}
			for id := range tested {
				if _, ok := ops[id]; !ok {
					t.Errorf("the test exercises operation %s, which the OpenAPI document does not have", id)
				}
			}
		})
	}
}

func allowLoopback(c *config.Config) { c.AllowNetworks = "127.0.0.0/8" }

// TestErrors: the server's problems decode into *client.Error with the
// status, detail, errors[] and request id; a server that is down gives an
// error naming it.
func TestErrors(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	c, err := client.New(srv.URL, srv.Token)
	must(t, err)
	ctx := t.Context()

	_, err = c.Pipeline(ctx, "00000000-0000-0000-0000-000000000000")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Detail == "" || apiErr.RequestID == "" {
		t.Errorf("missing pipeline: %#v", err)
	}
	if !client.IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}

	_, err = c.CreatePipeline(ctx, json.RawMessage(`{"name":"x","kind":"webhook","retention":"forever and ever","persist":"yes"}`))
	if !errors.As(err, &apiErr) || apiErr.Status != 422 || len(apiErr.Errors) == 0 {
		t.Fatalf("invalid spec: %#v", err)
	}
	for _, d := range apiErr.Errors {
		if !strings.HasPrefix(d.Location, "body") || d.Message == "" {
			t.Errorf("error detail %+v", d)
		}
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "422") {
		t.Errorf("Error() = %q", err.Error())
	}

	viewer, err := client.New(srv.URL, srv.NewToken(t, auth.Viewer))
	must(t, err)
	_, err = viewer.CreatePipeline(ctx, json.RawMessage(`{"name":"x","kind":"webhook"}`))
	wantStatus(t, err, http.StatusForbidden)

	anon, err := client.New(srv.URL, "trb_not-a-token")
	must(t, err)
	_, err = anon.Me(ctx)
	wantStatus(t, err, http.StatusUnauthorized)

	down, err := client.New("http://127.0.0.1:1", srv.Token)
	must(t, err)
	_, err = down.ListPipelines(ctx)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "\n") {
		t.Errorf("server down: %v", err)
	}
	if _, err := client.New("localhost:8080", ""); err == nil {
		t.Error("a URL without scheme was taken")
	}
}

// TestFollow: Follow delivers batches and ends when the pipeline is
// deleted.
func TestFollow(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	c, err := client.New(srv.URL, srv.Token)
	must(t, err)
	ctx := t.Context()
	p, err := c.CreatePipeline(ctx, json.RawMessage(`{"name":"f","kind":"webhook"}`))
	must(t, err)
	var got []int64
	err = c.Follow(ctx, p.ID, client.FollowOptions{}, func(ev client.StreamEvent) error {
		switch ev.Type {
		case client.EventRecent:
			ingest(t, p.IngestURL, `{"v":1}`)
		case client.EventRecords:
			for _, r := range ev.Records {
				got = append(got, r.ID)
			}
			must(t, c.DeletePipeline(ctx, p.ID))
		}
		return nil
	})
	if err != nil || len(got) != 1 {
		t.Errorf("Follow = %v, records %v", err, got)
	}
	err = c.Follow(ctx, p.ID, client.FollowOptions{}, func(client.StreamEvent) error { return nil })
	if !client.IsNotFound(err) {
		t.Errorf("Follow of a deleted pipeline = %v, want 404", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != status {
		t.Errorf("error %v, want status %d", err, status)
	}
}

// ingest posts body to a webhook pipeline's ingest URL.
func ingest(t *testing.T, url, body string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	must(t, err)
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("ingest: %d %s", res.StatusCode, b)
	}
}

// receiver is an HTTP sink destination that acknowledges everything.
func receiver(t *testing.T) string {
	t.Helper()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(rc.Close)
	return rc.URL
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// documentOperations fetches the OpenAPI document and returns its
// operations by id.
func documentOperations(t *testing.T, base string) map[string]docOperation {
	t.Helper()
	doc := fetchDocument(t, base)
	ops := map[string]docOperation{}
	for path, item := range doc.Paths {
		for method, op := range item {
			op.Method, op.Path = strings.ToUpper(method), path
			ops[op.OperationID] = op
		}
	}
	return ops
}

type openAPI struct {
	Paths      map[string]map[string]docOperation `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

type docOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
	Method, Path string `json:"-"`
}

type schema struct {
	Ref        string             `json:"$ref"`
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
}

func fetchDocument(t *testing.T, base string) openAPI {
	t.Helper()
	res, err := http.Get(base + "/api/v1/openapi.json")
	must(t, err)
	defer res.Body.Close()
	var doc openAPI
	b, _ := io.ReadAll(res.Body)
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		t.Fatalf("decode the OpenAPI document: %v", err)
	}
	return doc
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
