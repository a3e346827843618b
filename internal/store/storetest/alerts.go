package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["AlertRulesAndChannels"] = testAlertRulesAndChannels
	extra["AlertEvaluationOncePerTick"] = testAlertEvaluationOncePerTick
	extra["AlertSilencesAndNotifications"] = testAlertSilencesAndNotifications
	extra["AlertIsolation"] = testAlertIsolation
}

func newAlertRule(t *testing.T, s store.Store, team, pipe uuid.UUID, name string) store.AlertRule {
	t.Helper()
	return must[store.AlertRule](t)(s.CreateAlertRule(ctx(t), store.AlertRule{
		ID: uuid.Must(uuid.NewV7()), TeamID: team, Name: name, PipelineID: pipe, Enabled: true,
		Spec: json.RawMessage(`{"name":"` + name + `","failing":{}}`), CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}))
}

func newAlertChannel(t *testing.T, s store.Store, team uuid.UUID, name string) store.AlertChannel {
	t.Helper()
	return must[store.AlertChannel](t)(s.CreateAlertChannel(ctx(t), store.AlertChannel{
		ID: uuid.Must(uuid.NewV7()), TeamID: team, Name: name, Kind: "inapp",
		Spec: json.RawMessage(`{"name":"` + name + `","inapp":{}}`), CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}))
}

// evaluation is one rule's outcome at a tick: a state and its transition.
func evaluation(r store.AlertRule, pipe uuid.UUID, from, to string, at time.Time) store.AlertEvaluation {
	tr := store.AlertTransition{ID: uuid.Must(uuid.NewV7()), TeamID: r.TeamID, RuleID: r.ID, RuleName: r.Name, PipelineID: pipe,
		PipelineName: "p", From: from, To: to, At: at, Value: 1, Message: "m", Severity: "warning"}
	return store.AlertEvaluation{TeamID: r.TeamID, RuleID: r.ID,
		States:      []store.AlertState{{RuleID: r.ID, TeamID: r.TeamID, PipelineID: pipe, State: to, Since: at, Value: 1, FiringTransition: tr.ID}},
		Transitions: []store.AlertTransition{tr}}
}

func testAlertRulesAndChannels(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "orders")
	q := newPipeline(t, s, team.ID, "other")

	r := newAlertRule(t, s, team.ID, p.ID, "broken")
	if r.TeamID != team.ID || r.PipelineID != p.ID || !r.Enabled || r.LastTick != nil || r.CreatedAt.IsZero() {
		t.Fatalf("created rule = %+v", r)
	}
	sameJSON(t, r.Spec, []byte(`{"name":"broken","failing":{}}`))
	all := newAlertRule(t, s, team.ID, uuid.Nil, "any")
	if all.PipelineID != uuid.Nil {
		t.Fatalf("a rule on every pipeline came back with pipeline %s", all.PipelineID)
	}
	if _, err := s.CreateAlertRule(c, store.AlertRule{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, Name: "broken", Enabled: true,
		Spec: json.RawMessage(`{}`), CreatedAt: time.Now()}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate rule name: err = %v, want ErrConflict", err)
	}
	if _, err := s.CreateAlertRule(c, store.AlertRule{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, Name: "ghost", PipelineID: uuid.New(), Enabled: true,
		Spec: json.RawMessage(`{}`), CreatedAt: time.Now()}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("rule on a missing pipeline: err = %v, want ErrNotFound", err)
	}
	list := must[[]store.AlertRule](t)(s.AlertRules(c, team.ID))
	if len(list) != 2 || list[0].Name != "any" || list[1].Name != "broken" {
		t.Fatalf("AlertRules = %+v, want any, broken", list)
	}

	// A state, then an update that keeps the scope keeps it; moving the
	// rule to another pipeline starts it over.
	now := time.Now().UTC().Truncate(time.Second)
	if n := must[int](t)(s.ApplyAlertEvaluation(c, now, []store.AlertEvaluation{evaluation(r, p.ID, "ok", "firing", now)})); n != 1 {
		t.Fatalf("applied %d evaluations, want 1", n)
	}
	r.Spec = json.RawMessage(`{"name":"broken","failing":{},"severity":"critical"}`)
	r.UpdatedAt = now
	up := must[store.AlertRule](t)(s.UpdateAlertRule(c, r))
	sameJSON(t, up.Spec, r.Spec)
	if sts := must[[]store.AlertState](t)(s.AlertStates(c, team.ID, r.ID)); len(sts) != 1 || sts[0].State != "firing" {
		t.Fatalf("states after an update in place = %+v", sts)
	}
	r.PipelineID = q.ID
	must[store.AlertRule](t)(s.UpdateAlertRule(c, r))
	if sts := must[[]store.AlertState](t)(s.AlertStates(c, team.ID, r.ID)); len(sts) != 0 {
		t.Fatalf("states after a move = %+v, want none", sts)
	}
	r.Name = "any"
	if _, err := s.UpdateAlertRule(c, r); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("rename onto a taken name: err = %v, want ErrConflict", err)
	}

	// Deleting a rule keeps its history.
	if err := s.DeleteAlertRule(c, team.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlertRule(c, team.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second delete: err = %v, want ErrNotFound", err)
	}
	if h := must[[]store.AlertTransition](t)(s.AlertTransitions(c, team.ID, uuid.Nil, uuid.Nil, 10)); len(h) != 1 || h[0].To != "firing" {
		t.Fatalf("history after delete = %+v", h)
	}

	// Channels: unique names, health, an update resets health.
	ch := newAlertChannel(t, s, team.ID, "ui")
	if ch.Status != "ok" || ch.LastError != "" || ch.LastSent != nil {
		t.Fatalf("created channel = %+v", ch)
	}
	if _, err := s.CreateAlertChannel(c, store.AlertChannel{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, Name: "ui", Kind: "inapp",
		Spec: json.RawMessage(`{}`), CreatedAt: now}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate channel: err = %v, want ErrConflict", err)
	}
	if err := s.SetAlertChannelHealth(c, team.ID, ch.ID, now, "connection refused"); err != nil {
		t.Fatal(err)
	}
	got := must[store.AlertChannel](t)(s.AlertChannel(c, team.ID, ch.ID))
	if got.Status != "failing" || got.LastError != "connection refused" {
		t.Fatalf("after a failed send = %+v", got)
	}
	if err := s.SetAlertChannelHealth(c, team.ID, ch.ID, now, ""); err != nil {
		t.Fatal(err)
	}
	got = must[store.AlertChannel](t)(s.AlertChannel(c, team.ID, ch.ID))
	if got.Status != "ok" || got.LastError != "" || got.LastSent == nil || !got.LastSent.Equal(now) {
		t.Fatalf("after a sent notification = %+v", got)
	}
	must[store.AlertChannel](t)(s.UpdateAlertChannel(c, store.AlertChannel{ID: ch.ID, TeamID: team.ID, Name: "ui2", Kind: "inapp",
		Spec: json.RawMessage(`{"name":"ui2","inapp":{}}`), UpdatedAt: now}))
	if cs := must[[]store.AlertChannel](t)(s.AlertChannels(c, team.ID)); len(cs) != 1 || cs[0].Name != "ui2" {
		t.Fatalf("AlertChannels = %+v", cs)
	}
	if err := s.DeleteAlertChannel(c, team.ID, ch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AlertChannel(c, team.ID, ch.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted channel: err = %v", err)
	}
}

func testAlertEvaluationOncePerTick(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "orders")
	r := newAlertRule(t, s, team.ID, p.ID, "broken")
	off := newAlertRule(t, s, team.ID, p.ID, "off")
	off.Enabled = false
	must[store.AlertRule](t)(s.UpdateAlertRule(c, off))
	tick := time.Now().UTC().Truncate(time.Second)

	due := must[[]store.AlertRule](t)(s.DueAlertRules(c, tick, uuid.Nil, 100))
	if len(due) != 1 || due[0].ID != r.ID {
		t.Fatalf("due rules = %+v, want only the enabled one", due)
	}
	if n := must[int](t)(s.ApplyAlertEvaluation(c, tick, []store.AlertEvaluation{evaluation(r, p.ID, "ok", "pending", tick)})); n != 1 {
		t.Fatalf("first apply = %d, want 1", n)
	}
	// The same tick again (another node) is skipped whole.
	if n := must[int](t)(s.ApplyAlertEvaluation(c, tick, []store.AlertEvaluation{evaluation(r, p.ID, "pending", "firing", tick)})); n != 0 {
		t.Fatalf("second apply of one tick = %d, want 0", n)
	}
	if due := must[[]store.AlertRule](t)(s.DueAlertRules(c, tick, uuid.Nil, 100)); len(due) != 0 {
		t.Fatalf("due after the tick = %+v", due)
	}
	sts := must[[]store.AlertState](t)(s.AlertStatesOf(c, []uuid.UUID{team.ID}, []uuid.UUID{r.ID}))
	if len(sts) != 1 || sts[0].State != "pending" || !sts[0].Since.Equal(tick) {
		t.Fatalf("states = %+v, want pending since the tick", sts)
	}
	next := tick.Add(30 * time.Second)
	if n := must[int](t)(s.ApplyAlertEvaluation(c, next, []store.AlertEvaluation{evaluation(r, p.ID, "pending", "firing", next)})); n != 1 {
		t.Fatalf("next tick = %d, want 1", n)
	}
	h := must[[]store.AlertTransition](t)(s.AlertTransitions(c, team.ID, r.ID, uuid.Nil, 10))
	if len(h) != 2 || h[0].To != "firing" || h[1].To != "pending" {
		t.Fatalf("history = %+v, want firing then pending (newest first)", h)
	}
	if page := must[[]store.AlertTransition](t)(s.AlertTransitions(c, team.ID, r.ID, h[0].ID, 10)); len(page) != 1 || page[0].ID != h[1].ID {
		t.Fatalf("page before the newest = %+v", page)
	}
	one := must[store.AlertTransition](t)(s.AlertTransition(c, team.ID, h[0].ID))
	if one.RuleName != "broken" || one.From != "pending" || !one.At.Equal(next) {
		t.Fatalf("AlertTransition = %+v", one)
	}

	// Facts: the newest stored record's event time.
	facts := must[[]store.AlertPipelineFacts](t)(s.AlertFacts(c, []uuid.UUID{team.ID}))
	if len(facts) != 1 || facts[0].ID != p.ID || facts[0].LastRecordAt != nil {
		t.Fatalf("facts before records = %+v", facts)
	}
	end := tick.Add(-time.Minute)
	writeRecords(t, s, team.ID, p.ID, 1, 3, end)
	facts = must[[]store.AlertPipelineFacts](t)(s.AlertFacts(c, []uuid.UUID{team.ID}))
	if len(facts) != 1 || facts[0].LastRecordAt == nil || facts[0].LastRecordAt.Before(end.Add(-time.Minute)) || facts[0].LastRecordAt.After(end) {
		t.Fatalf("facts after records ending at %s = %+v", end, facts[0].LastRecordAt)
	}
	counts := must[[]store.AlertRunCounts](t)(s.AlertRunCounts(c, []uuid.UUID{team.ID}, []uuid.UUID{p.ID}, time.Time{}))
	if len(counts) != 1 || counts[0].Stored != 3 {
		t.Fatalf("run counts = %+v, want 3 stored", counts)
	}
}

func testAlertSilencesAndNotifications(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "orders")
	r := newAlertRule(t, s, team.ID, p.ID, "broken")
	now := time.Now().UTC().Truncate(time.Second)
	past := must[store.AlertSilence](t)(s.CreateAlertSilence(c, store.AlertSilence{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, RuleID: r.ID,
		Until: now.Add(-time.Minute), Reason: "over", CreatedAt: now}))
	live := must[store.AlertSilence](t)(s.CreateAlertSilence(c, store.AlertSilence{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, PipelineID: p.ID,
		Until: now.Add(time.Hour), Reason: "maintenance", CreatedAt: now}))
	if _, err := s.CreateAlertSilence(c, store.AlertSilence{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, RuleID: uuid.New(),
		Until: now.Add(time.Hour), Reason: "x", CreatedAt: now}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("silence of a missing rule: err = %v, want ErrNotFound", err)
	}
	if ss := must[[]store.AlertSilence](t)(s.AlertSilences(c, team.ID)); len(ss) != 2 || ss[0].ID != live.ID || ss[1].ID != past.ID {
		t.Fatalf("AlertSilences = %+v, want the live one first", ss)
	}
	active := must[[]store.AlertSilence](t)(s.ActiveAlertSilences(c, []uuid.UUID{team.ID}, now))
	if len(active) != 1 || active[0].ID != live.ID || active[0].PipelineID != p.ID || active[0].Reason != "maintenance" || !active[0].Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("active silences = %+v", active)
	}
	if err := s.DeleteAlertSilence(c, team.ID, live.ID); err != nil {
		t.Fatal(err)
	}
	if active := must[[]store.AlertSilence](t)(s.ActiveAlertSilences(c, []uuid.UUID{team.ID}, now)); len(active) != 0 {
		t.Fatalf("active after delete = %+v", active)
	}

	// Notifications: once per transition and repeat; read marks.
	tr := uuid.Must(uuid.NewV7())
	n1 := store.AlertNotification{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, TransitionID: tr, Severity: "critical", Title: "t", Body: "b", CreatedAt: now}
	if ok := must[bool](t)(s.AddAlertNotification(c, n1)); !ok {
		t.Fatal("first notification not added")
	}
	dup := n1
	dup.ID = uuid.Must(uuid.NewV7())
	if ok := must[bool](t)(s.AddAlertNotification(c, dup)); ok {
		t.Fatal("a second notification of one transition and repeat was added")
	}
	rep := dup
	rep.ID, rep.Repeat = uuid.Must(uuid.NewV7()), 1
	if ok := must[bool](t)(s.AddAlertNotification(c, rep)); !ok {
		t.Fatal("a repeat was not added")
	}
	list, unread, err := s.AlertNotifications(c, team.ID, false, 10)
	if err != nil || len(list) != 2 || unread != 2 || list[0].ID != rep.ID {
		t.Fatalf("notifications = %+v, %d, %v", list, unread, err)
	}
	if err := s.MarkAlertNotificationsRead(c, team.ID, []uuid.UUID{n1.ID}, now); err != nil {
		t.Fatal(err)
	}
	list, unread, err = s.AlertNotifications(c, team.ID, true, 10)
	if err != nil || len(list) != 1 || unread != 1 || list[0].ID != rep.ID {
		t.Fatalf("unread after marking one = %+v, %d, %v", list, unread, err)
	}
	if err := s.MarkAlertNotificationsRead(c, team.ID, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, unread, _ := s.AlertNotifications(c, team.ID, true, 10); unread != 0 {
		t.Fatalf("unread after marking all = %d", unread)
	}
}

func testAlertIsolation(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "orders")
	theirs := newPipeline(t, s, other.ID, "theirs")
	r := newAlertRule(t, s, team.ID, p.ID, "broken")
	ch := newAlertChannel(t, s, team.ID, "ui")
	now := time.Now().UTC()
	must[int](t)(s.ApplyAlertEvaluation(c, now, []store.AlertEvaluation{evaluation(r, p.ID, "ok", "firing", now)}))

	if _, err := s.AlertRule(c, other.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team reads the rule: %v", err)
	}
	if _, err := s.AlertChannel(c, other.ID, ch.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team reads the channel: %v", err)
	}
	if err := s.DeleteAlertRule(c, other.ID, r.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team deletes the rule: %v", err)
	}
	if err := s.DeleteAlertChannel(c, other.ID, ch.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team deletes the channel: %v", err)
	}
	if _, err := s.UpdateAlertChannel(c, store.AlertChannel{ID: ch.ID, TeamID: other.ID, Name: "x", Kind: "inapp", Spec: json.RawMessage(`{}`), UpdatedAt: now}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team updates the channel: %v", err)
	}
	// A rule of ours cannot watch their pipeline, nor a silence mute it.
	if _, err := s.CreateAlertRule(c, store.AlertRule{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, Name: "spy", PipelineID: theirs.ID, Enabled: true,
		Spec: json.RawMessage(`{}`), CreatedAt: now}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("rule on another team's pipeline: %v", err)
	}
	if _, err := s.CreateAlertSilence(c, store.AlertSilence{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, PipelineID: theirs.ID,
		Until: now.Add(time.Hour), Reason: "x", CreatedAt: now}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("silence of another team's pipeline: %v", err)
	}
	for what, n := range map[string]int{
		"rules":       len(must[[]store.AlertRule](t)(s.AlertRules(c, other.ID))),
		"states":      len(must[[]store.AlertState](t)(s.AlertStates(c, other.ID, uuid.Nil))),
		"transitions": len(must[[]store.AlertTransition](t)(s.AlertTransitions(c, other.ID, uuid.Nil, uuid.Nil, 10))),
		"channels":    len(must[[]store.AlertChannel](t)(s.AlertChannels(c, other.ID))),
		"facts":       len(must[[]store.AlertPipelineFacts](t)(s.AlertFacts(c, []uuid.UUID{other.ID}))) - 1,
	} {
		if n != 0 {
			t.Errorf("the other team sees %d of our %s", n, what)
		}
	}
	// An evaluation naming the wrong team is not applied.
	wrong := evaluation(r, p.ID, "firing", "resolved", now.Add(time.Minute))
	wrong.TeamID = other.ID
	if n := must[int](t)(s.ApplyAlertEvaluation(c, now.Add(time.Minute), []store.AlertEvaluation{wrong})); n != 0 {
		t.Fatalf("an evaluation under another team was applied (%d)", n)
	}
}
