package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// bundle is a Service on a fresh SQLite store with a real engine, and a
// team to make pipelines in.
type bundle struct {
	st    store.Store
	eng   *engine.Engine
	vault *vault.Vault
	svc   *ingest.Service
	team  uuid.UUID
}

func setup(t *testing.T, cfg ingest.Config) *bundle {
	t.Helper()
	return setupOn(t, storetest.Open(t, storetest.SQLite), cfg, nil)
}

// setupOn is setup on st, with now as the service's clock (nil: time.Now).
func setupOn(t *testing.T, st store.Store, cfg ingest.Config, now func() time.Time) *bundle {
	t.Helper()
	ctx := context.Background()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, c, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "Team", Slug: "team-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, secrets.NewBox(secrets.GenerateKey()))
	svc := ingest.New(cfg, ingest.Deps{Store: st, Engine: eng, Secrets: v, Now: now})
	return &bundle{st: st, eng: eng, vault: v, svc: svc, team: team.ID}
}

// pipeline creates a webhook pipeline with the source settings given (JSON)
// and a mapping that requires temperature.
func (b *bundle) pipeline(t *testing.T, name, source string) core.Pipeline {
	t.Helper()
	c, err := compiler.Parse(fmt.Appendf(nil, `{"name": %q, "kind": "webhook", "source": {"webhook": %s},
		"mapping": {"fields": {"temp": {"path": "temperature", "type": "number", "required": true}}}}`, name, source))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := c.Spec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.st.CreatePipeline(t.Context(), b.team, store.NewPipeline{Name: name, Kind: c.Spec.Kind, Spec: doc, HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stored counts a pipeline's records and rejected records.
func (b *bundle) stored(t *testing.T, id uuid.UUID) (records, rejected int) {
	t.Helper()
	rs, err := b.st.Records(t.Context(), b.team, id, store.RecordQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	rj, err := b.st.RejectedRecords(t.Context(), b.team, id, store.RejectedQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs), len(rj)
}

func (b *bundle) accept(t *testing.T, token, body string, header ...string) (ingest.Result, error) {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return b.svc.Accept(t.Context(), token, h, strings.NewReader(body))
}

func TestAccept(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	p := b.pipeline(t, "weather", `{}`)
	for _, tc := range []struct {
		name               string
		body               string
		header             []string
		accepted, rejected int
	}{
		{"object", `{"temperature": 21.5}`, nil, 1, 0},
		{"array with a rejected record", `[{"temperature": 1}, {"temperature": "warm"}]`, nil, 1, 1},
		{"ndjson", "{\"temperature\": 1}\n{\"temperature\": 2}\n", []string{"Content-Type", "application/x-ndjson"}, 2, 0},
		{"empty array", `[]`, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r0, j0 := b.stored(t, p.ID)
			res, err := b.accept(t, p.HookToken, tc.body, tc.header...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != tc.accepted || res.Rejected != tc.rejected {
				t.Fatalf("result %+v, want %d accepted and %d rejected", res, tc.accepted, tc.rejected)
			}
			if (res.RunID == uuid.Nil) != (tc.accepted+tc.rejected == 0) {
				t.Fatalf("run id %s for %d records", res.RunID, tc.accepted+tc.rejected)
			}
			// Accepted means committed.
			if r1, j1 := b.stored(t, p.ID); r1-r0 != tc.accepted || j1-j0 != tc.rejected {
				t.Fatalf("stored %d records and %d rejected", r1-r0, j1-j0)
			}
		})
	}
}

func TestAcceptRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	small := b.pipeline(t, "small", `{"max_body_bytes": 1024}`)
	paused := b.pipeline(t, "paused", `{}`)
	if _, err := b.st.SetPipelineStatus(t.Context(), b.team, paused.ID, core.StatusPaused); err != nil {
		t.Fatal(err)
	}
	b.svc.ForgetPipeline(paused.ID)
	unsigned := b.pipeline(t, "missing secret", `{"signing_secret": "absent"}`)

	for _, tc := range []struct {
		name  string
		token string
		body  string
		check func(error) bool
	}{
		{"implausible token", "x", `{}`, is(ingest.ErrUnknownToken)},
		{"unknown token", strings.Repeat("A", 32), `{}`, is(ingest.ErrUnknownToken)},
		{"paused", paused.HookToken, `{"temperature": 1}`, is(ingest.ErrPaused)},
		{"missing signing secret", unsigned.HookToken, `{"temperature": 1}`, is(ingest.ErrMisconfigured)},
		{"too large", small.HookToken, `{"a": "` + strings.Repeat("x", 2000) + `"}`, as[*ingest.TooLargeError]},
		{"bad json", small.HookToken, `{"temperature": }`, as[*ingest.BadJSONError]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := b.accept(t, tc.token, tc.body)
			if !tc.check(err) {
				t.Fatalf("result %+v, err %v (%T)", res, err, err)
			}
		})
	}
	for _, id := range []uuid.UUID{small.ID, paused.ID, unsigned.ID} {
		if rs, rj := b.stored(t, id); rs+rj != 0 {
			t.Fatalf("refused requests stored %d records and %d rejected", rs, rj)
		}
	}
}

func TestAcceptSignatures(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	key := signature.GenerateSecret()
	if _, err := b.vault.Create(t.Context(), b.team, "hook-key", []byte(key.Encode())); err != nil {
		t.Fatal(err)
	}
	p := b.pipeline(t, "signed", `{"signing_secret": "hook-key", "tolerance": "1m"}`)
	var last ingest.Result
	send := func(id, body string, k signature.Secret) error {
		t.Helper()
		h := http.Header{}
		signature.SetHeaders(h, id, time.Now(), []byte(body), k)
		var err error
		last, err = b.svc.Accept(t.Context(), p.HookToken, h, strings.NewReader(body))
		return err
	}
	body := `{"temperature": 20}`
	if err := send("msg_1", body, key); err != nil {
		t.Fatal(err)
	}
	badSig := func(want error) func(error) bool {
		return func(err error) bool {
			var e *ingest.SignatureError
			return errors.As(err, &e) && errors.Is(err, want)
		}
	}
	for _, tc := range []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"unsigned", func() error { _, err := b.accept(t, p.HookToken, body); return err }(), badSig(signature.ErrMissingHeaders)},
		{"wrong key", send("msg_2", body, signature.GenerateSecret()), badSig(signature.ErrNoMatchingSignature)},
	} {
		if !tc.check(tc.err) {
			t.Errorf("%s: err = %v", tc.name, tc.err)
		}
	}
	// A replayed id with a valid signature is received, not refused: the
	// sender may be retrying after a lost answer. Nothing is stored again.
	if err := send("msg_1", body, key); err != nil || !last.AlreadyReceived || last.Accepted != 0 {
		t.Fatalf("replayed id: result %+v, err %v; want already received", last, err)
	}
	// A verified request that fails later releases its id: the sender's
	// corrected retry is not a replay.
	if err := send("msg_retry", `{"temperature": `, key); !as[*ingest.BadJSONError](err) {
		t.Fatalf("bad body: err = %v", err)
	}
	if err := send("msg_retry", body, key); err != nil {
		t.Fatalf("the corrected retry: %v", err)
	}
	// A rotated secret takes effect once the team is forgotten.
	newKey := signature.GenerateSecret()
	if _, err := b.vault.Rotate(t.Context(), b.team, "hook-key", []byte(newKey.Encode())); err != nil {
		t.Fatal(err)
	}
	b.svc.ForgetTeam(b.team)
	if err := send("msg_3", body, key); !badSig(signature.ErrNoMatchingSignature)(err) {
		t.Fatalf("the old key after rotation: err = %v", err)
	}
	if err := send("msg_4", body, newKey); err != nil {
		t.Fatalf("the new key after rotation: %v", err)
	}
	if rs, _ := b.stored(t, p.ID); rs != 3 {
		t.Fatalf("stored %d records, want the 3 accepted", rs)
	}
}

func TestAcceptRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{Rate: 0.01, Burst: 2})
	p := b.pipeline(t, "limited", `{}`)
	for i := range 2 {
		if _, err := b.accept(t, p.HookToken, `{"temperature": 1}`); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	_, err := b.accept(t, p.HookToken, `{"temperature": 1}`)
	var e *ingest.RateLimitedError
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("over the burst: err = %v, want a RateLimitedError with a wait", err)
	}
	if rs, _ := b.stored(t, p.ID); rs != 2 {
		t.Fatalf("stored %d records, want the 2 accepted", rs)
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func as[T error](err error) bool {
	var e T
	return errors.As(err, &e)
}
