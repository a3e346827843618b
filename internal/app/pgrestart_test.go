package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestIngestAcrossPostgresRestartLeaksNothing serves webhook ingest in
// this process on a PostgreSQL server of its own, stops that server (fast,
// then immediate shutdown) and starts it again while writers post, and
// then stops the server: every goroutine it started, the database pool's
// and the ones that noticed the lost connections among them, must be gone
// (goleak). A goroutine left waiting on a dead connection, or a reconnect
// loop nothing stops, fails it. It does not run in parallel: goleak sees
// every goroutine of the process, and the parallel tests of the package
// wait until the sequential ones are done.
func TestIngestAcrossPostgresRestartLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a PostgreSQL server of its own")
	}
	// The goroutines of the test binary, taken now; the check is
	// registered first, so it runs last: after Serve returned and the
	// stores and the PostgreSQL server were closed.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		goleak.VerifyNone(t, before)
	})
	primary := pgtest.StartPrimary(t)
	cfg := testConfig(t, "sqlite")
	cfg.DatabaseURL = primary.DatabaseURL(t, "tributary")
	ts := serveConfig(t, "postgres", cfg)
	_, tm := ts.createUser("restart@example.com", "Restart", auth.Owner)
	_, token := ts.issueToken(tm.ID, auth.Editor)
	var p struct {
		ID        uuid.UUID `json:"id"`
		IngestURL string    `json:"ingest_url"`
	}
	ts.bearer(token).do("POST", "/api/v1/pipelines?team="+tm.ID.String(), `{"name":"restart","kind":"webhook","persist":true}`).
		want(http.StatusCreated).json(&p)
	hook := ts.URL + p.IngestURL[strings.Index(p.IngestURL, "/hooks/"):]

	var (
		accepted, refused, other atomic.Int64
		wg                       sync.WaitGroup
	)
	stop := make(chan struct{})
	hc := &http.Client{Timeout: 30 * time.Second}
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := hc.Post(hook, "application/json", strings.NewReader(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch {
				case res.StatusCode == http.StatusAccepted:
					accepted.Add(1)
				case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
					refused.Add(1)
					time.Sleep(20 * time.Millisecond)
				default:
					other.Add(1)
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
		hc.CloseIdleConnections()
	}()

	for _, mode := range []string{"fast", "immediate"} {
		n := accepted.Load()
		eventually(t, 30*time.Second, "records accepted before the "+mode+" stop", func() bool { return accepted.Load() > n+10 })
		r := refused.Load()
		primary.Stop(t, mode)
		eventually(t, 30*time.Second, "503 with Retry-After while PostgreSQL is down", func() bool { return refused.Load() > r+10 })
		primary.Start(t)
		n = accepted.Load()
		eventually(t, 60*time.Second, "records accepted after the "+mode+" restart", func() bool { return accepted.Load() > n+10 })
	}
	t.Logf("accepted %d requests, refused %d with 503 and Retry-After", accepted.Load(), refused.Load())
	if n := other.Load(); n > 0 {
		t.Errorf("%d requests failed otherwise than 202 or 503 with Retry-After", n)
	}
}
