package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/alert"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

var compiler = pipeline.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))

// receiver is a signed-webhook receiver: it verifies each request's
// Standard Webhooks signature and answers fail 500s before succeeding.
type receiver struct {
	mu     sync.Mutex
	secret signature.Secret
	fail   int
	tries  int
	got    map[string]alert.Notification // by webhook-id
	bad    []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	id := req.Header.Get(signature.HeaderID)
	ts := req.Header.Get(signature.HeaderTimestamp)
	var sec int64
	for _, c := range ts {
		sec = sec*10 + int64(c-'0')
	}
	if want := signature.Sign(r.secret, id, time.Unix(sec, 0), body); req.Header.Get(signature.HeaderSignature) != want {
		r.bad = append(r.bad, id)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var n alert.Notification
	_ = json.Unmarshal(body, &n)
	r.got[id] = n
}

// snapshot returns what the receiver got, under its lock.
func (r *receiver) snapshot() (got []alert.Notification, tries int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.got {
		got = append(got, n)
	}
	return got, r.tries, append([]string(nil), r.bad...)
}

func (r *receiver) byState() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, n := range r.got {
		out[n.State]++
	}
	return out
}

// mailbox is an SMTP server's received messages.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

type smtpSession struct{ mb *mailbox }

func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, string(b))
	s.mb.mu.Unlock()
	return err
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

type bundle struct {
	st       store.Store
	eng      *engine.Engine
	svc      *alert.Service
	alerts   *orchestrator.Alerts
	orch     *orchestrator.Service
	editor   orchestrator.Caller
	admin    orchestrator.Caller
	viewer   orchestrator.Caller
	stranger orchestrator.Caller
	hook     *receiver
	hookURL  string
	mail     *mailbox
	broker   pubsub.Broker
	team     uuid.UUID
}

func setup(t *testing.T, st store.Store) *bundle {
	t.Helper()
	ctx := context.Background()
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateTeam(ctx, store.NewTeam{Name: "O", Slug: "o-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, secrets.NewBox(secrets.GenerateKey()))
	guard := netguard.New(netguard.Config{MaxRedirects: -1, Timeout: time.Minute, DialTimeout: 2 * time.Second,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	t.Cleanup(guard.CloseIdleConnections)

	// The SMTP server.
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{mb: mb}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	svc, err := alert.New(alert.Config{
		Retry: func(int) time.Duration { return 20 * time.Millisecond }, MaxAttempts: 5, SendTimeout: 10 * time.Second,
		SMTP: alert.SMTP{Host: "127.0.0.1", Port: port, From: "alerts@example.com", TLS: "none"},
	}, alert.Deps{Store: st, Secrets: v.Open, HTTP: guard.Client(), Dial: guard.DialContext, CheckURL: guard.CheckURL, Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	orch, err := orchestrator.New(orchestrator.Config{}, orchestrator.Deps{Store: st, Compiler: compiler, Vault: v, Engine: eng, Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := orch.Alerts(orchestrator.AlertsDeps{Store: st, Sender: svc, CheckURL: guard.CheckURL})
	if err != nil {
		t.Fatal(err)
	}
	// Only the notifications are worked by River here: the tests call
	// Evaluate with explicit ticks (the periodic job would use the clock).
	rc := &river.Config{FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond, TestOnly: true,
		Queues: map[string]river.QueueConfig{alert.Queue: {MaxWorkers: 4}}, Workers: river.NewWorkers()}
	svc.Register(rc)
	rc.PeriodicJobs = nil
	client, err := st.NewJobClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Close(stop)
		_ = client.StopAndCancel(stop)
	})

	whsec := signature.GenerateSecret()
	if _, err := v.Create(ctx, team.ID, "hook-key", []byte(whsec.Encode())); err != nil {
		t.Fatal(err)
	}
	hook := &receiver{secret: whsec, got: map[string]alert.Notification{}}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)

	as := func(team uuid.UUID, role auth.Role) orchestrator.Caller {
		return orchestrator.Caller{Principal: &account.Principal{Token: &core.Token{ID: core.NewID(), TeamID: team, Role: role}}}
	}
	return &bundle{st: st, eng: eng, svc: svc, alerts: alerts, orch: orch, hook: hook, hookURL: hs.URL, mail: mb, broker: broker, team: team.ID,
		editor: as(team.ID, auth.Editor), admin: as(team.ID, auth.Admin), viewer: as(team.ID, auth.Viewer), stranger: as(other.ID, auth.Owner)}
}

const weatherSpec = `{"name": "weather", "kind": "webhook", "retention": "2h",
	"mapping": {"fields": {"temp": {"type": "number"}, "city": {"type": "string"}}}}`

func (b *bundle) pipeline(t *testing.T, doc string) core.Pipeline {
	t.Helper()
	p, err := b.orch.CreatePipeline(context.Background(), b.editor, []byte(doc))
	if err != nil {
		t.Fatalf("create pipeline: %v %+v", err, err)
	}
	return p
}

// ingest runs a batch of records through the engine, as a webhook would.
func (b *bundle) ingest(t *testing.T, p core.Pipeline, recs ...any) {
	t.Helper()
	c, err := b.eng.Compiled(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.RunBatch(context.Background(), p, c, recs, core.TriggerWebhook, nil); err != nil {
		t.Fatalf("run batch: %v", err)
	}
}

func (b *bundle) channels(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, doc := range []string{
		`{"name": "hook", "webhook": {"url": "` + b.hookURL + `/alerts", "signing_secret": "hook-key"}}`,
		`{"name": "mail", "email": {"to": ["oncall@example.com"]}}`,
		`{"name": "ui", "inapp": {}}`,
	} {
		if _, err := b.alerts.CreateAlertChannel(ctx, b.admin, json.RawMessage(doc)); err != nil {
			t.Fatalf("create channel %s: %v", doc, err)
		}
	}
}

func (b *bundle) rule(t *testing.T, doc string) orchestrator.AlertRule {
	t.Helper()
	r, err := b.alerts.CreateAlertRule(context.Background(), b.editor, json.RawMessage(doc))
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	return r
}

func (b *bundle) evaluate(t *testing.T, tick time.Time) alert.Result {
	t.Helper()
	res, err := b.svc.Evaluate(context.Background(), tick)
	if err != nil {
		t.Fatalf("evaluate at %s: %v", tick, err)
	}
	return res
}

func (b *bundle) states(t *testing.T, rule uuid.UUID) []string {
	t.Helper()
	ts, err := b.alerts.AlertHistory(context.Background(), b.viewer, rule, uuid.Nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ts) - 1; i >= 0; i-- {
		out = append(out, ts[i].From+">"+ts[i].To)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestThresholdFiresNotifiesOnceAndResolves(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		b.channels(t)
		b.hook.fail = 1 // the first attempt fails: the notification is retried
		p := b.pipeline(t, weatherSpec)
		now := time.Now().UTC()
		b.ingest(t, p, map[string]any{"temp": 40.0, "city": "a", "ts": now.Format(time.RFC3339Nano)},
			map[string]any{"temp": 50.0, "city": "b", "ts": now.Format(time.RFC3339Nano)})
		r := b.rule(t, `{"name": "hot", "pipeline": "weather", "threshold": {"field": "temp", "aggregate": "avg", "op": ">", "value": 30, "window": "10m"},
			"for": "1m", "severity": "critical", "repeat": "5m", "labels": {"team": "ops"}, "channels": ["hook", "mail", "ui"]}`)

		t0 := now.Add(10 * time.Second)
		if res := b.evaluate(t, t0); res.Rules != 1 {
			t.Fatalf("evaluated %d rules, want 1", res.Rules)
		}
		if res := b.evaluate(t, t0); res.Rules != 0 {
			t.Fatalf("a second evaluation of the same tick evaluated %d rules", res.Rules)
		}
		b.evaluate(t, t0.Add(30*time.Second)) // still pending
		b.evaluate(t, t0.Add(time.Minute))    // firing
		b.evaluate(t, t0.Add(90*time.Second)) // firing, no repeat yet
		if got := b.states(t, r.ID); strings.Join(got, " ") != "ok>pending pending>firing" {
			t.Fatalf("transitions = %v", got)
		}
		defer func() {
			if t.Failed() {
				chs, _ := b.alerts.AlertChannels(context.Background(), b.viewer)
				for _, c := range chs {
					t.Logf("channel %s: %s %s", c.Name, c.Status, c.LastError)
				}
				_, tries, _ := b.hook.snapshot()
				t.Logf("hook %v tries %d, mail %d", b.hook.byState(), tries, b.mail.count())
			}
		}()
		waitFor(t, "the firing notification on every channel", func() bool {
			ns, _, _ := b.alerts.AlertNotifications(context.Background(), b.viewer, false, 10)
			return b.hook.byState()["firing"] == 1 && b.mail.count() == 1 && len(ns) == 1
		})
		b.evaluate(t, t0.Add(6*time.Minute+10*time.Second)) // a repeat
		// Past the window no value is left: resolved, then ok.
		b.evaluate(t, t0.Add(11*time.Minute))
		b.evaluate(t, t0.Add(11*time.Minute+30*time.Second))
		if got := b.states(t, r.ID); strings.Join(got, " ") != "ok>pending pending>firing firing>resolved resolved>ok" {
			t.Fatalf("transitions = %v", got)
		}
		waitFor(t, "the repeat and the resolved notifications", func() bool {
			got, _, _ := b.hook.snapshot()
			ns, _, _ := b.alerts.AlertNotifications(context.Background(), b.viewer, false, 10)
			return len(got) == 3 && b.hook.byState()["resolved"] == 1 && b.mail.count() == 3 && len(ns) == 3
		})
		got, tries, bad := b.hook.snapshot()
		if len(bad) > 0 {
			t.Fatalf("bad signatures: %v", bad)
		}
		// Three notifications, one failed attempt retried.
		if tries != 4 {
			t.Fatalf("the receiver got %d requests, want 4 (3 notifications, 1 retry)", tries)
		}
		ns, unread, err := b.alerts.AlertNotifications(context.Background(), b.viewer, false, 10)
		if err != nil || len(ns) != 3 || unread != 3 {
			t.Fatalf("in-app: %d notifications, %d unread, %v", len(ns), unread, err)
		}
		if err := b.alerts.MarkAlertNotificationsRead(context.Background(), b.viewer, nil); err != nil {
			t.Fatal(err)
		}
		if _, unread, _ := b.alerts.AlertNotifications(context.Background(), b.viewer, false, 10); unread != 0 {
			t.Fatalf("unread after marking all read: %d", unread)
		}
		for _, n := range got {
			if n.Labels["team"] != "ops" || n.Rule != "hot" || n.Pipeline != "weather" {
				t.Fatalf("notification = %+v", n)
			}
		}
		// The webhook channel recovered from its failure.
		chs, _ := b.alerts.AlertChannels(context.Background(), b.viewer)
		for _, c := range chs {
			if c.Status != "ok" {
				t.Fatalf("channel %s is %s: %s", c.Name, c.Status, c.LastError)
			}
		}
	})
}

func TestRuleTypesFireAfterPendingAndResolve(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		ctx := context.Background()
		p := b.pipeline(t, weatherSpec)
		now := time.Now().UTC()

		noData := b.rule(t, `{"name": "quiet", "pipeline": "weather", "no_data": {"window": "2m"}, "for": "1m"}`)
		rejected := b.rule(t, `{"name": "rejects", "rejected_ratio": {"window": "5m", "above": 0.3}, "for": "1m"}`)
		failing := b.rule(t, `{"name": "broken", "pipeline": "weather", "failing": {}, "for": "1m"}`)

		// Half of the records are rejected (temp is not a number).
		b.ingest(t, p, map[string]any{"temp": 1.0}, map[string]any{"temp": "x"})
		if _, err := b.st.SetPipelineStatus(ctx, b.team, p.ID, core.StatusFailing); err != nil {
			t.Fatal(err)
		}
		t0 := now.Add(10 * time.Second)
		b.evaluate(t, t0)
		b.evaluate(t, t0.Add(time.Minute))
		for _, r := range []orchestrator.AlertRule{rejected, failing} {
			if got := b.states(t, r.ID); strings.Join(got, " ") != "ok>pending pending>firing" {
				t.Fatalf("%s: transitions = %v", r.Name, got)
			}
		}
		if got := b.states(t, noData.ID); len(got) != 0 {
			t.Fatalf("quiet: transitions = %v while data came", got)
		}
		if _, err := b.st.SetPipelineStatus(ctx, b.team, p.ID, core.StatusActive); err != nil {
			t.Fatal(err)
		}
		// Later: no data for the window, the rejects are out of the window,
		// the pipeline is healthy again.
		t1 := now.Add(10 * time.Minute)
		b.evaluate(t, t1)
		b.evaluate(t, t1.Add(time.Minute))
		if got := b.states(t, noData.ID); strings.Join(got, " ") != "ok>pending pending>firing" {
			t.Fatalf("quiet: transitions = %v", got)
		}
		for _, r := range []orchestrator.AlertRule{rejected, failing} {
			if got := b.states(t, r.ID); strings.Join(got, " ") != "ok>pending pending>firing firing>resolved resolved>ok" {
				t.Fatalf("%s: transitions = %v", r.Name, got)
			}
		}
	})
}

func TestSilenceHoldsAndOtherTeamsSeeNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		ctx := context.Background()
		b.channels(t)
		p := b.pipeline(t, weatherSpec)
		r := b.rule(t, `{"name": "broken", "pipeline": "weather", "failing": {}, "channels": ["hook"]}`)
		if _, err := b.alerts.CreateAlertSilence(ctx, b.editor, orchestrator.NewSilence{Pipeline: "weather", Until: time.Now().Add(time.Hour), Reason: "maintenance"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.SetPipelineStatus(ctx, b.team, p.ID, core.StatusFailing); err != nil {
			t.Fatal(err)
		}
		b.evaluate(t, time.Now().Add(time.Second))
		ts, err := b.alerts.AlertHistory(ctx, b.viewer, r.ID, uuid.Nil, 10)
		if err != nil || len(ts) != 1 || !ts[0].Silenced || ts[0].To != "firing" {
			t.Fatalf("history = %+v, %v; want one silenced firing", ts, err)
		}
		// Nothing was enqueued: the test notification proves the receiver
		// works, and it is the only request it got.
		ch, _ := b.st.AlertChannels(ctx, b.team)
		var hook store.AlertChannel
		for _, c := range ch {
			if c.Name == "hook" {
				hook = c
			}
		}
		got, err := b.alerts.TestAlertChannel(ctx, b.editor, hook.ID)
		if err != nil || got.Status != "ok" {
			t.Fatalf("test notification: %+v, %v", got, err)
		}
		if _, tries, _ := b.hook.snapshot(); tries != 1 {
			t.Fatalf("the receiver got %d requests, want the test one only", tries)
		}

		// Another team's token reads and writes nothing.
		if rs, err := b.alerts.AlertRules(ctx, b.stranger); err != nil || len(rs) != 0 {
			t.Fatalf("stranger rules = %v, %v", rs, err)
		}
		if _, err := b.alerts.AlertRule(ctx, b.stranger, r.ID); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Fatalf("stranger get = %v", err)
		}
		if _, err := b.alerts.UpdateAlertRule(ctx, b.stranger, r.ID, json.RawMessage(`{"name": "x", "failing": {}}`)); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Fatalf("stranger update = %v", err)
		}
		if err := b.alerts.DeleteAlertRule(ctx, b.stranger, r.ID); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Fatalf("stranger delete = %v", err)
		}
		if _, err := b.alerts.CreateAlertRule(ctx, b.stranger, json.RawMessage(`{"name": "x", "pipeline": "`+p.ID.String()+`", "failing": {}}`)); !errors.Is(err, orchestrator.ErrInvalid) {
			t.Fatalf("stranger rule on our pipeline = %v", err)
		}
		if err := b.alerts.DeleteAlertChannel(ctx, b.stranger, hook.ID); !errors.Is(err, orchestrator.ErrNotFound) {
			t.Fatalf("stranger channel delete = %v", err)
		}
		if h, err := b.alerts.AlertHistory(ctx, b.stranger, uuid.Nil, uuid.Nil, 10); err != nil || len(h) != 0 {
			t.Fatalf("stranger history = %v, %v", h, err)
		}
		// Roles: viewers read, editors manage rules, admins channels.
		if _, err := b.alerts.CreateAlertRule(ctx, b.viewer, json.RawMessage(`{"name": "v", "failing": {}}`)); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Fatalf("viewer create rule = %v", err)
		}
		if _, err := b.alerts.CreateAlertChannel(ctx, b.editor, json.RawMessage(`{"name": "e", "inapp": {}}`)); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Fatalf("editor create channel = %v", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.Open(t, storetest.SQLite))
	ctx := context.Background()
	b.pipeline(t, weatherSpec)
	for _, tc := range []struct{ name, doc, path, want string }{
		{"field not produced", `{"name": "x", "pipeline": "weather", "threshold": {"field": "humidity", "op": ">", "value": 1, "window": "5m"}}`,
			"threshold.field", `does not produce a field "humidity"`},
		{"field not numeric", `{"name": "x", "pipeline": "weather", "threshold": {"field": "city", "op": ">", "value": 1, "window": "5m"}}`,
			"threshold.field", "not a number"},
		{"threshold of the wrong type", `{"name": "x", "pipeline": "weather", "threshold": {"field": "temp", "op": ">", "value": "high", "window": "5m"}}`,
			"threshold.value", "must be a number"},
		{"window beyond retention", `{"name": "x", "pipeline": "weather", "threshold": {"field": "temp", "op": ">", "value": 1, "window": "3h"}}`,
			"threshold.window", "longer than pipeline weather keeps its data"},
		{"unknown field", `{"name": "x", "failing": {}, "colour": "red"}`, "colour", "unknown field"},
		{"unknown pipeline", `{"name": "x", "pipeline": "nope", "failing": {}}`, "pipeline", `no pipeline "nope"`},
		{"unknown channel", `{"name": "x", "failing": {}, "channels": ["nope"]}`, "channels[0]", `no alert channel "nope"`},
		{"two conditions", `{"name": "x", "failing": {}, "no_data": {"window": "5m"}}`, "no_data", "one condition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.alerts.CreateAlertRule(ctx, b.editor, json.RawMessage(tc.doc))
			var e *orchestrator.Error
			if !errors.As(err, &e) || !errors.Is(err, orchestrator.ErrInvalid) {
				t.Fatalf("err = %v, want invalid", err)
			}
			for _, p := range e.Problems {
				if p.Path == tc.path && strings.Contains(p.Message, tc.want) {
					return
				}
			}
			t.Fatalf("problems = %v, want %s: …%s…", e.Problems, tc.path, tc.want)
		})
	}
	t.Run("metadata address refused", func(t *testing.T) {
		_, err := b.alerts.CreateAlertChannel(ctx, b.admin, json.RawMessage(`{"name": "meta", "webhook": {"url": "http://169.254.169.254/latest"}}`))
		var e *orchestrator.Error
		if !errors.As(err, &e) || !errors.Is(err, orchestrator.ErrInvalid) || len(e.Problems) != 1 || e.Problems[0].Path != "webhook.url" {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestNoDataReadsTheNewestRecord: a push run that started before the
// window still brings records inside it (runs are windows of traffic);
// no_data looks at the event time of the newest stored record, so it
// stays ok while they come, and fires once they stop.
func TestNoDataReadsTheNewestRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st)
		ctx := context.Background()
		p := b.pipeline(t, weatherSpec)
		quiet := b.rule(t, `{"name": "quiet", "pipeline": "weather", "no_data": {"window": "2m"}}`)
		now := time.Now().UTC().Truncate(time.Second)
		run := core.Run{ID: uuid.Must(uuid.NewV7()), TeamID: b.team, PipelineID: p.ID, Version: 1, Trigger: core.TriggerWebhook,
			StartedAt: now.Add(5 * time.Minute), Duration: 15 * time.Minute, Fetched: 1, Stored: 1}
		if err := b.st.WriteBatch(ctx, &store.Batch{TeamID: b.team, PipelineID: p.ID, Version: 1, Persist: true, Run: run, MergeRun: true,
			Records: []core.Record{{PipelineID: p.ID, TS: now.Add(19 * time.Minute), Version: 1, Data: json.RawMessage(`{"temp":1}`)}}}); err != nil {
			t.Fatal(err)
		}
		// The pipeline is older than the window at these ticks.
		b.evaluate(t, now.Add(20*time.Minute))
		if got := b.states(t, quiet.ID); len(got) != 0 {
			t.Fatalf("transitions = %v while a record came a minute ago in a run started fifteen minutes ago", got)
		}
		b.evaluate(t, now.Add(30*time.Minute))
		if got := b.states(t, quiet.ID); strings.Join(got, " ") != "ok>firing" {
			t.Fatalf("transitions = %v once the records stopped", got)
		}
	})
}
