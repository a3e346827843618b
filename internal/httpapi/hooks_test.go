package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
)

// ingestAnswer is the body of a 202.
type ingestAnswer struct {
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	RunID    *uuid.UUID `json:"run_id"`
}

// hook posts body to a webhook URL with the headers (name, value pairs).
func (e *env) hook(url string, body []byte, header ...string) resp {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx(), "POST", url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.send(req)
}

// stored counts a pipeline's records, rejected records and runs in the
// store.
func (e *env) stored(tm team, id uuid.UUID) (records, rejected, runs int) {
	e.t.Helper()
	rs, err := e.store.Records(e.ctx(), tm.id, id, store.RecordQuery{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	rj, err := e.store.RejectedRecords(e.ctx(), tm.id, id, store.RejectedQuery{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	ru, err := e.store.Runs(e.ctx(), tm.id, id, store.RunQuery{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(rs), len(rj), len(ru)
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// typedSpec maps temperature (a number, required) and station, and
// validates the temperature's range.
const typedSpec = `"mapping": {"fields": {"temp": {"path": "temperature", "type": "number", "required": true}, "station": {"type": "string"}}},
	"validation": {"schema": {"type": "object", "properties": {"temp": {"type": "number", "maximum": 60}}}}`

func TestHookAccepts(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("weather", typedSpec))
		ndjson := "{\"temperature\": 1}\n\n{\"temperature\": 2, \"station\": \"a\"}\r\n{\"temperature\": \"warm\"}\n"
		for _, tc := range []struct {
			name               string
			body               []byte
			header             []string
			accepted, rejected int
		}{
			{"object", []byte(`{"temperature": 21.5, "station": "berlin"}`), []string{"Content-Type", "application/json"}, 1, 0},
			{"array", []byte(`[{"temperature": 1}, {"temperature": 2}, {"temperature": 3}]`), nil, 3, 0},
			{"ndjson", []byte(ndjson), []string{"Content-Type", "application/x-ndjson"}, 2, 1},
			{"ndjson detected", []byte(ndjson), []string{"Content-Type", "application/json"}, 2, 1},
			{"gzip", gz(t, []byte(`[{"temperature": 1}, {"temperature": 99}]`)), []string{"Content-Encoding", "gzip"}, 1, 1},
			{"gzip ndjson", gz(t, []byte(ndjson)), []string{"Content-Encoding", "gzip", "Content-Type", "application/x-ndjson; charset=utf-8"}, 2, 1},
			{"failing mapping and validation", []byte(`[{"temperature": "hot"}, {"station": "x"}, {"temperature": 61}, 5, {"temperature": 60}]`), nil, 1, 4},
			{"empty array", []byte(`[]`), nil, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r0, j0, _ := e.stored(tm, p.ID)
				r := e.hook(p.IngestURL, tc.body, tc.header...)
				want(t, r, http.StatusAccepted)
				var a ingestAnswer
				r.json(t, &a)
				if a.Accepted != tc.accepted || a.Rejected != tc.rejected {
					t.Fatalf("answer %s, want %d accepted, %d rejected", r.body, tc.accepted, tc.rejected)
				}
				if (a.RunID == nil) != (tc.accepted+tc.rejected == 0) {
					t.Fatalf("run_id in %s", r.body)
				}
				// Acknowledged means committed: the records are in the store.
				r1, j1, _ := e.stored(tm, p.ID)
				if r1-r0 != tc.accepted || j1-j0 != tc.rejected {
					t.Fatalf("stored %d records and %d rejected, want %d and %d", r1-r0, j1-j0, tc.accepted, tc.rejected)
				}
			})
		}
		// The rejected records say why, with their raw input.
		r := e.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/rejected?limit=1000", tm.viewer, nil)
		want(t, r, http.StatusOK)
		for _, s := range []string{`"hot"`, `must be`, `temp`} {
			if !strings.Contains(string(r.body), s) {
				t.Errorf("rejected listing lacks %q: %s", s, r.body)
			}
		}
	})
}

func TestHookRefuses(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("small", `"source": {"webhook": {"max_body_bytes": 1024}}`))
		roomy := e.createPipeline(tm, webhookSpec("roomy", `"source": {"webhook": {"max_body_bytes": 1048576}}`))
		paused := e.createPipeline(tm, webhookSpec("paused"))
		want(t, e.do("POST", "/api/v1/pipelines/"+paused.ID.String()+"/pause", tm.editor, nil), http.StatusOK)
		other := e.createPipeline(e.newTeam(), webhookSpec("other team"))

		bomb := gz(t, bytes.Repeat([]byte(" "), 10<<20)) // 10 MiB of spaces, about 10 KiB compressed
		if len(bomb) > 1024*16 {
			t.Fatalf("bomb is %d bytes", len(bomb))
		}
		smallBomb := gz(t, append([]byte(`{"a": "`), append(bytes.Repeat([]byte("x"), 2000), `"}`...)...))
		big := []byte(`{"a": "` + strings.Repeat("x", 2000) + `"}`)
		for _, tc := range []struct {
			name   string
			url    string
			body   []byte
			header []string
			status int
			detail string
		}{
			{"unknown token", e.srv.URL + "/hooks/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []byte(`{}`), nil, 404, "no webhook"},
			{"implausible token", e.srv.URL + "/hooks/x", []byte(`{}`), nil, 404, "no webhook"},
			{"paused", paused.IngestURL, []byte(`{"a": 1}`), nil, 409, "paused"},
			{"malformed json", p.IngestURL, []byte(`{"a": 1, "b": }`), nil, 400, "at byte 15"},
			{"truncated json", p.IngestURL, []byte(`[{"a": 1}, {"b"`), nil, 400, "ends early"},
			{"trailing data", p.IngestURL, []byte(`{"a": 1} x`), nil, 400, "at byte 8"},
			{"malformed ndjson", p.IngestURL, []byte("{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3\n{\"a\": 4}\n"), []string{"Content-Type", "application/x-ndjson"}, 400, "Line 3"},
			{"malformed detected ndjson", p.IngestURL, []byte("{\"a\": 1}\n{\"a\": 2}\n\n{oops}\n"), nil, 400, "Line 4"},
			{"two values on an ndjson line", p.IngestURL, []byte("{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n"), []string{"Content-Type", "application/x-ndjson"}, 400, "Line 2"},
			{"scalar", p.IngestURL, []byte(`"hello"`), nil, 400, "single JSON string"},
			{"empty", p.IngestURL, nil, nil, 400, "empty"},
			{"too large", p.IngestURL, big, nil, 413, "1024 bytes"},
			{"too large chunked", p.IngestURL, big, []string{"Transfer-Encoding", "chunked"}, 413, "1024 bytes"},
			{"gzip too large", p.IngestURL, smallBomb, []string{"Content-Encoding", "gzip"}, 413, "decompressed"},
			{"gzip bomb", roomy.IngestURL, bomb, []string{"Content-Encoding", "gzip"}, 413, "decompressed"},
			{"bad gzip", p.IngestURL, []byte("not gzip at all"), []string{"Content-Encoding", "gzip"}, 400, "gzip"},
			{"brotli", p.IngestURL, []byte(`{}`), []string{"Content-Encoding", "br"}, 415, "Content-Encoding"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.hook(tc.url, tc.body, tc.header...)
				want(t, r, tc.status)
				if d := r.problem(t).Detail; !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q lacks %q", d, tc.detail)
				}
			})
		}
		for _, id := range []uuid.UUID{p.ID, roomy.ID, paused.ID} {
			if rs, rj, ru := e.stored(tm, id); rs+rj+ru != 0 {
				t.Fatalf("refused requests stored %d records, %d rejected, %d runs", rs, rj, ru)
			}
		}
		// A webhook request proves nothing about other teams' pipelines:
		// the unknown token's answer is the one of every unknown token.
		unknown := e.hook(e.srv.URL+"/hooks/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", []byte(`{}`))
		if !strings.Contains(string(unknown.body), "There is no webhook at this URL.") {
			t.Fatalf("unknown: %s", unknown.body)
		}
		want(t, e.hook(other.IngestURL, []byte(`{}`)), http.StatusAccepted)
	})
}

// TestHookAmplification: a small request cannot become millions of
// records (issue 11, defect 1).
func TestHookAmplification(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("amplified"))
		few := e.createPipeline(tm, webhookSpec("few", `"source": {"webhook": {"max_records": 2}}`))

		n := (10<<20 - 2) / 3 // [{},{},…] just under the default body limit
		bomb := gz(t, []byte("["+strings.Repeat("{},", n-1)+"{}]"))
		if len(bomb) > 12<<10 {
			t.Fatalf("the bomb is %d bytes", len(bomb))
		}
		r := e.hook(p.IngestURL, bomb, "Content-Encoding", "gzip")
		want(t, r, http.StatusRequestEntityTooLarge)
		if d := r.problem(t).Detail; !strings.Contains(d, "more than 10000 records") || !strings.Contains(d, "max_records") {
			t.Fatalf("detail %q", d)
		}
		r = e.hook(few.IngestURL, []byte("{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n"), "Content-Type", "application/x-ndjson")
		want(t, r, http.StatusRequestEntityTooLarge)
		if d := r.problem(t).Detail; !strings.Contains(d, "more than 2 records") {
			t.Fatalf("detail %q", d)
		}
		zeros := gz(t, make([]byte, 8<<20)) // about 8 KiB
		r = e.hook(p.IngestURL, zeros, "Content-Encoding", "gzip")
		want(t, r, http.StatusRequestEntityTooLarge)
		if d := r.problem(t).Detail; !strings.Contains(d, "more than 100 times larger") {
			t.Fatalf("detail %q", d)
		}
		for _, id := range []uuid.UUID{p.ID, few.ID} {
			if rs, rj, ru := e.stored(tm, id); rs+rj+ru != 0 {
				t.Fatalf("refused requests stored %d records, %d rejected, %d runs", rs, rj, ru)
			}
		}
		want(t, e.hook(few.IngestURL, []byte(`[{"a": 1}, {"a": 2}]`)), http.StatusAccepted)
	})
}

func TestHookSignatures(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		secret := signature.GenerateSecret()
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "hook-key", "value": secret.Encode()}), http.StatusCreated)
		p := e.createPipeline(tm, webhookSpec("signed", `"source": {"webhook": {"signing_secret": "hook-key", "tolerance": "1m"}}`))

		send := func(id string, ts time.Time, body []byte, key signature.Secret, extra ...string) resp {
			t.Helper()
			h := http.Header{}
			signature.SetHeaders(h, id, ts, body, key)
			hdr := []string{"Content-Type", "application/json"}
			for k := range h {
				hdr = append(hdr, k, h.Get(k))
			}
			return e.hook(p.IngestURL, body, append(hdr, extra...)...)
		}
		body := []byte(`{"temperature": 20}`)
		now := time.Now()

		want(t, send("msg_1", now, body, secret), http.StatusAccepted)
		for _, tc := range []struct {
			name   string
			do     func() resp
			detail string
		}{
			{"unsigned", func() resp { return e.hook(p.IngestURL, body) }, "missing"},
			{"wrong key", func() resp { return send("msg_2", now, body, signature.GenerateSecret()) }, "no webhook-signature matches"},
			{"tampered body", func() resp {
				h := http.Header{}
				signature.SetHeaders(h, "msg_3", now, body, secret)
				return e.hook(p.IngestURL, []byte(`{"temperature": 99}`), "webhook-id", "msg_3",
					"webhook-timestamp", h.Get("webhook-timestamp"), "webhook-signature", h.Get("webhook-signature"))
			}, "no webhook-signature matches"},
			{"stale timestamp", func() resp { return send("msg_4", now.Add(-2*time.Minute), body, secret) }, "too old"},
			{"future timestamp", func() resp { return send("msg_5", now.Add(2*time.Minute), body, secret) }, "in the future"},
			{"replayed id with a wrong key", func() resp { return send("msg_1", now, body, signature.GenerateSecret()) }, "no webhook-signature matches"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.do()
				want(t, r, http.StatusUnauthorized)
				if d := r.problem(t).Detail; !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q lacks %q", d, tc.detail)
				}
			})
		}
		// A replayed id with a valid signature is received (200), not
		// refused: the sender may be retrying after a lost answer.
		r := send("msg_1", now, body, secret)
		want(t, r, http.StatusOK)
		var got struct {
			Accepted        int    `json:"accepted"`
			AlreadyReceived bool   `json:"already_received"`
			Detail          string `json:"detail"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil || !got.AlreadyReceived || got.Accepted != 0 || !strings.Contains(got.Detail, "already received") {
			t.Fatalf("replayed id: %s (%v)", r.body, err)
		}
		if rs, _, ru := e.stored(tm, p.ID); rs != 1 || ru != 1 {
			t.Fatalf("stored %d records in %d runs; only the first request was new and valid", rs, ru)
		}

		// The signature covers the bytes as sent once gzip is undone.
		want(t, send("msg_gz", now, gz(t, body), secret, "Content-Encoding", "gzip"), http.StatusUnauthorized)
		h := http.Header{}
		signature.SetHeaders(h, "msg_gz", now, body, secret)
		want(t, e.hook(p.IngestURL, gz(t, body), "Content-Encoding", "gzip", "webhook-id", "msg_gz",
			"webhook-timestamp", h.Get("webhook-timestamp"), "webhook-signature", h.Get("webhook-signature")), http.StatusAccepted)

		// A verified request that fails later releases its id: the
		// sender's corrected retry is not a replay.
		bad := []byte(`{"temperature": `)
		h = http.Header{}
		signature.SetHeaders(h, "msg_retry", now, bad, secret)
		r = e.hook(p.IngestURL, bad, "webhook-id", "msg_retry", "webhook-timestamp", h.Get("webhook-timestamp"), "webhook-signature", h.Get("webhook-signature"))
		want(t, r, http.StatusBadRequest)
		want(t, send("msg_retry", now, body, secret), http.StatusAccepted)

		// Rotating the secret takes effect at once.
		newKey := signature.GenerateSecret()
		want(t, e.do("PUT", "/api/v1/secrets/hook-key", tm.editor, map[string]string{"value": newKey.Encode()}), http.StatusOK)
		want(t, send("msg_6", now, body, secret), http.StatusUnauthorized)
		want(t, send("msg_7", now, body, newKey), http.StatusAccepted)

		// Deleting a secret a pipeline uses is refused.
		r = e.do("DELETE", "/api/v1/secrets/hook-key", tm.admin, nil)
		want(t, r, http.StatusConflict)
		if !strings.Contains(r.problem(t).Detail, `"signed"`) {
			t.Fatalf("conflict does not name the pipeline: %s", r.body)
		}
		// A signing secret must be a Standard Webhooks secret.
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "plain", "value": "not base64 !"}), http.StatusCreated)
		r = e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("plain", `"source": {"webhook": {"signing_secret": "plain"}}`))
		want(t, r, http.StatusUnprocessableEntity)
		if pr := r.problem(t); len(pr.Errors) != 1 || !strings.Contains(pr.Errors[0].Message, "whsec_") {
			t.Fatalf("non-whsec signing secret: %s", r.body)
		}
	})
}

// TestHookConcurrent sends many requests at once: all are acknowledged,
// every acknowledged record is stored, and group commit shares runs.
func TestHookConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("burst"))
		const n = 64
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(context.Background(), "POST", p.IngestURL, strings.NewReader(`{"i": `+strconv.Itoa(i)+`}`))
				res, err := e.srv.Client().Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					errs <- fmt.Sprintf("status %d", res.StatusCode)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		rs, _, runs := e.stored(tm, p.ID)
		if rs != n || runs < 1 || runs > n {
			t.Fatalf("stored %d records in %d runs, want %d records", rs, runs, n)
		}
		t.Logf("%d requests committed in %d runs", n, runs)
		// Stats follow the batches.
		var got pipelineBody
		e.do("GET", "/api/v1/pipelines/"+p.ID.String(), tm.viewer, nil).json(t, &got)
		if got.Stats.RecordCount != n {
			t.Fatalf("record_count = %d", got.Stats.RecordCount)
		}
	})
}

// BenchmarkIngest measures single-record webhook requests through the
// whole HTTP stack on SQLite, from parallel clients.
func BenchmarkIngest(b *testing.B) {
	e := setup(b, "sqlite")
	tm := e.newTeam()
	r := e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("bench",
		`"mapping": {"fields": {"temp": {"path": "temperature", "type": "number"}, "station": {"type": "string"}}}`))
	if r.status != http.StatusCreated {
		b.Fatal(r)
	}
	var p pipelineBody
	r.json(b, &p)
	body := `{"temperature": 21.5, "station": "berlin"}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Post(p.IngestURL, "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
