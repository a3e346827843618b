package web_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// TestMeasureDashboards measures the dashboards (docs/benchmarks.md,
// "Dashboards in the browser"); it only logs figures, never asserts
// times. Opt-in, as it writes 2.6 million records and runs for minutes:
//
//	TRIBUTARY_MEASURE_UI=1 go test -run TestMeasureDashboards -v -timeout 30m ./internal/web/
//
// A pipeline gets 30 days of one record per second, written directly
// through the store's WriteBatch with their per-minute rollups (what the
// engine writes for ingested records), then compacted into the hourly
// and daily rollups as the maintenance job does. Then:
//   - server time to first byte of the automatic dashboard and of a
//     custom dashboard (line chart, stat, table) over 30 days and live;
//   - in Chromium, the time from navigation start to the charts drawn
//     (the pages' performance mark "tributary:dashboard-drawn");
//   - 2,000 records/s posted to the pipeline's webhook for a minute while
//     each dashboard is open: the age of the newest row of the table and
//     the JS heap after a forced garbage collection, every 5 seconds.
func TestMeasureDashboards(t *testing.T) {
	if os.Getenv("TRIBUTARY_MEASURE_UI") != "1" {
		t.Skip("set TRIBUTARY_MEASURE_UI=1 to measure the dashboards (minutes)")
	}
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		t.Fatal("the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	bg := context.Background()
	if _, _, err := s.Accounts.CreateUser(bg, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	var p struct {
		pipelineJSON
		TeamID string `json:"team_id"`
	}
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"metrics","kind":"webhook","mapping":{"fields":{
		"value":{"path":"value","type":"number"},"sent":{"path":"sent","type":"integer"}}}}`), &p)

	seed(t, s.Store, uuid.MustParse(p.TeamID), uuid.MustParse(p.ID), 30*24*time.Hour)

	var d struct {
		ID string `json:"id"`
	}
	owner.do("POST", "/api/v1/dashboards", map[string]any{"name": "month", "range": "30d", "widgets": []map[string]any{
		{"kind": "line", "w": 8, "h": 4, "series": []map[string]any{{"pipeline": p.ID, "field": "value"}, {"pipeline": p.ID, "field": "value", "aggregate": "max"}}},
		{"kind": "stat", "x": 8, "w": 4, "h": 2, "series": []map[string]any{{"pipeline": p.ID, "field": "value", "aggregate": "max"}}},
		{"kind": "table", "y": 4, "w": 12, "h": 4, "pipeline": p.ID, "rows": 20},
	}}, &d)

	// Time to first byte, over plain HTTP with the owner's session.
	pages := []struct{ name, path string }{
		{"automatic dashboard, live (15 min)", "/pipelines/" + p.ID},
		{"automatic dashboard, 30 days", "/pipelines/" + p.ID + "?range=30d"},
		{"custom dashboard, live (15 min)", "/dashboards/" + d.ID + "?range=live"},
		{"custom dashboard, 30 days", "/dashboards/" + d.ID},
	}
	for _, pg := range pages {
		var ttfb []time.Duration
		for i := range 21 {
			var start, first time.Time
			trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(bg, trace), "GET", s.URL+pg.path, nil)
			start = time.Now()
			res, err := owner.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", pg.path, res.Status)
			}
			if i > 0 { // the first warms the caches
				ttfb = append(ttfb, first.Sub(start))
			}
		}
		slices.Sort(ttfb)
		t.Logf("TTFB %s: p50 %v, p95 %v, max %v (20 requests)", pg.name, ms(ttfb[len(ttfb)/2]), ms(ttfb[len(ttfb)*95/100]), ms(ttfb[len(ttfb)-1]))
	}

	// Charts drawn after navigation, in the browser.
	ctx := measureBrowser(t)
	signIn(t, ctx, s.URL, "ada@example.com")
	for _, pg := range pages {
		var drawn []float64
		for range 5 {
			step(t, ctx, "open "+pg.name, chromedp.Navigate(s.URL+pg.path))
			waitFor(t, ctx, "the charts of "+pg.name, `performance.getEntriesByName("tributary:dashboard-drawn").length > 0`)
			drawn = append(drawn, eval[float64](t, ctx, `performance.getEntriesByName("tributary:dashboard-drawn")[0].startTime`))
		}
		slices.Sort(drawn)
		t.Logf("charts drawn after navigation, %s: median %.0f ms, max %.0f ms (5 loads)", pg.name, drawn[len(drawn)/2], drawn[len(drawn)-1])
	}

	// 2,000 records/s for a minute with each dashboard open.
	for _, pg := range []struct{ name, path, newest string }{
		{"automatic dashboard", "/pipelines/" + p.ID, `document.querySelector("[data-records] tbody tr[data-id]")`},
		{"custom dashboard", "/dashboards/" + d.ID + "?range=live", `document.querySelector('[data-widget="2"] tbody tr[data-id]')`},
	} {
		step(t, ctx, "open "+pg.name, chromedp.Navigate(s.URL+pg.path))
		waitFor(t, ctx, "the live connection", `document.querySelector("[data-conn]").dataset.state === "live"`)
		stop := make(chan struct{})
		var sent atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() { load(t, p.IngestURL, 2000, stop, &sent) })
		began := time.Now()
		var lines []string
		for i := 1; i <= 12; i++ {
			time.Sleep(time.Until(began.Add(time.Duration(i) * 5 * time.Second))) // sampling period, not synchronization
			age := eval[float64](t, ctx, `(() => { const tr = `+pg.newest+`; return tr ? Date.now() - Date.parse(tr.dataset.ts) : -1 })()`)
			heap := eval[float64](t, ctx, `(window.gc && window.gc(), performance.memory.usedJSHeapSize)`)
			lines = append(lines, fmt.Sprintf("t=%2ds sent %7d  newest row %4.0f ms old  heap %5.2f MB", i*5, sent.Load(), age, heap/1e6))
		}
		close(stop)
		wg.Wait()
		rate := float64(sent.Load()) / time.Since(began).Seconds()
		t.Logf("2,000 records/s into %s (achieved %.0f records/s):\n%s", pg.name, rate, strings.Join(lines, "\n"))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// seed writes a record per second over span, ending now, with the
// per-minute rollups the engine would write, then compacts the rollups.
func seed(t *testing.T, st store.Store, team, pipeline uuid.UUID, span time.Duration) {
	t.Helper()
	type writer interface {
		WriteBatch(ctx context.Context, b *store.Batch) error
		CompactRollups(ctx context.Context, limit int) (int, error)
	}
	w, ok := st.(writer)
	if !ok {
		t.Fatal("the store cannot write batches")
	}
	ctx := context.Background()
	end := core.Now().Truncate(time.Second)
	start := end.Add(-span)
	n := int(span / time.Second)
	const batch = 20_000
	began := time.Now()
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		b := &store.Batch{TeamID: team, PipelineID: pipeline, Version: 1, Persist: true,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
		b.Records = make([]core.Record, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ts := start.Add(time.Duration(i) * time.Second)
			v := math.Round((20+math.Sin(float64(i)/3600)*5+math.Sin(float64(i)/37))*100) / 100
			b.Records = append(b.Records, core.Record{TS: ts, Data: []byte(`{"value":` + strconv.FormatFloat(v, 'f', -1, 64) + `,"sent":` + strconv.FormatInt(ts.UnixMilli(), 10) + `}`)})
			b.Rollups.Add(ts, map[string]any{"value": v, "sent": float64(ts.UnixMilli())})
		}
		if err := w.WriteBatch(ctx, b); err != nil {
			t.Fatalf("write batch: %v", err)
		}
	}
	wrote := time.Since(began)
	folded := 0
	for {
		k, err := w.CompactRollups(ctx, 50_000)
		if err != nil {
			t.Fatalf("compact rollups: %v", err)
		}
		folded += k
		if k == 0 {
			break
		}
	}
	t.Logf("seeded %d records over %v in %v (%.0f records/s) through WriteBatch with minute rollups; compaction folded %d hourly deltas in %v",
		n, span, wrote.Round(time.Second), float64(n)/wrote.Seconds(), folded, (time.Since(began) - wrote).Round(time.Millisecond))
}

// load posts records to a webhook at about rate per second, in requests
// of 100 records every 50 ms (up to 8 at once, so that a slow answer does
// not lower the rate), until stop closes.
func load(t *testing.T, url string, rate int, stop <-chan struct{}, sent *atomic.Int64) {
	const per = 100
	every := time.Second * per / time.Duration(rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	c := &http.Client{Timeout: 30 * time.Second}
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var sb strings.Builder
		sb.WriteByte('[')
		now := time.Now().UnixMilli()
		for j := range per {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"value":%d.5,"sent":%d}`, (i+j)%50, now)
		}
		sb.WriteByte(']')
		select {
		case slots <- struct{}{}:
		case <-stop:
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			res, err := c.Post(url, "application/json", strings.NewReader(sb.String()))
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			res.Body.Close()
			if res.StatusCode >= 300 {
				t.Errorf("post: %s", res.Status)
				return
			}
			sent.Add(per)
		})
	}
}

// measureBrowser is browser with the heap exposed: precise
// performance.memory and window.gc.
func measureBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("enable-precise-memory-info", true),
		chromedp.Flag("js-flags", "--expose-gc"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
