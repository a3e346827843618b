package ingest_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// clock is a settable clock for the service and the signer.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// signedSender signs bodies for one pipeline with its key at the clock's
// time.
type signedSender struct {
	t     *testing.T
	svc   *ingest.Service
	token string
	key   signature.Secret
	clk   *clock
}

func (s signedSender) send(id, body string) (ingest.Result, error) {
	s.t.Helper()
	h := http.Header{}
	signature.SetHeaders(h, id, s.clk.now(), []byte(body), s.key)
	return s.svc.Accept(s.t.Context(), s.token, h, strings.NewReader(body))
}

func signedPipeline(t *testing.T, b *bundle, name string) (core.Pipeline, signature.Secret) {
	t.Helper()
	key := signature.GenerateSecret()
	if _, err := b.vault.Create(t.Context(), b.team, name+"-key", []byte(key.Encode())); err != nil {
		t.Fatal(err)
	}
	return b.pipeline(t, name, `{"signing_secret": "`+name+`-key", "tolerance": "1m"}`), key
}

// Issue 11, defect 4: seen webhook-ids are kept in the store, per
// pipeline, for the tolerance window.
func TestReplayProtectionIsDurable(t *testing.T) {
	t.Parallel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, backend)
			clk := &clock{}
			clk.set(time.Now().Truncate(time.Second))
			b := setupOn(t, st, ingest.Config{}, clk.now)
			p, key := signedPipeline(t, b, "signed")
			s := signedSender{t: t, svc: b.svc, token: p.HookToken, key: key, clk: clk}
			body := `{"temperature": 20}`

			if res, err := s.send("msg_1", body); err != nil || res.AlreadyReceived || res.Accepted != 1 {
				t.Fatalf("first: %+v, %v", res, err)
			}
			// A restart: a new service (empty caches) on the same store.
			restarted := ingest.New(ingest.Config{}, ingest.Deps{Store: st, Engine: b.eng, Secrets: b.vault, Now: clk.now})
			s2 := s
			s2.svc = restarted
			res, err := s2.send("msg_1", body)
			if err != nil || !res.AlreadyReceived || res.Accepted != 0 {
				t.Fatalf("replay after restart: %+v, %v; want already received", res, err)
			}
			if rs, _ := b.stored(t, p.ID); rs != 1 {
				t.Fatalf("stored %d records, want 1", rs)
			}

			// Another pipeline (another team's would be the same) floods
			// its own ids, including this one: it neither evicts nor
			// shares the first pipeline's ids.
			other, otherKey := signedPipeline(t, b, "other")
			so := signedSender{t: t, svc: restarted, token: other.HookToken, key: otherKey, clk: clk}
			if res, err := so.send("msg_1", body); err != nil || res.AlreadyReceived {
				t.Fatalf("the same id on another pipeline: %+v, %v", res, err)
			}
			for i := range 300 {
				if _, err := so.send("flood_"+uuid.NewString(), body); err != nil {
					t.Fatalf("flood %d: %v", i, err)
				}
			}
			if res, err := s2.send("msg_1", body); err != nil || !res.AlreadyReceived {
				t.Fatalf("replay after another pipeline's flood: %+v, %v", res, err)
			}

			// Once the window is over, a replay fails on its timestamp; the
			// sender's new message with the id and a fresh timestamp is new.
			old := clk.now()
			clk.add(2 * time.Minute)
			h := http.Header{}
			signature.SetHeaders(h, "msg_1", old, []byte(body), key)
			if _, err := restarted.Accept(t.Context(), p.HookToken, h, strings.NewReader(body)); !as[*ingest.SignatureError](err) {
				t.Fatalf("stale replay: err = %v", err)
			}
			if res, err := s2.send("msg_1", body); err != nil || res.AlreadyReceived || res.Accepted != 1 {
				t.Fatalf("the id after its window: %+v, %v", res, err)
			}
			// The maintenance job deletes expired ids only.
			clk.add(2 * time.Minute)
			n, err := st.DeleteExpiredWebhookIDs(t.Context(), clk.now(), 1000)
			if err != nil || n != 302 {
				t.Fatalf("deleted %d expired ids (err %v), want 302", n, err)
			}
		})
	}
}

// Concurrent requests with one id store their records once: one is
// accepted, the others are told it was already received.
func TestReplayConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			b := setupOn(t, storetest.Open(t, backend), ingest.Config{}, nil)
			p, key := signedPipeline(t, b, "signed")
			s := signedSender{t: t, svc: b.svc, token: p.HookToken, key: key, clk: &clock{}}
			s.clk.set(time.Now())
			const n = 8
			var wg sync.WaitGroup
			var accepted, already atomic.Int32
			for range n {
				wg.Go(func() {
					res, err := s.send("msg_same", `[{"temperature": 1}, {"temperature": 2}]`)
					switch {
					case err != nil:
						t.Errorf("send: %v", err)
					case res.AlreadyReceived:
						already.Add(1)
					case res.Accepted == 2:
						accepted.Add(1)
					}
				})
			}
			wg.Wait()
			if accepted.Load() != 1 || already.Load() != n-1 {
				t.Fatalf("accepted %d, already received %d; want 1 and %d", accepted.Load(), already.Load(), n-1)
			}
			if rs, _ := b.stored(t, p.ID); rs != 2 {
				t.Fatalf("stored %d records, want 2", rs)
			}
		})
	}
}

// A request that fails after its signature verified keeps no id: the
// sender's corrected retry is accepted.
func TestReplayFailedRequestKeepsNoID(t *testing.T) {
	t.Parallel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, backend)
			b := setupOn(t, st, ingest.Config{}, nil)
			p, key := signedPipeline(t, b, "signed")
			s := signedSender{t: t, svc: b.svc, token: p.HookToken, key: key, clk: &clock{}}
			s.clk.set(time.Now())
			if _, err := s.send("msg_bad", `{"temperature": `); !as[*ingest.BadJSONError](err) {
				t.Fatalf("bad body: %v", err)
			}
			seen, err := st.WebhookIDSeen(t.Context(), b.team, p.ID, store.WebhookIDHash("msg_bad"), s.clk.now())
			if err != nil || seen {
				t.Fatalf("a refused request's id is kept: %v %v", seen, err)
			}
			if res, err := s.send("msg_bad", `{"temperature": 1}`); err != nil || res.Accepted != 1 {
				t.Fatalf("corrected retry: %+v, %v", res, err)
			}
		})
	}
}
