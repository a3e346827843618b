package client_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
)

// TestIdempotentCreate: a create retried with the same key through
// WithIdempotencyKey answers the first result; another request with the
// key is refused.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, backend)
			c, err := client.New(srv.URL, srv.Token)
			must(t, err)
			ctx := client.WithIdempotencyKey(t.Context(), client.NewIdempotencyKey())
			spec := json.RawMessage(`{"name":"once","kind":"webhook"}`)
			first, err := c.CreatePipeline(ctx, spec)
			must(t, err)
			again, err := c.CreatePipeline(ctx, spec)
			must(t, err)
			if again.ID != first.ID || again.IngestURL != first.IngestURL {
				t.Fatalf("the retry created %s, the first %s", again.ID, first.ID)
			}
			_, err = c.CreatePipeline(ctx, json.RawMessage(`{"name":"twice","kind":"webhook"}`))
			wantStatus(t, err, http.StatusUnprocessableEntity)
			ps, err := c.ListPipelines(t.Context())
			must(t, err)
			if len(ps) != 1 {
				t.Fatalf("%d pipelines, want 1", len(ps))
			}
			// Secrets and tokens too.
			sctx := client.WithIdempotencyKey(t.Context(), "secret-1")
			_, err = c.CreateSecret(sctx, "k", "v")
			must(t, err)
			_, err = c.CreateSecret(sctx, "k", "v")
			must(t, err) // not 409: the retry answers the first result
			tctx := client.WithIdempotencyKey(t.Context(), "token-1")
			t1, err := c.CreateToken(tctx, client.TokenRequest{Name: "ci", Role: "viewer"})
			must(t, err)
			t2, err := c.CreateToken(tctx, client.TokenRequest{Name: "ci", Role: "viewer"})
			must(t, err)
			if t1.Secret != t2.Secret || t1.ID != t2.ID {
				t.Fatalf("the retried token differs: %s and %s", t1.ID, t2.ID)
			}
		})
	}
}

// TestErrorsOfAnyRoute: ids that are not UUIDs answer 404 on the routes of
// sinks, deliveries, replays and uploads too, and errors carry the request
// id and located entries.
func TestErrorsOfAnyRoute(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	c, err := client.New(srv.URL, srv.Token)
	must(t, err)
	ctx := t.Context()
	p, err := c.CreatePipeline(ctx, json.RawMessage(`{"name":"e","kind":"webhook"}`))
	must(t, err)
	for name, call := range map[string]func() error{
		"delivery": func() error { _, err := c.Delivery(ctx, p.ID, "s", "nope"); return err },
		"replay":   func() error { _, err := c.Replay(ctx, p.ID, "s", "nope"); return err },
		"upload":   func() error { _, err := c.GetUpload(ctx, p.ID, "nope"); return err },
		"sinks":    func() error { _, err := c.ListSinks(ctx, "nope"); return err },
		"pipeline": func() error { _, err := c.Pipeline(ctx, "12"); return err },
	} {
		err := call()
		if !client.IsNotFound(err) {
			t.Errorf("%s: %v, want 404", name, err)
			continue
		}
		e := err.(*client.Error)
		if e.RequestID == "" || len(e.Errors) == 0 || e.Errors[0].Location == "" {
			t.Errorf("%s: %+v, want a request id and located errors", name, e)
		}
	}
}

// TestBlobFileNotes: a blob sink's file:// URL is written under the
// server's sink root, and the sink says so.
func TestBlobFileNotes(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	c, err := client.New(srv.URL, srv.Token)
	must(t, err)
	ctx := t.Context()
	p, err := c.CreatePipeline(ctx, json.RawMessage(`{"name":"archive","kind":"webhook"}`))
	must(t, err)
	sk, err := c.CreateSink(ctx, p.ID, json.RawMessage(`{"name":"files","blob":{"url":"file:///archive/orders"}}`), 0)
	must(t, err)
	if len(sk.Notes) != 1 || !strings.Contains(sk.Notes[0], "sink root") || !strings.Contains(sk.Notes[0], "/archive/orders") {
		t.Fatalf("notes %q", sk.Notes)
	}
	all, err := c.ListSinks(ctx, p.ID)
	must(t, err)
	if len(all) != 1 || len(all[0].Notes) != 1 {
		t.Fatalf("listed sinks %+v", all)
	}
}
