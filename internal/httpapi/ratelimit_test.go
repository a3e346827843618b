package httpapi_test

import (
	"net/http"
	"testing"
)

func TestHookRateLimitPerTeam(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := e.newTeam(), e.newTeam()
		pa := e.createPipeline(a, webhookSpec("limited"))
		pb := e.createPipeline(b, webhookSpec("other"))
		accepted, limited := 0, 0
		for range 5 {
			r := e.hook(pa.IngestURL, []byte(`{"n": 1}`))
			switch r.status {
			case http.StatusAccepted:
				accepted++
			case http.StatusTooManyRequests:
				limited++
				if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
					t.Fatalf("429 without a useful Retry-After: %q", ra)
				}
				if p := r.problem(t); p.Status != http.StatusTooManyRequests {
					t.Fatalf("429 body = %+v", p)
				}
			default:
				t.Fatalf("unexpected answer %s", r)
			}
		}
		if accepted != 2 || limited != 3 {
			t.Fatalf("accepted %d, limited %d; want the burst of 2 accepted and 3 limited", accepted, limited)
		}
		if records, _, _ := e.stored(a, pa.ID); records != 2 {
			t.Fatalf("%d records stored, want only the 2 accepted", records)
		}
		// Team a's flood leaves team b's budget alone.
		want(t, e.hook(pb.IngestURL, []byte(`{"n": 1}`)), http.StatusAccepted)
	}, func(c *envConfig) { c.Ingest.Rate, c.Ingest.Burst = 0.01, 2 })
}
