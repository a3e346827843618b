package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

// portURL is dbURL with its port replaced.
func portURL(dbURL, port string) string {
	u, _ := url.Parse(dbURL)
	u.Host = net.JoinHostPort("127.0.0.1", port)
	return u.String()
}

func TestReplicaRouting(t *testing.T) {
	t.Parallel()
	primary := pgtest.StartPrimary(t)
	e := setupStorageOn(t, primary.DatabaseURL(t, "storage"), 1)
	pipe := e.pipes[0]
	rep := pgtest.StartReplica(t, primary.URL)
	replicaURL := rep.URL(e.url)
	direct, err := pgx.Connect(t.Context(), replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())

	base := core.Now().Add(-time.Hour).Truncate(time.Second)
	first := e.write(nil, pipe, base, base.Add(time.Second))
	waitReplicated(t, direct, pipe, len(first))

	attach := func(maxLag time.Duration) {
		t.Helper()
		if err := e.st.UseReplica(t.Context(), replicaURL, postgres.ReplicaConfig{MaxLag: maxLag, CheckInterval: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	attach(time.Minute)
	if s := e.st.ReplicaStatus(); !s.Attached || !s.Healthy || !s.Serving || s.Lag > time.Minute {
		t.Fatalf("replica status after attach: %+v", s)
	}

	history := store.RecordQuery{From: base.Add(-time.Hour)}
	count := func(ctx context.Context, q store.RecordQuery) int {
		t.Helper()
		rs, err := e.st.Records(ctx, e.team, pipe, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	seriesCount := func() int64 {
		t.Helper()
		s, err := e.st.Series(t.Context(), e.team, pipe, store.SeriesQuery{Field: "v", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, p := range s.Points {
			n += p.Count
		}
		return n
	}

	// Freeze the replica: what is written now reaches the primary only.
	if _, err := direct.Exec(t.Context(), `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	second := e.write(nil, pipe, base.Add(2*time.Second), base.Add(3*time.Second), base.Add(4*time.Second))
	total := len(first) + len(second)
	e.st.CheckReplica(t.Context())
	if s := e.st.ReplicaStatus(); !s.Serving {
		t.Fatalf("a replica within its lag bound does not serve: %+v", s)
	}
	before := e.st.ReplicaStatus().Reads
	// History, series and lists come from the replica and do not see the
	// new batch yet; the newest page and WithPrimary reads come from the
	// primary and do.
	if n := count(t.Context(), history); n != len(first) {
		t.Fatalf("history read saw %d records, want the replica's %d", n, len(first))
	}
	if n := seriesCount(); n != int64(len(first)) {
		t.Fatalf("series counted %d records, want the replica's %d", n, len(first))
	}
	if runs, err := e.st.Runs(t.Context(), e.team, pipe, store.RunQuery{}); err != nil || len(runs) != 1 {
		t.Fatalf("runs from the replica: %d, %v", len(runs), err)
	}
	if n := count(t.Context(), store.RecordQuery{}); n != total {
		t.Fatalf("newest page saw %d records, want the primary's %d", n, total)
	}
	if n := count(store.WithPrimary(t.Context()), history); n != total {
		t.Fatalf("WithPrimary history read saw %d records, want %d", n, total)
	}
	if got := e.st.ReplicaStatus().Reads - before; got != 3 {
		t.Fatalf("the replica served %d reads, want 3", got)
	}

	// Beyond the lag bound, reads go to the primary.
	attach(time.Millisecond)
	if s := e.st.ReplicaStatus(); s.Serving || !s.Healthy || s.Lag <= time.Millisecond {
		t.Fatalf("lagging replica status: %+v", s)
	}
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with a lagging replica, history saw %d records, want %d", n, total)
	}
	if n := seriesCount(); n != int64(total) {
		t.Fatalf("with a lagging replica, series counted %d, want %d", n, total)
	}

	// Caught up, it serves again and has everything.
	if _, err := direct.Exec(t.Context(), `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, direct, pipe, total)
	attach(time.Minute)
	before = e.st.ReplicaStatus().Reads
	if n := count(t.Context(), history); n != total || e.st.ReplicaStatus().Reads != before+1 {
		t.Fatalf("caught-up replica: %d records, status %+v", n, e.st.ReplicaStatus())
	}

	// Stopped: reads fail over to the primary at once, and the next check
	// marks the replica down.
	direct.Close(context.Background())
	rep.Stop(t)
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with the replica stopped, history saw %d records", n)
	}
	if n := seriesCount(); n != int64(total) {
		t.Fatalf("with the replica stopped, series counted %d", n)
	}
	if _, err := e.st.Pipelines(t.Context(), e.team); err != nil {
		t.Fatalf("list with the replica stopped: %v", err)
	}
	e.st.CheckReplica(t.Context())
	if s := e.st.ReplicaStatus(); s.Healthy || s.Serving || s.Fallback == 0 {
		t.Fatalf("stopped replica status: %+v", s)
	}
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with the replica down, history saw %d records", n)
	}
}

// waitReplicated waits until the replica has n records of the pipeline.
func waitReplicated(t *testing.T, replica *pgx.Conn, pipeline any, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int
		err := replica.QueryRow(t.Context(), `SELECT count(*) FROM records WHERE pipeline_id = $1`, pipeline).Scan(&got)
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica has %d records after 30s, want %d (err %v)", got, n, errors.Unwrap(err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaSpread: with several replicas, reads spread over those that
// serve; one that is down serves nothing, and with none serving reads go
// to the primary.
func TestReplicaSpread(t *testing.T) {
	t.Parallel()
	primary := pgtest.StartPrimary(t)
	e := setupStorageOn(t, primary.DatabaseURL(t, "storage"), 1)
	pipe := e.pipes[0]
	rep := pgtest.StartReplica(t, primary.URL)
	good := rep.URL(e.url)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := portURL(e.url, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ln.Close() // nothing listens there now
	base := core.Now().Add(-time.Hour).Truncate(time.Second)
	written := e.write(nil, pipe, base)
	// The first check (the only one: CheckInterval is an hour) must find
	// the write replayed, else the replica's lag is unknown and it serves
	// nothing.
	direct, err := pgx.Connect(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	waitReplicated(t, direct, pipe, len(written))

	if err := e.st.UseReplicas(t.Context(), []string{good, down, good}, postgres.ReplicaConfig{MaxLag: time.Minute, CheckInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st := e.st.ReplicaStatuses()
	if len(st) != 3 || !st[0].Serving || st[1].Serving || st[1].Healthy || !st[2].Serving {
		t.Fatalf("statuses = %+v", st)
	}
	if strings.Contains(st[0].Name, "@") || st[0].Name == "" {
		t.Errorf("replica name %q", st[0].Name)
	}
	for range 6 {
		if _, err := e.st.Records(t.Context(), e.team, pipe, store.RecordQuery{From: base.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	st = e.st.ReplicaStatuses()
	if st[0].Reads+st[2].Reads != 6 || st[0].Reads < 2 || st[2].Reads < 2 || st[1].Reads != 0 || st[0].Fallback != 0 {
		t.Fatalf("reads not spread over the serving replicas: %+v", st)
	}

	// None serving: the primary answers.
	rep.Stop(t)
	e.st.CheckReplica(t.Context())
	if rs, err := e.st.Records(t.Context(), e.team, pipe, store.RecordQuery{From: base.Add(-time.Hour)}); err != nil || len(rs) != 1 {
		t.Fatalf("with every replica down: %d records, %v", len(rs), err)
	}
	if st := e.st.ReplicaStatuses(); st[0].Fallback == 0 || st[0].Serving || st[2].Serving {
		t.Fatalf("statuses with every replica down = %+v", st)
	}
}
