package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

type recordsPage struct {
	Records []struct {
		ID   int64           `json:"id"`
		TS   time.Time       `json:"ts"`
		Data json.RawMessage `json:"data"`
	} `json:"records"`
	NextCursor string `json:"next_cursor"`
}

// allRecords pages through a records query and returns the ids in order.
func (e *env) allRecords(tm team, id uuid.UUID, query string, limit int) []int64 {
	e.t.Helper()
	var ids []int64
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			e.t.Fatal("endless paging")
		}
		q := fmt.Sprintf("/api/v1/pipelines/%s/records?limit=%d%s", id, limit, query)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do("GET", q, tm.viewer, nil)
		want(e.t, r, http.StatusOK)
		var p recordsPage
		r.json(e.t, &p)
		if len(p.Records) > limit {
			e.t.Fatalf("page of %d records, limit %d", len(p.Records), limit)
		}
		for _, rec := range p.Records {
			ids = append(ids, rec.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		cursor = p.NextCursor
	}
}

// storeOrder returns the ids the store lists for the query, newest first.
func (e *env) storeOrder(tm team, id uuid.UUID, q store.RecordQuery) []int64 {
	e.t.Helper()
	q.Limit = store.MaxLimit
	rs, err := e.store.Records(e.ctx(), tm.id, id, q)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func TestRecordsPaging(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("series", `"mapping": {"timestamp": {"path": "t", "format": "unix"}}`))
		// 250 records, three per second, so pages split ties; more than
		// the cache's 100, so paging crosses from the cache to the store.
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix()
		for batch := range 5 {
			var sb strings.Builder
			sb.WriteString("[")
			for i := range 50 {
				n := batch*50 + i
				if i > 0 {
					sb.WriteString(",")
				}
				fmt.Fprintf(&sb, `{"t": %d, "n": %d}`, base+int64(n/3), n)
			}
			sb.WriteString("]")
			want(t, e.hook(p.IngestURL, []byte(sb.String())), http.StatusAccepted)
		}
		wantAll := e.storeOrder(tm, p.ID, store.RecordQuery{})
		if len(wantAll) != 250 {
			t.Fatalf("store holds %d records", len(wantAll))
		}
		for _, limit := range []int{1, 40, 101, 1000} {
			if got := e.allRecords(tm, p.ID, "", limit); !equalIDs(got, wantAll) {
				t.Fatalf("limit %d: paged %d ids, differing from the store's order:\n got %v\nwant %v", limit, len(got), got, wantAll)
			}
		}
		// A time range, from inclusive, to exclusive.
		from, to := time.Unix(base+10, 0).UTC(), time.Unix(base+70, 0).UTC()
		rangeQ := "&from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
		wantRange := e.storeOrder(tm, p.ID, store.RecordQuery{From: from, To: to})
		if len(wantRange) != 180 {
			t.Fatalf("store range holds %d records", len(wantRange))
		}
		for _, limit := range []int{13, 100} {
			if got := e.allRecords(tm, p.ID, rangeQ, limit); !equalIDs(got, wantRange) {
				t.Fatalf("range, limit %d: got %v\nwant %v", limit, got, wantRange)
			}
		}
		// Recent pages come from the cache: a record written behind the
		// cache's back (as by another node) is not on them until the cache
		// is rebuilt.
		newest := time.Unix(base+1000, 0).UTC()
		b := &store.Batch{TeamID: tm.id, PipelineID: p.ID, Version: 1, Persist: true,
			Run:     core.Run{ID: core.NewID(), TeamID: tm.id, PipelineID: p.ID, Version: 1, Trigger: core.TriggerManual, StartedAt: core.Now(), Fetched: 1, Stored: 1},
			Records: []core.Record{{PipelineID: p.ID, TS: newest, Version: 1, Data: json.RawMessage(`{"behind":"the back"}`)}}}
		if err := e.store.WriteBatch(e.ctx(), b); err != nil {
			t.Fatal(err)
		}
		if got := e.allRecords(tm, p.ID, "", 10); got[0] == b.Records[0].ID {
			t.Fatal("page 1 did not come from the cache")
		}
		e.cache.Forget(p.ID)
		if got := e.allRecords(tm, p.ID, "", 10); got[0] != b.Records[0].ID || len(got) != 251 {
			t.Fatalf("after rebuilding the cache, page 1 starts with %d, want %d", got[0], b.Records[0].ID)
		}
	})
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRejectedAndRunsPaging(t *testing.T) {
	// One run per webhook batch (the engine's default merges a minute of
	// push traffic into one run), so that there are runs to page through.
	perBatchRuns := func(c *envConfig) { c.PushRunInterval = time.Nanosecond }
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("strict", `"mapping": {"fields": {"n": {"type": "integer", "required": true}}}`))
		for i := range 5 {
			want(t, e.hook(p.IngestURL, []byte(fmt.Sprintf(`[{"n": %d}, {"n": "bad %d"}]`, i, i))), http.StatusAccepted)
		}
		base := "/api/v1/pipelines/" + p.ID.String()
		var rejected []string
		var runs []uuid.UUID
		for _, kind := range []string{"rejected", "runs"} {
			cursor := ""
			for page := 0; page < 10; page++ {
				r := e.do("GET", base+"/"+kind+"?limit=2&cursor="+url.QueryEscape(cursor), tm.viewer, nil)
				want(t, r, http.StatusOK)
				var out struct {
					Rejected []struct {
						Raw    json.RawMessage `json:"raw"`
						Reason string          `json:"reason"`
						RunID  uuid.UUID       `json:"run_id"`
					} `json:"rejected"`
					Runs []struct {
						ID       uuid.UUID `json:"id"`
						Fetched  int       `json:"fetched"`
						Stored   int       `json:"stored"`
						Rejected int       `json:"rejected"`
						Trigger  string    `json:"trigger"`
					} `json:"runs"`
					NextCursor string `json:"next_cursor"`
				}
				r.json(t, &out)
				for _, x := range out.Rejected {
					if x.RunID == uuid.Nil || !strings.Contains(x.Reason, "n") {
						t.Fatalf("rejected %s", r.body)
					}
					rejected = append(rejected, compact(t, x.Raw))
				}
				for _, x := range out.Runs {
					if x.Fetched != 2 || x.Stored != 1 || x.Rejected != 1 || x.Trigger != "webhook" {
						t.Fatalf("run %s", r.body)
					}
					runs = append(runs, x.ID)
				}
				if cursor = out.NextCursor; cursor == "" {
					break
				}
			}
		}
		if len(rejected) != 5 || rejected[0] != `{"n":"bad 4"}` || rejected[4] != `{"n":"bad 0"}` {
			t.Fatalf("rejected, newest first: %v", rejected)
		}
		if len(runs) != 5 || runs[0].String() < runs[4].String() {
			t.Fatalf("runs, newest first: %v", runs)
		}
	}, perBatchRuns)
}

// Webhook batches of one pipeline share one run per interval: the runs
// list shows one line with the counts of every request in it.
func TestWebhookRunsShareAnInterval(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("merged", `"mapping": {"fields": {"n": {"type": "integer", "required": true}}}`))
		for i := range 5 {
			want(t, e.hook(p.IngestURL, []byte(fmt.Sprintf(`[{"n": %d}, {"n": "bad %d"}]`, i, i))), http.StatusAccepted)
		}
		r := e.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/runs", tm.viewer, nil)
		want(t, r, http.StatusOK)
		var out struct {
			Runs []struct {
				Fetched, Stored, Rejected int
				Trigger                   string
			} `json:"runs"`
		}
		r.json(t, &out)
		if len(out.Runs) != 1 || out.Runs[0].Fetched != 10 || out.Runs[0].Stored != 5 || out.Runs[0].Rejected != 5 || out.Runs[0].Trigger != "webhook" {
			t.Fatalf("runs %s", r.body)
		}
	})
}

func TestRecordsBadQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("q"))
		for i := range 3 {
			want(t, e.hook(p.IngestURL, []byte(fmt.Sprintf(`{"i": %d}`, i))), http.StatusAccepted)
		}
		base := "/api/v1/pipelines/" + p.ID.String()
		var page recordsPage
		e.do("GET", base+"/records?limit=1", tm.viewer, nil).json(t, &page)
		var runs struct {
			NextCursor string `json:"next_cursor"`
		}
		e.do("GET", base+"/runs?limit=1", tm.viewer, nil).json(t, &runs)
		if page.NextCursor == "" || runs.NextCursor == "" {
			t.Fatal("no cursors to play with")
		}
		for _, tc := range []struct{ name, query, message string }{
			{"limit 0", "/records?limit=0", "limit"},
			{"limit too big", "/records?limit=1001", "limit"},
			{"limit not a number", "/records?limit=ten", "limit"},
			{"cursor garbage", "/records?cursor=%21%21%21", "cursor"},
			{"cursor truncated", "/records?cursor=" + page.NextCursor[:5], "cursor"},
			{"cursor of runs", "/records?cursor=" + runs.NextCursor, "cursor"},
			{"records cursor for runs", "/runs?cursor=" + page.NextCursor, "cursor"},
			{"records cursor for rejected", "/rejected?cursor=" + page.NextCursor, "cursor"},
			{"from not a time", "/records?from=yesterday", "from"},
			{"from after to", "/records?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("GET", base+tc.query, tm.viewer, nil)
				want(t, r, http.StatusUnprocessableEntity)
				if !strings.Contains(string(r.body), tc.message) {
					t.Fatalf("no mention of %q: %s", tc.message, r.body)
				}
			})
		}
	})
}

// TestIsolation: another team's credentials see nothing of a team's
// pipelines, records, streams or secrets — the same 404 as for ids that
// do not exist.
func TestIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := e.newTeam(), e.newTeam()
		want(t, e.do("POST", "/api/v1/secrets", a.editor, map[string]string{"name": "a-key", "value": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), http.StatusCreated)
		p := e.createPipeline(a, webhookSpec("a-only", `"source": {"webhook": {"signing_secret": "a-key"}}`))
		path := "/api/v1/pipelines/" + p.ID.String()
		for _, tc := range []struct{ method, path string }{
			{"GET", path}, {"PUT", path}, {"DELETE", path},
			{"POST", path + "/pause"}, {"POST", path + "/resume"}, {"POST", path + "/rotate-token"},
			{"GET", path + "/records"}, {"GET", path + "/rejected"}, {"GET", path + "/runs"}, {"GET", path + "/stream"},
			{"GET", path + "?team=" + a.id.String()}, {"GET", path + "/records?team=" + a.id.String()},
			{"GET", "/api/v1/secrets/a-key"}, {"PUT", "/api/v1/secrets/a-key"}, {"DELETE", "/api/v1/secrets/a-key"},
		} {
			var body any
			if tc.method == "PUT" {
				body = map[string]string{"value": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
				if !strings.Contains(tc.path, "secrets") {
					body = webhookSpec("stolen")
				}
			}
			r := e.do(tc.method, tc.path, b.owner, body)
			if r.status != http.StatusNotFound {
				t.Errorf("team B: %s %s = %s", tc.method, tc.path, r)
			}
		}
		r := e.do("GET", "/api/v1/pipelines", b.owner, nil)
		if strings.Contains(string(r.body), p.ID.String()) {
			t.Errorf("team B lists team A's pipeline: %s", r.body)
		}
		r = e.do("GET", "/api/v1/secrets", b.owner, nil)
		if strings.Contains(string(r.body), "a-key") {
			t.Errorf("team B lists team A's secret: %s", r.body)
		}
		// Team B may use the name for its own secret.
		want(t, e.do("POST", "/api/v1/secrets", b.editor, map[string]string{"name": "a-key", "value": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), http.StatusCreated)
		// Team A's pipeline is untouched.
		r = e.do("GET", path, a.viewer, nil)
		want(t, r, http.StatusOK)
		var got pipelineBody
		if r.json(t, &got); got.Version != 1 || got.Status != "active" {
			t.Fatalf("team A's pipeline changed: %s", r.body)
		}
	})
}
