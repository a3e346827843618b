package source_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/source"
)

// total is how many items the paginated fake API holds.
const total = 25

// pagedAPI serves items 0..total in pages of 10, in every pagination
// style at its own path.
func pagedAPI(t *testing.T) (*api, *atomic.Int64) {
	var requests atomic.Int64
	var a *api
	a = newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		size := 10
		if l := q.Get("limit"); l != "" {
			size, _ = strconv.Atoi(l)
		}
		if l := q.Get("per_page"); l != "" {
			size, _ = strconv.Atoi(l)
		}
		page := func(from int) []map[string]any {
			from = min(max(from, 0), total)
			return items(from, min(from+size, total))
		}
		switch r.URL.Path {
		case "/page":
			n, _ := strconv.Atoi(q.Get("page"))
			writeJSON(w, map[string]any{"data": page((n - 1) * size)})
		case "/offset":
			n, _ := strconv.Atoi(q.Get("offset"))
			writeJSON(w, page(n))
		case "/cursor":
			from := 0
			if c := q.Get("cursor"); c != "" {
				from, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
			}
			var next any
			if from+size < total {
				next = fmt.Sprintf("c%d", from+size)
			}
			writeJSON(w, map[string]any{"items": page(from), "meta": map[string]any{"next": next}})
		case "/cursor-url":
			from, _ := strconv.Atoi(q.Get("from"))
			var next any
			if from+size < total {
				next = fmt.Sprintf("/cursor-url?from=%d", from+size)
			}
			writeJSON(w, map[string]any{"items": page(from), "links": map[string]any{"next": next}})
		case "/link":
			from, _ := strconv.Atoi(q.Get("from"))
			if from+size < total {
				w.Header().Add("Link", fmt.Sprintf(`<%s/link?from=0>; rel="first", <%s/link?from=%d>; rel="next"`, a.URL, a.URL, from+size))
			}
			writeJSON(w, page(from))
		default:
			http.NotFound(w, r)
		}
	})
	return a, &requests
}

func TestPagination(t *testing.T) {
	t.Parallel()
	a, _ := pagedAPI(t)
	e := env(loopback, nil)
	for _, tc := range []struct {
		name, spec string
		pages      int
	}{
		{"page", `{"url":"%s/page","records":"data","pagination":{"type":"page","limit":10,"limit_param":"per_page"}}`, 3},
		{"page without limit", `{"url":"%s/page","records":"data","pagination":{"type":"page"}}`, 4},
		{"offset", `{"url":"%s/offset","pagination":{"type":"offset","limit":10}}`, 3},
		{"cursor", `{"url":"%s/cursor","records":"items","pagination":{"type":"cursor","next":"meta.next","param":"cursor"}}`, 3},
		{"cursor URL", `{"url":"%s/cursor-url","records":"items","pagination":{"type":"cursor","next":"links.next"}}`, 3},
		{"link", `{"url":"%s/link","pagination":{"type":"link"}}`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := build(t, "http", fmt.Sprintf(tc.spec, a.URL), "")
			res := poll(t, s, e, nil)
			if len(res.Records) != total || res.More {
				t.Fatalf("%d records (more %v), want %d: %v", len(res.Records), res.More, total, ids(res.Records))
			}
			for i, id := range ids(res.Records) {
				if id != strconv.Itoa(i) {
					t.Fatalf("record %d has id %s", i, id)
				}
			}
			if res.Pages != tc.pages || res.Requests != tc.pages {
				t.Fatalf("%d pages in %d requests, want %d", res.Pages, res.Requests, tc.pages)
			}
		})
	}
	t.Run("max pages", func(t *testing.T) {
		t.Parallel()
		s := build(t, "http", fmt.Sprintf(`{"url":"%s/cursor","records":"items","pagination":{"type":"cursor","next":"meta.next","param":"cursor","max_pages":2}}`, a.URL), "")
		res := poll(t, s, e, nil)
		if len(res.Records) != 20 || !res.More || res.Requests != 2 {
			t.Fatalf("%d records in %d requests, more %v; want 20 in 2, more", len(res.Records), res.Requests, res.More)
		}
	})
	t.Run("max records", func(t *testing.T) {
		t.Parallel()
		e := *e
		e.MaxRecords = 15
		s := build(t, "http", fmt.Sprintf(`{"url":"%s/offset","pagination":{"type":"offset","limit":10}}`, a.URL), "")
		res := poll(t, s, &e, nil)
		if len(res.Records) != 15 || !res.More || res.Requests != 2 {
			t.Fatalf("%d records in %d requests, more %v; want 15 in 2, more", len(res.Records), res.Requests, res.More)
		}
	})
}

func TestPaginationRefusesOtherOrigins(t *testing.T) {
	t.Parallel()
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, []any{}) })
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/link" {
			w.Header().Set("Link", fmt.Sprintf(`<%s/steal>; rel="next"`, other.URL))
			writeJSON(w, items(0, 1))
			return
		}
		writeJSON(w, map[string]any{"items": items(0, 1), "next": other.URL + "/steal"})
	})
	e := env(loopback, map[string]string{"key": "k-secret-value"})
	for _, spec := range []string{
		`{"url":"%s/link","pagination":{"type":"link"},"auth":{"type":"bearer","secret":"key"}}`,
		`{"url":"%s/cursor","records":"items","pagination":{"type":"cursor","next":"next"},"auth":{"type":"bearer","secret":"key"}}`,
	} {
		s := build(t, "http", fmt.Sprintf(spec, a.URL), "")
		err := pollErr(t, s, e, nil)
		if !strings.Contains(err.Msg, "leads to another origin") {
			t.Fatalf("error = %q", err.Msg)
		}
	}
	if n := other.conns.Load(); n != 0 {
		t.Fatalf("the other origin got %d connections", n)
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ndjson":
			w.Header().Set("Content-Type", "application/x-ndjson")
			io.WriteString(w, "{\"id\":1}\n\n{\"id\":2}\r\n{\"id\":3}")
		case "/csv":
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			io.WriteString(w, "\ufeffid,name\n1,a\n2,\"b, c\"\n")
		case "/object":
			writeJSON(w, map[string]any{"id": 7, "big": json.Number("12345678901234567890")})
		case "/plain-ndjson":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "{\"id\":1}\n{\"id\":2}\n")
		}
	})
	e := env(loopback, nil)
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{`{"url":"%s/ndjson"}`, []string{"1", "2", "3"}},
		{`{"url":"%s/csv"}`, []string{"1", "2"}},
		{`{"url":"%s/object"}`, []string{"7"}},
		{`{"url":"%s/plain-ndjson","format":"ndjson"}`, []string{"1", "2"}},
	} {
		s := build(t, "http", fmt.Sprintf(tc.spec, a.URL), "")
		res := poll(t, s, e, nil)
		if got := ids(res.Records); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("%s: ids %v, want %v", tc.spec, got, tc.want)
		}
	}
	s := build(t, "http", fmt.Sprintf(`{"url":"%s/csv"}`, a.URL), "")
	rec := poll(t, s, e, nil).Records[1].(map[string]any)
	if rec["name"] != "b, c" {
		t.Fatalf("csv record %v", rec)
	}
	s = build(t, "http", fmt.Sprintf(`{"url":"%s/object"}`, a.URL), "")
	if big := poll(t, s, e, nil).Records[0].(map[string]any)["big"]; big != json.Number("12345678901234567890") {
		t.Fatalf("a large integer became %v (%T)", big, big)
	}
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"data": [1, 2,, 3]}`)
		case "/truncated":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"data": [{"id": 1}`)
		case "/ndjson":
			w.Header().Set("Content-Type", "application/x-ndjson")
			io.WriteString(w, "{\"id\":1}\n{\"id\":\n")
		case "/csv":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, "id,name\n1,\"a\n")
		case "/csv-header":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, "id,id\n1,2\n")
		case "/missing":
			writeJSON(w, map[string]any{"error": "maintenance"})
		case "/scalar":
			writeJSON(w, map[string]any{"data": "nope"})
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>hello</html>")
		case "/500":
			http.Error(w, "database exploded", http.StatusInternalServerError)
		case "/empty":
		}
	})
	e := env(loopback, nil)
	for _, tc := range []struct{ spec, want string }{
		{`{"url":"%s/json","records":"data"}`, "not valid JSON: invalid character ',' looking for beginning of value at line 1, column 16"},
		{`{"url":"%s/truncated","records":"data"}`, "not valid JSON"},
		{`{"url":"%s/ndjson"}`, "not valid NDJSON: line 2"},
		{`{"url":"%s/csv"}`, "not valid CSV: row 2"},
		{`{"url":"%s/csv-header"}`, `names column "id" twice`},
		{`{"url":"%s/missing","records":"data.items"}`, `nothing at "data.items"`},
		{`{"url":"%s/scalar","records":"data"}`, `"data" in the response is a string`},
		{`{"url":"%s/html"}`, "not valid JSON"},
		{`{"url":"%s/500"}`, "answered 500 Internal Server Error: database exploded"},
		{`{"url":"%s/empty"}`, "empty"},
	} {
		s := build(t, "http", fmt.Sprintf(tc.spec, a.URL), "")
		if err := pollErr(t, s, e, nil); !strings.Contains(err.Msg, tc.want) || !strings.Contains(err.Msg, "GET http://127.0.0.1") {
			t.Errorf("%s: error %q, want it to contain %q and the URL", tc.spec, err.Msg, tc.want)
		}
	}
}

func TestHugeAndSlowResponses(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[")
			for i := 0; i < 200_000; i++ {
				fmt.Fprintf(w, `{"id":%d,"pad":"xxxxxxxxxxxxxxxxxxxxxxxx"},`, i)
			}
			io.WriteString(w, `{"id":-1}]`)
		case "/slow":
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
			writeJSON(w, []any{})
		case "/dribble":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[")
			w.(http.Flusher).Flush()
			for i := 0; i < 100; i++ {
				select {
				case <-time.After(100 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, `{"id":1},`)
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, `{"id":2}]`)
		}
	})
	// The guard bounds every response; the spec can bound it lower.
	e := env(loopback, nil, func(c *netguard.Config) { c.MaxResponseBytes = 1 << 20 })
	err := pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/huge"}`, a.URL), ""), e, nil)
	if !strings.Contains(err.Msg, "too large") || !strings.Contains(err.Msg, "1048576") {
		t.Fatalf("huge body: %q", err.Msg)
	}
	err = pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/huge","max_bytes":10000}`, a.URL), ""), e, nil)
	if !strings.Contains(err.Msg, "larger than max_bytes (10000 bytes)") {
		t.Fatalf("huge body over max_bytes: %q", err.Msg)
	}
	start := time.Now()
	err = pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/slow","timeout":"1s"}`, a.URL), ""), e, nil)
	if !strings.Contains(err.Msg, "timed out after 1s") || time.Since(start) > 5*time.Second {
		t.Fatalf("slow API: %q after %s", err.Msg, time.Since(start))
	}
	err = pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/dribble","timeout":"1s"}`, a.URL), ""), e, nil)
	if !strings.Contains(err.Msg, "timed out after 1s") {
		t.Fatalf("dribbling API: %q", err.Msg)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		switch r.URL.Path {
		case "/short":
			if n%2 == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			writeJSON(w, items(0, 2))
		case "/long":
			w.Header().Set("Retry-After", "120")
			http.Error(w, "come back later", http.StatusTooManyRequests)
		case "/date":
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case "/always":
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	})
	e := env(loopback, nil)
	start := time.Now()
	res := poll(t, build(t, "http", fmt.Sprintf(`{"url":"%s/short"}`, a.URL), ""), e, nil)
	if len(res.Records) != 2 || res.Requests != 2 || time.Since(start) < time.Second {
		t.Fatalf("short Retry-After: %d records in %d requests after %s", len(res.Records), res.Requests, time.Since(start))
	}
	err := pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/long"}`, a.URL), ""), e, nil)
	if err.RetryAfter != 120*time.Second || err.Status != 429 || !strings.Contains(err.Msg, "retry after 2m0s") {
		t.Fatalf("long Retry-After: %+v", err)
	}
	err = pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/date"}`, a.URL), ""), e, nil)
	if err.RetryAfter < 80*time.Second || err.RetryAfter > 90*time.Second || err.Status != 503 {
		t.Fatalf("Retry-After as a date: %+v", err)
	}
	before := hits.Load()
	err = pollErr(t, build(t, "http", fmt.Sprintf(`{"url":"%s/always"}`, a.URL), ""), e, nil)
	if got := hits.Load() - before; got != 1+source.DefaultRetries || err.Status != 503 {
		t.Fatalf("%d requests to an API always busy, want %d; err %+v", got, 1+source.DefaultRetries, err)
	}
}

func TestHostRateLimit(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, items(0, 1)) })
	e := env(loopback, nil)
	e.Limiter = source.NewHostLimiter(10, 1)
	s := build(t, "http", fmt.Sprintf(`{"url":"%s/x"}`, a.URL), "")
	start := time.Now()
	for range 6 {
		poll(t, s, e, nil)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("6 requests at 10/s with burst 1 took %s", d)
	}
}

func TestRequestTemplatesAndState(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, query, body, header string
	}
	got := make(chan seen, 10)
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Get("X-Since")}
		since := r.URL.Query().Get("since")
		var recs []map[string]any
		for _, it := range items(0, 5) {
			if it["ts"].(string) > since {
				recs = append(recs, it)
			}
		}
		writeJSON(w, map[string]any{"items": recs, "meta": map[string]any{"cursor": "cur-" + strconv.Itoa(len(recs))}})
	})
	spec := fmt.Sprintf(`{"url":"%s/v1/{{ state.region }}/obs?fixed=1","method":"POST",
		"query":{"since":"{{state.since}}","n":[1,2]},
		"headers":{"X-Since":"since {{ state.since }}"},
		"body":{"after":"{{ state.since }}","count":"{{ state.count }}","note":"x {{ state.count }}"},
		"records":"items"}`, a.URL)
	state := `{"since":{"from":"ts","initial":"2024-01-01T00:00:01Z"},"region":{"response":"nowhere","initial":"eu west"},
		"count":{"from":"id","keep":"last","initial":0},"cursor":{"response":"meta.cursor"}}`
	s := build(t, "http", spec, state)
	e := env(loopback, nil)
	res := poll(t, s, e, nil)
	r := <-got
	if r.path != "/v1/eu%20west/obs" {
		t.Errorf("path %q", r.path)
	}
	q, _ := url.ParseQuery(r.query)
	if q.Get("since") != "2024-01-01T00:00:01Z" || q.Get("fixed") != "1" || strings.Join(q["n"], ",") != "1,2" {
		t.Errorf("query %q", r.query)
	}
	if r.header != "since 2024-01-01T00:00:01Z" {
		t.Errorf("header %q", r.header)
	}
	if r.body != `{"after":"2024-01-01T00:00:01Z","count":0,"note":"x 0"}` {
		t.Errorf("body %s", r.body)
	}
	if len(res.Records) != 3 {
		t.Fatalf("%d records", len(res.Records))
	}
	enc, _ := json.Marshal(res.State)
	if string(enc) != `{"count":4,"cursor":"cur-3","region":"eu west","since":"2024-01-01T00:00:04Z"}` {
		t.Fatalf("state %s", enc)
	}
	// The next poll asks only for what is new, and the state stays when
	// nothing is.
	res = poll(t, s, e, res.State)
	r = <-got
	if q, _ := url.ParseQuery(r.query); q.Get("since") != "2024-01-01T00:00:04Z" || len(res.Records) != 0 {
		t.Fatalf("second poll asked %q and got %d records", r.query, len(res.Records))
	}
	enc, _ = json.Marshal(res.State)
	if string(enc) != `{"count":4,"cursor":"cur-0","region":"eu west","since":"2024-01-01T00:00:04Z"}` {
		t.Fatalf("state after an empty poll %s", enc)
	}
}

func TestStateMax(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"n": json.Number("9"), "t": "2024-01-01T10:00:00+02:00", "s": "b"},
			map[string]any{"n": json.Number("10"), "t": "2024-01-01T09:00:00Z", "s": "a"},
			map[string]any{"n": nil, "s": "c"},
		})
	})
	s := build(t, "http", fmt.Sprintf(`{"url":"%s/"}`, a.URL), `{"n":{"from":"n"},"t":{"from":"t"},"s":{"from":"s"},"prev":{"from":"n"}}`)
	res := poll(t, s, env(loopback, nil), source.Values{"prev": json.Number("100")})
	enc, _ := json.Marshal(res.State)
	// Numbers by value (10 > 9), times by time (09:00Z > 08:00Z), and
	// never below the previous value.
	if string(enc) != `{"n":10,"prev":100,"s":"c","t":"2024-01-01T09:00:00Z"}` {
		t.Fatalf("state %s", enc)
	}
}

func TestDedupKeys(t *testing.T) {
	t.Parallel()
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"id": 1, "st": "a"}, map[string]any{"id": 1, "st": "b"}, map[string]any{"st": "c"}, map[string]any{"id": "1"},
		})
	})
	e := env(loopback, nil)
	keys := poll(t, build(t, "http", fmt.Sprintf(`{"url":"%s/","dedup":{"key":"id"}}`, a.URL), ""), e, nil).Keys
	if len(keys) != 4 || keys[0] == nil || string(keys[0]) != string(keys[1]) || keys[2] != nil || string(keys[3]) == string(keys[0]) {
		t.Fatalf("path keys %x", keys)
	}
	keys = poll(t, build(t, "http", fmt.Sprintf(`{"url":"%s/","dedup":{"key":"string(record.id) + record.st","window":"7d"}}`, a.URL), ""), e, nil).Keys
	if len(keys) != 4 || keys[0] == nil || keys[1] == nil || string(keys[0]) == string(keys[1]) {
		t.Fatalf("expression keys %x", keys)
	}
	s := build(t, "http", fmt.Sprintf(`{"url":"%s/","dedup":{"key":"id","window":"7d"}}`, a.URL), "")
	if w, ok := s.DedupWindow(); !ok || w != 7*24*time.Hour {
		t.Fatalf("window %v %v", w, ok)
	}
}
