package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// replicaMetrics is what a node's /metrics says of its read replicas.
type replicaMetrics struct {
	serving  map[string]bool    // replica host:port -> serves reads
	lag      map[string]float64 // seconds; +Inf when down
	reads    map[string]int64
	fallback int64
}

// scrapeReplicas reads the replica routing metrics of the node at base.
func scrapeReplicas(t *testing.T, base, token string) replicaMetrics {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	m := replicaMetrics{serving: map[string]bool{}, lag: map[string]float64{}, reads: map[string]int64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tributary_replica_") {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %q: %v", line, err)
		}
		name, labels, _ := strings.Cut(series, "{")
		replica := strings.TrimSuffix(strings.TrimPrefix(labels, `replica="`), `"}`)
		switch name {
		case "tributary_replica_serving":
			m.serving[replica] = v == 1
		case "tributary_replica_lag_seconds":
			m.lag[replica] = v
		case "tributary_replica_reads_total":
			m.reads[replica] = int64(v)
		case "tributary_replica_fallback_reads_total":
			m.fallback = int64(v)
		}
	}
	return m
}

// TestThreeNodesReadReplicas runs three `tributary serve` processes on a
// PostgreSQL primary with two streaming replicas made with pg_basebackup,
// both in TRIBUTARY_DATABASE_READ_URL. Reads spread over the replicas
// while both keep up; a stopped replica gets no reads and the other takes
// them; with the other one lagging beyond the bound too, reads go to the
// primary and see everything written; restarted and resumed, both serve
// again. Every node's metrics (serving, lag, reads routed, fallback reads)
// say so at each step.
func TestThreeNodesReadReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes and three PostgreSQL servers")
	}
	primary := pgtest.StartPrimary(t)
	db := primary.DatabaseURL(t, "tributary")
	r1 := pgtest.StartReplica(t, primary.URL)
	r2 := pgtest.StartReplica(t, primary.URL)
	const metricsToken = "replica-metrics-token"
	c := startCluster3On(t, db, "TRIBUTARY_HOOK_RATE=0", "TRIBUTARY_METRICS_TOKEN="+metricsToken,
		"TRIBUTARY_DATABASE_READ_URL="+r1.URL(db)+","+r2.URL(db))
	id, hook := c.webhook(t, "replicated")
	a1, a2 := r1.Addr(), r2.Addr()

	client := &http.Client{Timeout: 10 * time.Second}
	acked := 0
	send := func(n int) {
		t.Helper()
		for range n {
			code, err := post(client, c.nodes[acked%3].base+hook, fmt.Sprintf(`{"seq":%d}`, acked))
			if err != nil || code != http.StatusAccepted {
				t.Fatalf("post seq %d: %d %v", acked, code, err)
			}
			acked++
		}
	}
	// stored is the records a node's runs list (a replica read) counts.
	stored := func(node int) int {
		t.Helper()
		var page struct {
			Runs []struct {
				Stored int `json:"stored"`
			} `json:"runs"`
		}
		k9API(t, http.MethodGet, c.nodes[node].base+"/api/v1/pipelines/"+id.String()+"/runs?limit=1000", c.token, "", &page)
		n := 0
		for _, r := range page.Runs {
			n += r.Stored
		}
		return n
	}
	scrape := func() []replicaMetrics {
		t.Helper()
		out := make([]replicaMetrics, len(c.nodes))
		for i, n := range c.nodes {
			out[i] = scrapeReplicas(t, n.base, metricsToken)
		}
		return out
	}
	// waitFor polls until every node's metrics satisfy ok.
	waitFor := func(what string, during func(), ok func(m replicaMetrics) bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; {
			all := true
			for _, m := range scrape() {
				all = all && ok(m)
			}
			if all {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute, not every node's metrics show %s: %+v", what, scrape())
			}
			if during != nil {
				during()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// readAll has every node read the runs list ten times and returns
	// the metrics before and after; each read must see what was
	// acknowledged once the replica it reads from has caught up.
	readAll := func(fresh bool) (before, after []replicaMetrics) {
		t.Helper()
		before = scrape()
		for i := range c.nodes {
			for range 10 {
				if got := stored(i); fresh && got != acked {
					t.Errorf("node %d read %d records, want all %d acknowledged", i, got, acked)
				}
			}
		}
		return before, scrape()
	}
	waitCaughtUp := func() {
		t.Helper()
		for i := range c.nodes {
			// Four reads in a row, so that each replica has answered.
			for deadline, inARow := time.Now().Add(time.Minute), 0; inARow < 4; time.Sleep(50 * time.Millisecond) {
				if stored(i) == acked {
					inARow++
				} else {
					inARow = 0
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d reads %d records after a minute, want %d", i, stored(i), acked)
				}
			}
		}
	}

	// Both replicas keep up: reads spread over them, none to the primary.
	send(30)
	waitFor("both replicas serving", nil, func(m replicaMetrics) bool { return m.serving[a1] && m.serving[a2] })
	waitCaughtUp()
	before, after := readAll(true)
	for i := range c.nodes {
		d1, d2 := after[i].reads[a1]-before[i].reads[a1], after[i].reads[a2]-before[i].reads[a2]
		fb := after[i].fallback - before[i].fallback
		t.Logf("both replicas serving: node %d routed %d reads to %s, %d to %s, %d to the primary", i, d1, a1, d2, a2, fb)
		if d1 == 0 || d2 == 0 || d1+d2 < 10 || fb != 0 {
			t.Errorf("node %d: reads not spread over both replicas: %d and %d, %d to the primary", i, d1, d2, fb)
		}
	}

	// Replica 1 stopped: the nodes find it down, and replica 2 takes
	// every read.
	r1.Stop(t)
	waitFor("replica 1 down", func() { stored(0); stored(1); stored(2) }, func(m replicaMetrics) bool {
		return !m.serving[a1] && math.IsInf(m.lag[a1], 1) && m.serving[a2]
	})
	send(10)
	waitCaughtUp()
	before, after = readAll(true)
	for i := range c.nodes {
		d1, d2 := after[i].reads[a1]-before[i].reads[a1], after[i].reads[a2]-before[i].reads[a2]
		fb := after[i].fallback - before[i].fallback
		t.Logf("replica 1 stopped: node %d routed %d reads to %s, %d to %s, %d to the primary", i, d1, a1, d2, a2, fb)
		if d1 != 0 || d2 < 10 || fb != 0 {
			t.Errorf("node %d with replica 1 stopped: %d reads to it, %d to replica 2, %d to the primary", i, d1, d2, fb)
		}
	}

	// Replica 2 paused while writes go on: once it lags beyond the bound
	// (5 s) no replica serves, and reads go to the primary — and see
	// every acknowledged record at once, which the paused replica lacks.
	r2.PauseReplay(t)
	waitFor("replica 2 lagging beyond the bound", func() { send(1) }, func(m replicaMetrics) bool {
		return !m.serving[a2] && m.lag[a2] > 5 && !math.IsInf(m.lag[a2], 1)
	})
	send(5)
	before, after = readAll(true)
	for i := range c.nodes {
		d1, d2 := after[i].reads[a1]-before[i].reads[a1], after[i].reads[a2]-before[i].reads[a2]
		fb := after[i].fallback - before[i].fallback
		t.Logf("replica 1 stopped, replica 2 lagging %.1fs: node %d routed %d reads to %s, %d to %s, %d to the primary",
			after[i].lag[a2], i, d1, a1, d2, a2, fb)
		if d1 != 0 || d2 != 0 || fb < 10 {
			t.Errorf("node %d with no replica serving: %d and %d reads to the replicas, %d to the primary", i, d1, d2, fb)
		}
	}

	// Both back: reads spread over both again.
	r2.ResumeReplay(t)
	r1.Start(t)
	waitFor("both replicas serving again", nil, func(m replicaMetrics) bool { return m.serving[a1] && m.serving[a2] })
	waitCaughtUp()
	before, after = readAll(true)
	for i := range c.nodes {
		d1, d2 := after[i].reads[a1]-before[i].reads[a1], after[i].reads[a2]-before[i].reads[a2]
		fb := after[i].fallback - before[i].fallback
		t.Logf("both back: node %d routed %d reads to %s, %d to %s, %d to the primary", i, d1, a1, d2, a2, fb)
		if d1 == 0 || d2 == 0 || fb != 0 {
			t.Errorf("node %d after recovery: %d and %d reads to the replicas, %d to the primary", i, d1, d2, fb)
		}
	}
}
