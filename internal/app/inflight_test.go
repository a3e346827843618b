package app_test

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TRIBUTARY_TEAM_MAX_IN_FLIGHT end to end: a team with that many webhook
// requests in progress on the node (here bodies still being sent) gets
// 429 with Retry-After for the next one, while another team is served;
// once its requests finish the team is served again, and with the
// setting 0 the bound is off.
func TestTeamMaxInFlight(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		for _, tt := range []struct {
			env   string
			limit int // 0: none
		}{{env: "2", limit: 2}, {env: "0"}} {
			t.Run("TRIBUTARY_TEAM_MAX_IN_FLIGHT="+tt.env, func(t *testing.T) {
				cfg := testConfig(t, backend)
				fs := flag.NewFlagSet("serve", flag.ContinueOnError)
				envErr := cfg.Register(fs, func(k string) string {
					if k == "TRIBUTARY_TEAM_MAX_IN_FLIGHT" {
						return tt.env
					}
					return ""
				}, false)
				if err := fs.Parse(nil); err != nil {
					t.Fatal(err)
				}
				if err := envErr(); err != nil {
					t.Fatal(err)
				}
				ts := serveConfig(t, backend, cfg)
				hook := func(email, team string) string {
					_, tm := ts.createUser(email, team, auth.Owner)
					_, token := ts.issueToken(tm.ID, auth.Editor)
					var p struct {
						IngestURL string `json:"ingest_url"`
					}
					ts.bearer(token).do("POST", "/api/v1/pipelines?team="+tm.ID.String(), `{"name":"in-flight","kind":"webhook"}`).
						want(http.StatusCreated).json(&p)
					return ts.URL + p.IngestURL[strings.Index(p.IngestURL, "/hooks/"):]
				}
				busyHook, otherHook := hook("busy@example.com", "Busy"+uuid.NewString()[:6]), hook("other@example.com", "Other"+uuid.NewString()[:6])
				hc := &http.Client{Timeout: 30 * time.Second}
				t.Cleanup(hc.CloseIdleConnections)
				post := func(url, body string) *http.Response {
					t.Helper()
					res, err := hc.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					return res
				}

				// Requests of the busy team whose bodies are still coming:
				// each is in progress until its body ends.
				held := 2
				if tt.limit > 0 {
					held = tt.limit
				}
				type answer struct {
					status int
					err    error
				}
				var bodies []*io.PipeWriter
				answers := make(chan answer, held)
				for i := range held {
					pr, pw := io.Pipe()
					bodies = append(bodies, pw)
					go func() {
						res, err := hc.Post(busyHook, "application/json", pr)
						if err != nil {
							answers <- answer{err: err}
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						answers <- answer{status: res.StatusCode}
					}()
					if _, err := fmt.Fprintf(pw, `[{"held": %d}`, i); err != nil {
						t.Fatal(err)
					}
				}
				t.Cleanup(func() {
					for _, pw := range bodies {
						pw.CloseWithError(io.ErrUnexpectedEOF)
					}
				})

				// The held requests reach the server's handler before the
				// busy team sends more: one that came after would be the
				// one refused, and its answer would wait for its body.
				time.Sleep(500 * time.Millisecond)
				if tt.limit > 0 {
					// The busy team's next request is refused at once, until
					// one of its requests is done.
					var res *http.Response
					eventually(t, 10*time.Second, "the busy team's request refused", func() bool {
						res = post(busyHook, `{"n": 1}`)
						return res.StatusCode == http.StatusTooManyRequests
					})
					if ra := res.Header.Get("Retry-After"); ra != "1" {
						t.Errorf("429 with Retry-After %q, want 1", ra)
					}
				} else {
					// No bound: the busy team is served beside its held
					// requests.
					if res := post(busyHook, `{"n": 1}`); res.StatusCode != http.StatusAccepted {
						t.Fatalf("no bound: the busy team's request answered %d, want 202", res.StatusCode)
					}
				}
				// Another team is served meanwhile.
				for i := range 5 {
					if res := post(otherHook, fmt.Sprintf(`{"n": %d}`, i)); res.StatusCode != http.StatusAccepted {
						t.Fatalf("another team's request answered %d, want 202", res.StatusCode)
					}
				}
				// The held requests finish and are stored; then the busy
				// team is served again.
				for _, pw := range bodies {
					if _, err := io.WriteString(pw, `]`); err != nil {
						t.Fatal(err)
					}
					pw.Close()
				}
				for range held {
					if a := <-answers; a.err != nil || a.status != http.StatusAccepted {
						t.Fatalf("a held request: status %d, err %v; want 202", a.status, a.err)
					}
				}
				if res := post(busyHook, `{"n": 2}`); res.StatusCode != http.StatusAccepted {
					t.Fatalf("after its requests finished the busy team's request answered %d, want 202", res.StatusCode)
				}
			})
		}
	})
}
