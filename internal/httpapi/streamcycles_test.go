package httpapi_test

import (
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// TestStreamCyclesLeakNothing connects to a live stream, reads its
// "recent" event and disconnects, over and over (200 times, or
// TRIBUTARY_PROOF_STREAM_CYCLES for `make proof`): afterwards the server's
// goroutines are back to where they were. It does not run in parallel, so
// that the count is this test's.
func TestStreamCyclesLeakNothing(t *testing.T) {
	cycles := 200
	if v := os.Getenv("TRIBUTARY_PROOF_STREAM_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TRIBUTARY_PROOF_STREAM_CYCLES=%q", v)
		}
		cycles = n
	}
	e := setup(t, storetest.SQLite)
	tm := e.newTeam()
	p := e.createPipeline(tm, webhookSpec("cycles", `"persist": true`))
	want(t, e.hook(p.IngestURL, []byte(`[{"n": 1}, {"n": 2}]`)), http.StatusAccepted)
	cycle := func() {
		s := e.stream(p.ID, tm.viewer)
		if ev := s.next(); ev.name != "recent" {
			t.Fatalf("first event %q", ev.name)
		}
		s.cancel()
		for range s.events { // the reader ends once the body is closed
		}
	}
	for range 20 { // warm up pools and caches
		cycle()
	}
	e.srv.Client().CloseIdleConnections()
	base := settledGoroutines(0, time.Second)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range cycles {
		cycle()
	}
	e.srv.Client().CloseIdleConnections()
	after := settledGoroutines(base, 30*time.Second)
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	t.Logf("%d stream cycles: goroutines %d before, %d after; heap in use %.1f MiB before, %.1f MiB after",
		cycles, base, after, float64(before.HeapInuse)/(1<<20), float64(mem.HeapInuse)/(1<<20))
	if after > base+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after %d stream cycles, %d before:\n%s", after, cycles, base, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits until the number of goroutines is at most want
// (or stops changing when want is 0), up to wait, and returns it.
func settledGoroutines(want int, wait time.Duration) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want > 0 && m <= want) || (want == 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}
