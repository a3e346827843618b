package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/signature"
)

// sinkReceiver is an HTTP endpoint on loopback standing in for a team's
// webhook receiver: it verifies signatures and answers 500 while failing
// is set.
type sinkReceiver struct {
	*httptest.Server
	failing  atomic.Bool
	mu       sync.Mutex
	ids      []string
	bodies   [][]byte
	verifier *signature.Verifier
	badSigs  atomic.Int32
}

func newSinkReceiver(t *testing.T, secret signature.Secret) *sinkReceiver {
	t.Helper()
	v, err := signature.NewVerifier(signature.Config{Secrets: []signature.Secret{secret}})
	if err != nil {
		t.Fatal(err)
	}
	rc := &sinkReceiver{verifier: v}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := rc.verifier.Verify(r.Context(), r.Header, body, time.Now()); err != nil {
			rc.badSigs.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rc.failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		rc.mu.Lock()
		rc.ids = append(rc.ids, r.Header.Get("Webhook-Id"))
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *sinkReceiver) received() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, b := range rc.bodies {
		n += bytes.Count(b, []byte(`"ts":`))
	}
	return n
}

func TestSinksThroughTheServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		cfg.AllowNetworks = "127.0.0.1/32"
		cfg.SinkRetrySchedule = "100ms,100ms"
		ts := serveConfig(t, backend, cfg)
		_, tm := ts.createUser("sinks-"+uuid.NewString()[:8]+"@example.com", "Sinks "+uuid.NewString()[:8], auth.Owner)
		_, token := ts.issueToken(tm.ID, auth.Admin)
		c := ts.bearer(token)
		do := func(method, path string, body any, codes ...int) *response {
			t.Helper()
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			return c.do(method, path+sep+"team="+tm.ID.String(), body).want(codes...)
		}
		secret := signature.GenerateSecret()
		rc := newSinkReceiver(t, secret)
		do("POST", "/api/v1/secrets", map[string]string{"name": "hook-key", "value": secret.Encode()}, http.StatusCreated)
		do("POST", "/api/v1/secrets", map[string]string{"name": "plain", "value": "not a signing secret"}, http.StatusCreated)

		var p struct {
			ID        uuid.UUID `json:"id"`
			Version   int       `json:"version"`
			IngestURL string    `json:"ingest_url"`
		}
		do("POST", "/api/v1/pipelines", `{"name":"orders","kind":"webhook"}`, http.StatusCreated).json(&p)
		sinks := "/api/v1/pipelines/" + p.ID.String() + "/sinks"

		// Save-time checks.
		for _, tc := range []struct {
			body, location, message string
			status                  int
		}{
			{`{"name":"x","ftp":{"url":"ftp://x"}}`, "body.ftp", "not a sink kind", 422},
			{`{"name":"x","http":{"url":"http://169.254.169.254/latest"}}`, "body.http.url", "169.254.169.254", 422},
			{`{"name":"x","http":{"url":"http://10.1.2.3/in"}}`, "body.http.url", "private", 422},
			{`{"name":"x","http":{"url":"` + rc.URL + `","signing_secret":"nope"}}`, "body.http.signing_secret", `no secret named "nope"`, 422},
			{`{"name":"x","http":{"url":"` + rc.URL + `","signing_secret":"plain"}}`, "body.http.signing_secret", "not a Standard Webhooks signing secret", 422},
			{`{"name":"x","http":{"url":"` + rc.URL + `","auth":{"type":"bearer","secret":"missing"}}}`, "body.http.auth.secret", `no secret named "missing"`, 422},
			{`{"name":"bad name","http":{"url":"` + rc.URL + `"}}`, "body.name", "letters", 422},
		} {
			pr := c.do("POST", sinks+"?team="+tm.ID.String(), tc.body).wantProblem(tc.status)
			found := false
			for _, e := range pr.Errors {
				found = found || e.Location == tc.location && strings.Contains(e.Message, tc.message)
			}
			if !found {
				t.Errorf("%s: problem %+v, want %s: %q", tc.body, pr, tc.location, tc.message)
			}
		}
		// The same checks on a whole-spec update.
		pr := c.do("PUT", "/api/v1/pipelines/"+p.ID.String()+"?team="+tm.ID.String(),
			`{"name":"orders","kind":"webhook","sinks":[{"name":"x","http":{"url":"http://127.0.0.2:1/"}}]}`).wantProblem(422)
		if len(pr.Errors) != 1 || pr.Errors[0].Location != "body.sinks[0].http.url" {
			t.Errorf("spec update with a forbidden sink URL: %+v", pr)
		}

		// A sink that works.
		var sk struct {
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			Enabled bool   `json:"enabled"`
			Status  string `json:"status"`
		}
		res := do("POST", sinks, `{"name":"alerts","http":{"url":"`+rc.URL+`","signing_secret":"hook-key"}}`, http.StatusCreated)
		res.json(&sk)
		if sk.Name != "alerts" || sk.Kind != "http" || !sk.Enabled || sk.Status != "active" || res.Header.Get("ETag") != `"2"` {
			t.Fatalf("created sink %+v, ETag %s", sk, res.Header.Get("ETag"))
		}
		do("POST", sinks, `{"name":"alerts","http":{"url":"`+rc.URL+`"}}`, http.StatusConflict)
		// A secret in use by a sink cannot be deleted.
		do("DELETE", "/api/v1/secrets/hook-key", nil, http.StatusConflict)

		// Records posted to the webhook reach the receiver, signed.
		hook := p.IngestURL[strings.Index(p.IngestURL, "/hooks/"):]
		for i := range 5 {
			ts.client().do("POST", hook, fmt.Sprintf(`[{"n":%d},{"n":%d}]`, 2*i, 2*i+1)).want(http.StatusAccepted)
		}
		waitUntil(t, "10 records at the receiver", func() bool { return rc.received() >= 10 })
		if n := rc.badSigs.Load(); n > 0 {
			t.Fatalf("%d requests with bad signatures", n)
		}
		type deliveries struct {
			Deliveries []struct {
				ID        uuid.UUID `json:"id"`
				Key       string    `json:"key"`
				Status    string    `json:"status"`
				Attempts  int       `json:"attempts"`
				Records   int       `json:"records"`
				LastError string    `json:"last_error"`
				LatencyMS float64   `json:"latency_ms"`
			} `json:"deliveries"`
			NextCursor string `json:"next_cursor"`
		}
		var ds deliveries
		waitUntil(t, "delivered deliveries", func() bool {
			do("GET", sinks+"/alerts/deliveries?status=delivered", nil, http.StatusOK).json(&ds)
			n := 0
			for _, d := range ds.Deliveries {
				n += d.Records
			}
			return n == 10
		})
		for _, d := range ds.Deliveries {
			if d.Status != "delivered" || d.Attempts != 1 || d.LatencyMS <= 0 {
				t.Errorf("delivery %+v", d)
			}
		}
		var page deliveries
		do("GET", sinks+"/alerts/deliveries?limit=1", nil, http.StatusOK).json(&page)
		if len(page.Deliveries) != 1 || page.NextCursor == "" {
			t.Fatalf("first page %+v", page)
		}
		do("GET", sinks+"/alerts/deliveries?limit=1&cursor="+page.NextCursor, nil, http.StatusOK).json(&page)
		if len(page.Deliveries) != 1 || page.Deliveries[0].ID == ds.Deliveries[0].ID {
			t.Fatalf("second page %+v", page)
		}

		// A failing receiver: the delivery dies after its attempts, and is
		// retried by hand once the receiver is back.
		rc.failing.Store(true)
		ts.client().do("POST", hook, `{"n":100}`).want(http.StatusAccepted)
		var dead deliveries
		waitUntil(t, "a dead delivery", func() bool {
			do("GET", sinks+"/alerts/deliveries?status=dead", nil, http.StatusOK).json(&dead)
			return len(dead.Deliveries) == 1
		})
		if d := dead.Deliveries[0]; d.Attempts != 3 || !strings.Contains(d.LastError, "500") {
			t.Fatalf("dead delivery %+v", d)
		}
		deadPath := sinks + "/alerts/deliveries/" + dead.Deliveries[0].ID.String()
		rc.failing.Store(false)
		do("POST", deadPath+"/retry", nil, http.StatusAccepted)
		do("POST", deadPath+"/retry", nil, http.StatusConflict)
		waitUntil(t, "the retried delivery", func() bool {
			var d struct {
				Status string `json:"status"`
			}
			do("GET", deadPath, nil, http.StatusOK).json(&d)
			return d.Status == "delivered"
		})

		// The list shows the sink's health and counters, and a downstream
		// p2p pipeline as a read-only sink.
		do("POST", "/api/v1/pipelines", `{"name":"orders-copy","kind":"p2p","source":{"pipeline":{"upstream":"orders"}}}`, http.StatusCreated)
		var list struct {
			Sinks []struct {
				Name     string `json:"name"`
				Kind     string `json:"kind"`
				ReadOnly bool   `json:"read_only"`
				Status   string `json:"status"`
				Stats    struct {
					Delivered int64   `json:"delivered"`
					Records   int64   `json:"records"`
					Failed    int64   `json:"failed"`
					Dead      int64   `json:"dead"`
					Latency   float64 `json:"avg_latency_ms"`
				} `json:"stats"`
			} `json:"sinks"`
		}
		do("GET", sinks, nil, http.StatusOK).json(&list)
		if len(list.Sinks) != 2 || list.Sinks[0].Name != "alerts" || list.Sinks[0].Stats.Records != 11 || list.Sinks[0].Stats.Failed != 3 ||
			list.Sinks[0].Stats.Dead != 1 || list.Sinks[0].Stats.Latency <= 0 || list.Sinks[1].Kind != "pipeline" || !list.Sinks[1].ReadOnly ||
			list.Sinks[1].Name != "orders-copy" {
			t.Fatalf("sinks %+v", list)
		}
		var full struct {
			Stats struct {
				Sinks []struct {
					Sink    string `json:"sink"`
					Records int64  `json:"records"`
				} `json:"sinks"`
			} `json:"stats"`
		}
		do("GET", "/api/v1/pipelines/"+p.ID.String(), nil, http.StatusOK).json(&full)
		if len(full.Stats.Sinks) != 1 || full.Stats.Sinks[0].Sink != "alerts" || full.Stats.Sinks[0].Records != 11 {
			t.Fatalf("pipeline stats %+v", full.Stats)
		}

		// Replay everything to a sink added later.
		rc2 := newSinkReceiver(t, secret)
		do("POST", sinks, `{"name":"late","http":{"url":"`+rc2.URL+`","signing_secret":"hook-key","max_records":4}}`, http.StatusCreated)
		var rp struct {
			ID       uuid.UUID `json:"id"`
			Status   string    `json:"status"`
			Total    int64     `json:"total"`
			Progress float64   `json:"progress"`
		}
		do("POST", sinks+"/late/replays", map[string]string{
			"from": time.Now().Add(-time.Hour).Format(time.RFC3339), "to": time.Now().Add(time.Minute).Format(time.RFC3339),
		}, http.StatusAccepted).json(&rp)
		if rp.Total != 11 || rp.Status != "running" {
			t.Fatalf("replay %+v", rp)
		}
		waitUntil(t, "the replay", func() bool {
			do("GET", sinks+"/late/replays/"+rp.ID.String(), nil, http.StatusOK).json(&rp)
			return rp.Status == "done" && rp.Progress == 1
		})
		if n := rc2.received(); n != 11 {
			t.Fatalf("the replay delivered %d records, want 11", n)
		}
		do("POST", sinks+"/late/replays", map[string]string{
			"from": time.Now().Format(time.RFC3339), "to": time.Now().Add(-time.Hour).Format(time.RFC3339),
		}, http.StatusUnprocessableEntity)

		// Disable, then remove, a sink.
		res = do("PUT", sinks+"/late", `{"enabled":false,"http":{"url":"`+rc2.URL+`","signing_secret":"hook-key"}}`, http.StatusOK)
		res.json(&sk)
		if sk.Enabled || sk.Status != "disabled" {
			t.Fatalf("disabled sink %+v", sk)
		}
		do("POST", sinks+"/late/replays", map[string]string{
			"from": time.Now().Add(-time.Hour).Format(time.RFC3339), "to": time.Now().Format(time.RFC3339),
		}, http.StatusConflict)
		do("PUT", sinks+"/late", `{"name":"other","http":{"url":"`+rc2.URL+`"}}`, http.StatusUnprocessableEntity)
		do("DELETE", sinks+"/alerts", nil, http.StatusNoContent)
		do("DELETE", sinks+"/late", nil, http.StatusNoContent)
		do("GET", sinks+"/alerts", nil, http.StatusNotFound)
		do("DELETE", "/api/v1/secrets/hook-key", nil, http.StatusNoContent)

		var kinds struct {
			Kinds []struct {
				Name string `json:"name"`
			} `json:"kinds"`
		}
		do("GET", "/api/v1/sink-kinds", nil, http.StatusOK).json(&kinds)
		if len(kinds.Kinds) == 0 || kinds.Kinds[0].Name == "" {
			t.Fatalf("kinds %+v", kinds)
		}
		metrics := ts.client().do("GET", "/metrics", nil).want(http.StatusOK)
		if !bytes.Contains(metrics.Body, []byte(`tributary_sink_records_delivered_total{pipeline="`+p.ID.String()+`",sink="alerts"} 11`)) {
			t.Errorf("/metrics lacks the sink's delivered records")
		}
		if !bytes.Contains(metrics.Body, []byte(`tributary_sink_delivery_latency_seconds_bucket{pipeline="`+p.ID.String()+`",sink="alerts"`)) {
			t.Errorf("/metrics lacks the sink's latency histogram")
		}
	})
}

// waitUntil polls cond until it holds or 30s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
