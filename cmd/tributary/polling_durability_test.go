package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// numberedAPI is a local API whose records are numbered 1, 2, 3, …: a
// request for the records after n gets the next ones available, up to a
// page. Records become available over time, until frozen.
type numberedAPI struct {
	*httptest.Server
	mu        sync.Mutex
	start     time.Time
	rate      float64 // records per second
	frozen    int     // when > 0, no record beyond it ever appears
	requests  int
	pageLimit int
	// hold, when set, is closed by the next request, which then never
	// answers: the poll that sent it is in flight until its process dies.
	hold chan struct{}
}

func newNumberedAPI(t *testing.T, rate float64) *numberedAPI {
	a := &numberedAPI{start: time.Now(), rate: rate, pageLimit: 1000}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, err := strconv.Atoi(r.URL.Query().Get("after"))
		if err != nil {
			http.Error(w, "after must be a number", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.requests++
		avail := a.availableLocked()
		hold := a.hold
		a.hold = nil
		a.mu.Unlock()
		if hold != nil {
			close(hold)
			<-r.Context().Done()
			return
		}
		var b strings.Builder
		b.WriteString(`{"items":[`)
		for id, n := after+1, 0; id <= avail && n < a.pageLimit; id, n = id+1, n+1 {
			if n > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d}`, id)
		}
		b.WriteString("]}")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *numberedAPI) availableLocked() int {
	if a.frozen > 0 {
		return a.frozen
	}
	return int(time.Since(a.start).Seconds() * a.rate)
}

// freeze stops new records from appearing and returns the last id.
func (a *numberedAPI) freeze() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.frozen = max(a.availableLocked(), 1)
	return a.frozen
}

// TestPollingSurvivesKill9 polls a numbered local API with a cursor in
// the pipeline's state, killing the server process with SIGKILL at random
// points (TRIBUTARY_PROOF_KILLS times, 1 by default): afterwards every
// number is stored exactly once — no gap, no duplicate — because a poll
// commits its records and its state in one transaction.
func TestPollingSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	k9OnBackends(t, []string{"TRIBUTARY_ALLOW_NETWORKS=127.0.0.1/32", "TRIBUTARY_JOB_RESCUE_AFTER=5s"}, testPollingKill9)
}

func testPollingKill9(t *testing.T, bin string, env []string) {
	api := newNumberedAPI(t, 400)
	f := k9Setup(t, bin, env, k9Account{email: "poll@example.com", password: "kill-9-password", team: "polls", tokenName: "poller"},
		`{"name":"numbered","kind":"polling","source":{"interval":"1s",
		"state":{"after":{"from":"id","initial":0}},
		"http":{"url":"`+api.URL+`/items","query":{"after":"{{ state.after }}"},"records":"items"}}}`)
	p := f.p

	kills := proofInt(t, "TRIBUTARY_PROOF_KILLS", 1)
	var (
		peakRSS   int64
		maxResume time.Duration
		midPoll   int
	)
	for round := range kills {
		if round > 0 {
			p = k9Start(t, bin, env)
		}
		// Let it poll for a random while, then kill it. A poll job that was
		// running when the process died is requeued by the restarted
		// process (same data directory, same node: jobs.Identity); without
		// that it waited for River's rescue, after the poll job's timeout
		// (2m30s), and the polls fell minutes behind at each such kill.
		// How long the first poll after a restart took is reported.
		api.mu.Lock()
		before := api.requests
		api.mu.Unlock()
		started := time.Now()
		resumed := false
		wait := time.Duration(300+rand.IntN(2000)) * time.Millisecond
		for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
			api.mu.Lock()
			polled := api.requests > before
			api.mu.Unlock()
			if polled && !resumed {
				resumed = true
				maxResume = max(maxResume, time.Since(started))
			}
			if polled && time.Now().After(deadline) {
				break
			}
			if time.Since(deadline) > 4*time.Minute {
				t.Fatalf("round %d: no poll in 4 minutes; logs:\n%s", round, p.logs)
			}
		}
		if round%2 == 0 {
			// Every other kill lands in the middle of a poll, its request
			// sent and unanswered, the job running.
			inFlight := make(chan struct{})
			api.mu.Lock()
			api.hold = inFlight
			api.mu.Unlock()
			select {
			case <-inFlight:
				midPoll++
			case <-time.After(4 * time.Minute):
				t.Fatalf("round %d: no poll in 4 minutes; logs:\n%s", round, p.logs)
			}
		}
		peakRSS = max(peakRSS, p.kill9(t))
	}

	// Restart, stop the API growing, and wait until everything is stored.
	final := k9Start(t, bin, env)
	last := api.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	st := k9OpenStore(t, ctx, env)
	// The catch-up may take long after many kills (a thousand records a
	// poll): wait as long as records keep coming, and fail after 3 minutes
	// without any.
	var counts map[int]int
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		n := len(counts)
		counts = storedIDs(t, ctx, st, f.team, f.pipeline)
		if counts[last] > 0 {
			break
		}
		if len(counts) > n {
			deadline = time.Now().Add(3 * time.Minute)
		}
		if time.Now().After(deadline) {
			api.mu.Lock()
			requests := api.requests
			api.mu.Unlock()
			t.Fatalf("record %d never stored (%d distinct stored, %d requests to the API); logs after the restart:\n%s", last, len(counts), requests, final.logs)
		}
	}
	gaps, dups := 0, 0
	for id := 1; id <= last; id++ {
		if counts[id] == 0 {
			gaps++
		}
		dups += max(counts[id]-1, 0)
	}
	t.Logf("%d numbered records polled over %d kills (%d in the middle of a poll): %d gaps, %d duplicates; the first poll after a restart came after %s at most",
		last, kills, midPoll, gaps, dups, maxResume.Round(time.Millisecond))
	proofReport(t, proofRow{Promise: "crash: polling a numbered API, no gap and no duplicate after kill -9", Runs: kills, Failed: gaps > 0 || dups > 0,
		Figures: map[string]any{"records": last, "kills in the middle of a poll": midPoll, "gaps": gaps, "duplicates": dups, "peak_rss_mb": peakRSS >> 20,
			"longest wait for the first poll after a restart": maxResume.Round(time.Millisecond).String()}})
	if gaps > 0 || dups > 0 {
		t.Fatalf("%d gaps and %d duplicates in %d numbered records", gaps, dups, last)
	}
}
