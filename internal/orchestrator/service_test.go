package orchestrator_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

const webhookSpec = `{"name":"hook","kind":"webhook"}`

func TestSideEffectsFireOncePerChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		if p.HookToken == "" {
			t.Fatal("an editor sees no webhook token")
		}
		sub := b.subscribe(t, p.ID)
		if n := b.hooks.count(p.ID); n != 0 {
			t.Fatalf("create forgot the hook cache %d times", n)
		}

		steps := []struct {
			name    string
			do      func() (core.Pipeline, error)
			control string // "" for none
		}{
			{"update", func() (core.Pipeline, error) {
				return b.svc.UpdatePipeline(ctx, b.editor, p.ID, 1, []byte(`{"name":"hook2","kind":"webhook"}`))
			}, "updated"},
			{"pause", func() (core.Pipeline, error) { return b.svc.PausePipeline(ctx, b.editor, p.ID) }, "paused"},
			{"resume", func() (core.Pipeline, error) { return b.svc.ResumePipeline(ctx, b.editor, p.ID) }, "resumed"},
			{"rotate", func() (core.Pipeline, error) { return b.svc.RotateHookToken(ctx, b.editor, p.ID) }, ""},
			{"create sink", func() (core.Pipeline, error) {
				np, _, err := b.svc.CreateSink(ctx, b.editor, p.ID, 0, []byte(`{"name":"out","http":{"url":"http://127.0.0.1:1/x"}}`))
				return np, err
			}, "updated"},
			{"update sink", func() (core.Pipeline, error) {
				np, _, err := b.svc.UpdateSink(ctx, b.editor, p.ID, "out", 0, []byte(`{"enabled":false,"http":{"url":"http://127.0.0.1:1/x"}}`))
				return np, err
			}, "updated"},
			{"delete sink", func() (core.Pipeline, error) {
				return core.Pipeline{}, b.svc.DeleteSink(ctx, b.editor, p.ID, "out", 0)
			}, "updated"},
		}
		for i, st := range steps {
			got, err := st.do()
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if n := b.hooks.count(p.ID); n != i+1 {
				t.Fatalf("after %s the hook cache was told %d times, want %d", st.name, n, i+1)
			}
			if st.control != "" {
				c := nextControl(t, sub)
				if c.Event != st.control || c.Pipeline != p.ID || (st.name != "delete sink" && c.Version != got.Version) {
					t.Fatalf("%s: control %+v, want %s of version %d", st.name, c, st.control, got.Version)
				}
			}
			noControl(t, sub)
		}
		if n := b.links.count(); n != 0 {
			t.Fatalf("webhook changes reloaded the p2p links %d times", n)
		}

		// A p2p pipeline links; deleting the upstream reloads the links and
		// tells live streams.
		down := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(`{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"hook2"}}}`)))
		if n := b.links.count(); n != 1 {
			t.Fatalf("creating a p2p pipeline reloaded the links %d times, want 1", n)
		}
		if n := b.hooks.count(down.ID); n != 0 {
			t.Fatalf("creating a pipeline forgot its hooks %d times", n)
		}
		if err := b.svc.DeletePipeline(ctx, b.editor, p.ID); err != nil {
			t.Fatal(err)
		}
		if c := nextControl(t, sub); c.Event != "deleted" {
			t.Fatalf("control after delete = %+v", c)
		}
		noControl(t, sub)
		if n := b.links.count(); n != 2 {
			t.Fatalf("links reloaded %d times after the delete, want 2", n)
		}
		if n := b.hooks.count(p.ID); n != len(steps)+1 {
			t.Fatalf("hook cache told %d times in all, want %d", n, len(steps)+1)
		}
	})
}

// TestGoneSinkTellsLikeAnEdit: a sink whose endpoint answers 410 is
// disabled through the service, with the side effects of an edit made
// through the API.
func TestGoneSinkTellsLikeAnEdit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
		t.Cleanup(gone.Close)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(fmt.Sprintf(
			`{"name":"hook","kind":"webhook","sinks":[{"name":"old","http":{"url":%q}}]}`, gone.URL))))
		sub := b.subscribe(t, p.ID)
		c, err := b.eng.Compiled(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.eng.RunBatch(ctx, p, c, []any{map[string]any{"n": 1}}, core.TriggerManual, nil); err != nil {
			t.Fatal(err)
		}
		ctl := nextControl(t, sub)
		if ctl.Event != "updated" || ctl.Version != 2 {
			t.Fatalf("control after the 410 = %+v, want updated of version 2", ctl)
		}
		if n := b.hooks.count(p.ID); n != 1 {
			t.Fatalf("the 410 forgot the hook cache %d times, want 1", n)
		}
		np, sk, err := b.svc.Sink(ctx, b.viewer, p.ID, "old")
		if err != nil {
			t.Fatal(err)
		}
		if np.Version != 2 || sk.Enabled || sk.Status != core.SinkDisabled || !strings.Contains(sk.Reason, "410") {
			t.Fatalf("after the 410: version %d, sink %+v", np.Version, sk)
		}
	})
}

// whsec is a Standard Webhooks signing secret.
var whsec = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func signedSpec(name, secret string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"kind":"webhook","source":{"webhook":{"signing_secret":%q}}}`, name, secret))
}

func TestSecretDeleteRacesPipelineSave(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		for round := range 6 {
			name := fmt.Sprintf("key-%d", round)
			if _, err := b.svc.CreateSecret(ctx, b.editor, name, []byte(whsec)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 3 {
				wg.Go(func() {
					<-start
					_, err := b.svc.CreatePipeline(ctx, b.editor, signedSpec(fmt.Sprintf("p-%d-%d", round, i), name))
					var oe *orchestrator.Error
					if err != nil && !(errors.As(err, &oe) && errors.Is(err, orchestrator.ErrInvalid)) {
						t.Errorf("save: %v", err)
					}
				})
			}
			wg.Go(func() {
				<-start
				err := b.svc.DeleteSecret(ctx, b.admin, name)
				if err != nil && !errors.Is(err, orchestrator.ErrConflict) {
					t.Errorf("delete: %v", err)
				}
			})
			close(start)
			wg.Wait()
			_, err := b.svc.Secret(ctx, b.viewer, name)
			ps, perr := b.svc.Pipelines(ctx, b.viewer)
			if perr != nil {
				t.Fatal(perr)
			}
			for _, p := range ps {
				if errors.Is(err, core.ErrNotFound) && strings.Contains(string(p.Spec), `"`+name+`"`) {
					t.Fatalf("round %d: pipeline %q refers to the deleted secret %q", round, p.Name, name)
				}
			}
		}
		// A secret in use is refused, naming its users.
		err := b.svc.DeleteSecret(ctx, b.admin, "key-0")
		if !errors.Is(err, orchestrator.ErrConflict) && !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("delete a used secret: %v", err)
		}
	})
}

func TestCreateSinkIsOneWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		states := func() []core.SinkState {
			sts, err := b.st.SinkStates(ctx, p.TeamID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			return sts
		}
		// Refused: a stale version, a missing secret.
		if _, _, err := b.svc.CreateSink(ctx, b.editor, p.ID, 7, []byte(`{"name":"a","http":{"url":"http://127.0.0.1:1/"}}`)); !errors.Is(err, orchestrator.ErrVersionConflict) {
			t.Fatalf("stale version: %v", err)
		}
		_, _, err := b.svc.CreateSink(ctx, b.editor, p.ID, 0, []byte(`{"name":"a","http":{"url":"http://127.0.0.1:1/","signing_secret":"nope"}}`))
		var oe *orchestrator.Error
		if !errors.As(err, &oe) || !errors.Is(err, orchestrator.ErrInvalid) || len(oe.Problems) != 1 || oe.Problems[0].Path != "http.signing_secret" {
			t.Fatalf("missing secret: %v (%+v)", err, oe)
		}
		if sts := states(); len(sts) != 0 {
			t.Fatalf("refused creates left states %+v", sts)
		}
		if cur := mustPipeline(t)(b.svc.Pipeline(ctx, b.viewer, p.ID)); cur.Version != 1 {
			t.Fatalf("refused creates moved the version to %d", cur.Version)
		}
		// A disabled sink: spec and state in the same write.
		np, sk, err := b.svc.CreateSink(ctx, b.editor, p.ID, 1, []byte(`{"name":"a","enabled":false,"http":{"url":"http://127.0.0.1:1/"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if np.Version != 2 || sk.Status != core.SinkDisabled || sk.Reason != "disabled in the pipeline's spec" {
			t.Fatalf("created: version %d, sink %+v", np.Version, sk)
		}
		if sts := states(); len(sts) != 1 || sts[0].Status != core.SinkDisabled {
			t.Fatalf("states = %+v", sts)
		}
		if _, _, err := b.svc.CreateSink(ctx, b.editor, p.ID, 0, []byte(`{"name":"a","http":{"url":"http://127.0.0.1:1/"}}`)); !errors.Is(err, orchestrator.ErrConflict) {
			t.Fatalf("a name taken: %v", err)
		}
	})
}

func TestRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		if _, err := b.svc.CreateSecret(ctx, b.editor, "k", []byte(whsec)); err != nil {
			t.Fatal(err)
		}
		writes := map[string]func(orchestrator.Caller) error{
			"create": func(c orchestrator.Caller) error {
				_, err := b.svc.CreatePipeline(ctx, c, []byte(`{"name":"x","kind":"webhook"}`))
				return err
			},
			"update": func(c orchestrator.Caller) error {
				_, err := b.svc.UpdatePipeline(ctx, c, p.ID, 0, []byte(webhookSpec))
				return err
			},
			"pause":  func(c orchestrator.Caller) error { _, err := b.svc.PausePipeline(ctx, c, p.ID); return err },
			"rotate": func(c orchestrator.Caller) error { _, err := b.svc.RotateHookToken(ctx, c, p.ID); return err },
			"delete": func(c orchestrator.Caller) error { return b.svc.DeletePipeline(ctx, c, p.ID) },
			"create sink": func(c orchestrator.Caller) error {
				_, _, err := b.svc.CreateSink(ctx, c, p.ID, 0, []byte(`{"name":"a","http":{"url":"http://127.0.0.1:1/"}}`))
				return err
			},
			"create secret": func(c orchestrator.Caller) error {
				_, err := b.svc.CreateSecret(ctx, c, "other", []byte("v"))
				return err
			},
			"run now": func(c orchestrator.Caller) error { _, _, err := b.svc.RunNow(ctx, c, p.ID); return err },
			"upload":  func(c orchestrator.Caller) error { _, err := b.svc.UploadTarget(ctx, c, p.ID); return err },
		}
		for name, w := range writes {
			if err := w(b.viewer); !errors.Is(err, orchestrator.ErrForbidden) {
				t.Errorf("viewer %s: err = %v, want forbidden", name, err)
			}
		}
		if err := b.svc.DeleteSecret(ctx, b.editor, "k"); !errors.Is(err, orchestrator.ErrForbidden) {
			t.Errorf("editor deleting a secret: err = %v, want forbidden", err)
		}
		if err := b.svc.DeleteSecret(ctx, orchestrator.Caller{}, "k"); !errors.Is(err, orchestrator.ErrUnauthenticated) {
			t.Errorf("no principal: err = %v", err)
		}
		// A viewer reads, without the webhook token.
		got := mustPipeline(t)(b.svc.Pipeline(ctx, b.viewer, p.ID))
		if got.ID != p.ID || got.HookToken != "" {
			t.Fatalf("viewer's pipeline = %+v", got)
		}
		ps, err := b.svc.Pipelines(ctx, b.viewer)
		if err != nil || len(ps) != 1 || ps[0].HookToken != "" {
			t.Fatalf("viewer's list = %+v, %v", ps, err)
		}
		// and reads the pipeline's history.
		if _, err := b.svc.Records(ctx, b.viewer, p.ID, store.RecordQuery{Limit: 10}); err != nil {
			t.Errorf("viewer's records: %v", err)
		}
		if _, err := b.svc.RejectedRecords(ctx, b.viewer, p.ID, store.RejectedQuery{Limit: 10}); err != nil {
			t.Errorf("viewer's rejected records: %v", err)
		}
		if _, err := b.svc.Runs(ctx, b.viewer, p.ID, store.RunQuery{Limit: 10}); err != nil {
			t.Errorf("viewer's runs: %v", err)
		}
		if _, err := b.svc.StorageStats(ctx, b.viewer, p.ID); err != nil {
			t.Errorf("viewer's storage stats: %v", err)
		}
		if n := b.hooks.count(p.ID); n != 0 {
			t.Fatalf("refused writes told the hook cache %d times", n)
		}
		if got := mustPipeline(t)(b.svc.Pipeline(ctx, b.owner, p.ID)); got.Version != 1 || got.Status != core.StatusActive {
			t.Fatalf("refused writes changed the pipeline: %+v", got)
		}
	})
}

func TestOtherTeamsPipelineIsNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx(t)
		p := mustPipeline(t)(b.svc.CreatePipeline(ctx, b.editor, []byte(webhookSpec)))
		calls := map[string]func() error{
			"get": func() error { _, err := b.svc.Pipeline(ctx, b.stranger, p.ID); return err },
			"update": func() error {
				_, err := b.svc.UpdatePipeline(ctx, b.stranger, p.ID, 0, []byte(webhookSpec))
				return err
			},
			"pause":  func() error { _, err := b.svc.PausePipeline(ctx, b.stranger, p.ID); return err },
			"delete": func() error { return b.svc.DeletePipeline(ctx, b.stranger, p.ID) },
			"sinks":  func() error { _, err := b.svc.Sinks(ctx, b.stranger, p.ID); return err },
			"create sink": func() error {
				_, _, err := b.svc.CreateSink(ctx, b.stranger, p.ID, 0, []byte(`{"name":"a","http":{"url":"http://127.0.0.1:1/"}}`))
				return err
			},
			"schedule": func() error { _, err := b.svc.Schedule(ctx, b.stranger, p.ID); return err },
			"records": func() error {
				_, err := b.svc.Records(ctx, b.stranger, p.ID, store.RecordQuery{Limit: 10})
				return err
			},
			"rejected": func() error {
				_, err := b.svc.RejectedRecords(ctx, b.stranger, p.ID, store.RejectedQuery{Limit: 10})
				return err
			},
			"runs": func() error { _, err := b.svc.Runs(ctx, b.stranger, p.ID, store.RunQuery{Limit: 10}); return err },
			"series": func() error {
				_, err := b.svc.Series(ctx, b.stranger, p.ID, store.SeriesQuery{Field: "n", From: time.Now().Add(-time.Hour), To: time.Now(), Bucket: time.Minute})
				return err
			},
			"storage":       func() error { _, err := b.svc.StorageStats(ctx, b.stranger, p.ID); return err },
			"upload target": func() error { _, err := b.svc.UploadTarget(ctx, b.stranger, p.ID); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, orchestrator.ErrNotFound) || err.Error() != "There is no such pipeline in the team." {
				t.Errorf("%s: err = %v, want not found", name, err)
			}
		}
		// The stranger asking for the team by id is not a member of it.
		in := b.stranger
		in.Team = b.team
		if _, err := b.svc.Pipelines(ctx, in); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("another team's list: err = %v", err)
		}
		if got := mustPipeline(t)(b.svc.Pipeline(ctx, b.viewer, p.ID)); got.Version != 1 || got.Status != core.StatusActive {
			t.Fatalf("another team changed the pipeline: %+v", got)
		}
		if n := b.hooks.count(p.ID); n != 0 {
			t.Fatalf("another team's calls told the hook cache %d times", n)
		}
	})
}
