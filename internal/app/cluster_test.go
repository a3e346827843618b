package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/httpapi"
)

// TestClusterNodes: GET /api/v1/cluster lists the node serving it, as
// River's leader once elected, to instance administrators only; a
// stopped node leaves the list.
func TestClusterNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		root, _ := ts.createUser("root@example.com", "Ops", "") // the first user: instance admin
		dev, devTeam := ts.createUser("dev@example.com", "Dev", "")
		_, ownerToken := ts.issueToken(devTeam.ID, auth.Owner)

		ts.client().do("GET", "/api/v1/cluster", nil).wantProblem(http.StatusUnauthorized)
		ts.signIn(dev).do("GET", "/api/v1/cluster", nil).wantProblem(http.StatusForbidden)
		ts.bearer(ownerToken).do("GET", "/api/v1/cluster", nil).wantProblem(http.StatusForbidden)

		admin := ts.signIn(root)
		var c httpapi.ClusterBody
		eventually(t, 30*time.Second, "the node shown as River's leader", func() bool {
			admin.do("GET", "/api/v1/cluster", nil).want(http.StatusOK).json(&c)
			return len(c.Nodes) == 1 && c.Nodes[0].Leader
		})
		n := c.Nodes[0]
		if n.ID != c.Self || !n.Self || n.Version != app.Version || n.Draining || n.Address == "" {
			t.Errorf("node = %+v, self %q", n, c.Self)
		}
		if n.HeartbeatAgeSeconds < 0 || n.HeartbeatAgeSeconds > c.ExpireAfterSeconds || n.Load.Goroutines == 0 || n.Load.HeapBytes == 0 {
			t.Errorf("node heartbeat or load = %+v", n)
		}

		// A graceful stop removes the node's row.
		if _, err := ts.Stop(); err != nil {
			t.Fatal(err)
		}
		if left := ts.count(`SELECT count(*) FROM nodes`); left != 0 {
			t.Errorf("%d nodes left after a graceful stop", left)
		}
	})
}

// TestReadReplicasMetrics: several comma-separated read URLs are all
// attached, and the metrics show each one's lag, whether it serves and
// the reads routed to it; GET /api/v1/cluster shows them in the node's
// load. (The "replicas" here are the primary itself, which is current;
// internal/store/postgres and cmd/tributary test streaming replicas.)
func TestReadReplicasMetrics(t *testing.T) {
	cfg := testConfig(t, "postgres")
	cfg.DatabaseReadURL = cfg.DatabaseURL + " , " + cfg.DatabaseURL
	ts := serveConfig(t, "postgres", cfg)
	root, team := ts.createUser("ada@example.com", "Acme", "") // the first user: instance admin
	_, secret := ts.issueToken(team.ID, auth.Owner)
	ts.bearer(secret).do("GET", "/api/v1/pipelines", nil).want(http.StatusOK)
	ts.bearer(secret).do("GET", "/api/v1/pipelines", nil).want(http.StatusOK)
	res := ts.client().do("GET", "/metrics", nil).want(http.StatusOK)
	body := string(res.Body)
	for _, want := range []string{`tributary_replica_serving{replica="`, `#2"} 1`, `tributary_replica_lag_seconds{replica="`,
		`tributary_replica_fallback_reads_total 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var reads int
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "tributary_replica_reads_total{") {
			var n int
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%d", &n)
			reads += n
		}
	}
	if reads < 2 {
		t.Errorf("%d reads routed to replicas, want at least the 2 pipeline lists", reads)
	}

	var c httpapi.ClusterBody
	ts.signIn(root).do("GET", "/api/v1/cluster", nil).want(http.StatusOK).json(&c)
	if len(c.Nodes) != 1 {
		t.Fatalf("nodes = %+v", c.Nodes)
	}
	reps := c.Nodes[0].Load.Replicas
	if len(reps) != 2 || !strings.HasSuffix(reps[1].Name, "#2") {
		t.Fatalf("the node's load lists replicas %+v, want both", reps)
	}
	for _, r := range reps {
		if !r.Serving || r.LagSeconds == nil || *r.LagSeconds != 0 || strings.Contains(r.Name, "@") {
			t.Errorf("replica %+v: want serving with lag 0, no credentials", r)
		}
	}
}
