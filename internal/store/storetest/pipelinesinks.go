package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Writes of a pipeline that must be one transaction with something else:
// its spec and a sink's state; a secret's deletion and the check that no
// pipeline refers to it.

func init() {
	extra["PipelineSecretsChecked"] = testPipelineSecretsChecked
	extra["UpdatePipelineSink"] = testUpdatePipelineSink
	extra["DeleteSecretIfUnused"] = testDeleteSecretIfUnused
	extra["DeleteSecretRacesSaves"] = testDeleteSecretRacesSaves
}

func testPipelineSecretsChecked(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: team.ID, Name: "key", Sealed: []byte{1}}))
	other, _ := newTeam(t, s)
	must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: other.ID, Name: "elsewhere", Sealed: []byte{1}}))

	spec := json.RawMessage(`{"name":"a","kind":"webhook"}`)
	_, err := s.CreatePipeline(c, team.ID, store.NewPipeline{Name: "a", Kind: core.KindWebhook, Spec: spec, Secrets: []string{"key", "missing"}})
	if !errors.Is(err, store.ErrSecretMissing) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("create naming a missing secret: err = %v", err)
	}
	// Another team's secret is missing too.
	if _, err := s.CreatePipeline(c, team.ID, store.NewPipeline{Name: "a", Kind: core.KindWebhook, Spec: spec, Secrets: []string{"elsewhere"}}); !errors.Is(err, store.ErrSecretMissing) {
		t.Fatalf("create naming another team's secret: err = %v", err)
	}
	if ps := must[[]core.Pipeline](t)(s.Pipelines(c, team.ID)); len(ps) != 0 {
		t.Fatalf("a refused create left %d pipelines", len(ps))
	}
	p := must[core.Pipeline](t)(s.CreatePipeline(c, team.ID, store.NewPipeline{Name: "a", Kind: core.KindWebhook, Spec: spec, Secrets: []string{"key"}}))
	_, err = s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: "a", Kind: core.KindWebhook, Spec: spec, Secrets: []string{"gone"}})
	if !errors.Is(err, store.ErrSecretMissing) {
		t.Fatalf("update naming a missing secret: err = %v", err)
	}
	if got := must[core.Pipeline](t)(s.Pipeline(c, team.ID, p.ID)); got.Version != 1 {
		t.Fatalf("a refused update moved the version to %d", got.Version)
	}
}

func testUpdatePipelineSink(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "sinks")
	u := store.PipelineUpdate{Name: p.Name, Kind: p.Kind, Spec: json.RawMessage(`{"name":"sinks","kind":"webhook","sinks":[{"name":"a"}]}`)}

	// A refused update changes no sink state.
	stale := u
	stale.IfVersion = 7
	if _, _, err := s.UpdatePipelineSink(c, team.ID, p.ID, stale, store.SinkChange{Sink: "a", Status: core.SinkActive}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("stale version: err = %v", err)
	}
	missing := u
	missing.Secrets = []string{"nope"}
	if _, _, err := s.UpdatePipelineSink(c, team.ID, p.ID, missing, store.SinkChange{Sink: "a", Status: core.SinkActive}); !errors.Is(err, store.ErrSecretMissing) {
		t.Fatalf("missing secret: err = %v", err)
	}
	if sts := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID)); len(sts) != 0 {
		t.Fatalf("refused updates left sink states %+v", sts)
	}

	u.IfVersion = 1
	np, st, err := s.UpdatePipelineSink(c, team.ID, p.ID, u, store.SinkChange{Sink: "a", Status: core.SinkDisabled, Reason: "off"})
	if err != nil {
		t.Fatal(err)
	}
	if np.Version != 2 || st.Sink != "a" || st.Status != core.SinkDisabled || st.Reason != "off" {
		t.Fatalf("after disabling: pipeline v%d, state %+v", np.Version, st)
	}
	u.IfVersion = 2
	np, st, err = s.UpdatePipelineSink(c, team.ID, p.ID, u, store.SinkChange{Sink: "a", Status: core.SinkActive})
	if err != nil {
		t.Fatal(err)
	}
	if np.Version != 3 || st.Status != core.SinkActive || st.Reason != "" || st.ConsecutiveFailures != 0 {
		t.Fatalf("after enabling: pipeline v%d, state %+v", np.Version, st)
	}
	if sts := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID)); len(sts) != 1 || sts[0].Status != core.SinkActive {
		t.Fatalf("stored states = %+v", sts)
	}
	u.IfVersion = 0
	if _, st, err = s.UpdatePipelineSink(c, team.ID, p.ID, u, store.SinkChange{Sink: "a", Remove: true}); err != nil || st.Sink != "a" {
		t.Fatalf("remove: state %+v, err %v", st, err)
	}
	if sts := must[[]core.SinkState](t)(s.SinkStates(c, team.ID, p.ID)); len(sts) != 0 {
		t.Fatalf("states after remove = %+v", sts)
	}
	// Another team's pipeline is not found, and gets no state.
	other, _ := newTeam(t, s)
	if _, _, err := s.UpdatePipelineSink(c, other.ID, p.ID, u, store.SinkChange{Sink: "b", Status: core.SinkActive}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("other team: err = %v", err)
	}
}

// usersOf names the pipelines whose spec mentions the secret (the
// suite's stand-in for the service's reading of specs).
func usersOf(name string) func([]core.Pipeline) []string {
	return func(ps []core.Pipeline) []string {
		var out []string
		for _, p := range ps {
			if strings.Contains(string(p.Spec), `"secret-`+name+`"`) {
				out = append(out, p.Name)
			}
		}
		return out
	}
}

func specUsing(pipeline, secret string) json.RawMessage {
	return json.RawMessage(`{"name":"` + pipeline + `","kind":"webhook","uses":"secret-` + secret + `"}`)
}

func testDeleteSecretIfUnused(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	for _, tm := range []core.Team{team, other} {
		must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: tm.ID, Name: "key", Sealed: []byte{1}}))
	}
	p := must[core.Pipeline](t)(s.CreatePipeline(c, team.ID, store.NewPipeline{Name: "user", Kind: core.KindWebhook, Spec: specUsing("user", "key"), Secrets: []string{"key"}}))

	users, err := s.DeleteSecretIfUnused(c, team.ID, "key", usersOf("key"))
	if err != nil || len(users) != 1 || users[0] != "user" {
		t.Fatalf("in use: users %v, err %v", users, err)
	}
	must[core.Secret](t)(s.Secret(c, team.ID, "key"))
	// The other team's pipelines do not count, and its secret alone goes.
	if users, err := s.DeleteSecretIfUnused(c, other.ID, "key", usersOf("key")); err != nil || len(users) != 0 {
		t.Fatalf("other team: users %v, err %v", users, err)
	}
	must[core.Secret](t)(s.Secret(c, team.ID, "key"))

	must[core.Pipeline](t)(s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: "user", Kind: core.KindWebhook, Spec: specUsing("user", "none")}))
	if users, err := s.DeleteSecretIfUnused(c, team.ID, "key", usersOf("key")); err != nil || len(users) != 0 {
		t.Fatalf("unused: users %v, err %v", users, err)
	}
	if _, err := s.Secret(c, team.ID, "key"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after delete: err = %v", err)
	}
	if _, err := s.DeleteSecretIfUnused(c, team.ID, "key", usersOf("key")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete twice: err = %v", err)
	}
}

// testDeleteSecretRacesSaves deletes a secret while pipelines that name it
// are saved: afterwards either the secret exists, or no pipeline names it.
func testDeleteSecretRacesSaves(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	for round := range 8 {
		name := "key" + string(rune('a'+round))
		must[core.Secret](t)(s.CreateSecret(c, core.Secret{ID: core.NewID(), TeamID: team.ID, Name: name, Sealed: []byte{1}}))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				pn := name + "-" + string(rune('0'+i))
				_, err := s.CreatePipeline(c, team.ID, store.NewPipeline{Name: pn, Kind: core.KindWebhook, Spec: specUsing(pn, name), Secrets: []string{name}})
				if err != nil && !errors.Is(err, store.ErrSecretMissing) {
					t.Error(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := s.DeleteSecretIfUnused(c, team.ID, name, usersOf(name)); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		_, err := s.Secret(c, team.ID, name)
		users := usersOf(name)(must[[]core.Pipeline](t)(s.Pipelines(c, team.ID)))
		if errors.Is(err, core.ErrNotFound) && len(users) > 0 {
			t.Fatalf("round %d: secret %q deleted while pipelines %v refer to it", round, name, users)
		}
	}
}
