package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/redistest"
)

// TestClusterLiveStream runs two `tributary serve` processes on one
// PostgreSQL database, linked once through Redis and once through
// LISTEN/NOTIFY: batches posted to node A's webhook reach an SSE stream on
// node B, all of them and in order — large ones too, which LISTEN/NOTIFY
// carries as a pointer that B reads from the store — and so do a GraphQL
// subscription on node B, and B's recent records cache holds them.
func TestClusterLiveStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	bin := buildBinary(t)
	for _, via := range []string{"redis", "postgres"} {
		t.Run(via, func(t *testing.T) {
			env := []string{"TRIBUTARY_DATABASE_URL=" + pgtest.DatabaseURL(t), "TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_HOOK_RATE=0"}
			if via == "redis" {
				env = append(env, "TRIBUTARY_REDIS_URL="+redistest.Start(t).URL())
			}
			testClusterLiveStream(t, bin, env)
		})
	}
}

// sseEvent is one Server-Sent Event and when it was read.
type sseEvent struct {
	name, data string
	at         time.Time
}

// openSSE streams a pipeline's events from base.
func openSSE(t *testing.T, base, token string, id uuid.UUID) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/pipelines/"+id.String()+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	events := make(chan sseEvent, 4096)
	go func() {
		defer close(events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.at = time.Now()
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events
}

// nextEvent returns the next event, failing after 10 s.
func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// seqsOf returns the seq fields of a records or recent event's records.
func seqsOf(t *testing.T, data string) []int {
	t.Helper()
	var b struct {
		Records []struct {
			Data struct {
				Seq int `json:"seq"`
			} `json:"data"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(data), &b); err != nil {
		t.Fatalf("event data %.200s: %v", data, err)
	}
	out := make([]int, len(b.Records))
	for i, r := range b.Records {
		out[i] = r.Data.Seq
	}
	return out
}

func testClusterLiveStream(t *testing.T, bin string, env []string) {
	k9CLI(t, bin, env, "user", "create", "--email", "cluster@example.com", "--password", "cluster-password", "--team", "cluster")
	token := k9CLI(t, bin, env, "token", "create", "--team", "cluster", "--role", "editor", "--name", "writer")
	a := k9Start(t, bin, env)
	b := k9Start(t, bin, env)

	var pipe struct {
		ID        uuid.UUID `json:"id"`
		IngestURL string    `json:"ingest_url"`
	}
	k9API(t, http.MethodPost, a.base+"/api/v1/pipelines", token, `{"name": "cluster", "kind": "webhook", "persist": true}`, &pipe)
	hookPath := pipe.IngestURL[strings.Index(pipe.IngestURL, "/hooks/"):]

	events := openSSE(t, b.base, token, pipe.ID)
	if ev := nextEvent(t, events); ev.name != "recent" {
		t.Fatalf("first event %q, want recent", ev.name)
	}
	subscription := subscribeRecords(t, b.base, token, pipe.ID)
	if ev := nextGQLEvent(t, subscription); ev.kind != "RECENT" {
		t.Fatalf("first GraphQL event %q, want RECENT", ev.kind)
	}

	// Node B's stream, counted as it arrives: the batches are posted at
	// most streamAhead ahead of it. The stream's buffer holds 64 batches;
	// on a machine busy with other tests, node B could fall further behind
	// a sender that does not wait, and would then be told, rightly, that
	// it lagged. This test is about every batch crossing the cluster in
	// order, not about overload.
	const streamAhead = 32
	var arrived atomic.Int64
	seen := make(chan sseEvent, 4096)
	go func() {
		defer close(seen)
		for ev := range events {
			if ev.name == "records" {
				arrived.Add(1)
			}
			seen <- ev
		}
	}()

	// 1,000 batches of 1 to 3 records; every 10th is over 8 KB, beyond
	// what a NOTIFY carries.
	const batches = 1000
	sent := make([]time.Time, batches)
	var want []int
	seq := 0
	pad := strings.Repeat("x", 4000)
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range batches {
		n := 1 + i%3
		recs := make([]string, n)
		for j := range recs {
			p := ""
			if i%10 == 9 {
				p = pad
			}
			recs[j] = fmt.Sprintf(`{"seq":%d,"batch":%d,"pad":%q}`, seq, i, p)
			want = append(want, seq)
			seq++
		}
		body := "[" + strings.Join(recs, ",") + "]"
		for deadline := time.Now().Add(10 * time.Second); arrived.Load() < int64(i-streamAhead); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("batch %d: node B's stream has %d batches after 10 s", i, arrived.Load())
			}
		}
		sent[i] = time.Now()
		resp, err := client.Post(a.base+hookPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("batch %d: webhook answered %d", i, resp.StatusCode)
		}
	}

	// Node B's stream gets every record, in order, one event per batch.
	var got []int
	var latencies []time.Duration
	for len(got) < len(want) {
		ev := nextEvent(t, seen)
		if ev.name != "records" {
			t.Fatalf("after %d records: event %q %.200s", len(got), ev.name, ev.data)
		}
		s := seqsOf(t, ev.data)
		if len(s) == 0 {
			t.Fatalf("empty batch %.200s", ev.data)
		}
		var first struct {
			Records []struct {
				Data struct {
					Batch int `json:"batch"`
				} `json:"data"`
			} `json:"records"`
		}
		_ = json.Unmarshal([]byte(ev.data), &first)
		latencies = append(latencies, ev.at.Sub(sent[first.Records[0].Data.Batch]))
		got = append(got, s...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("node B received %d records out of order or with gaps:\n%v", len(got), got)
	}
	slices.Sort(latencies)
	t.Logf("cross-node latency over %d batches (POST to A sent -> SSE event read on B): p50 %v, p99 %v, max %v",
		len(latencies), latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1])

	// So does node B's GraphQL subscription (batches committed while an
	// event is being sent may share the next one).
	got, latencies = nil, nil
	for len(got) < len(want) {
		ev := nextGQLEvent(t, subscription)
		if ev.kind != "RECORDS" || len(ev.seqs) == 0 {
			t.Fatalf("after %d records: GraphQL event %q with %d records", len(got), ev.kind, len(ev.seqs))
		}
		latencies = append(latencies, ev.at.Sub(sent[ev.batches[0]]))
		got = append(got, ev.seqs...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("node B's GraphQL subscription received %d records out of order or with gaps:\n%v", len(got), got)
	}
	slices.Sort(latencies)
	t.Logf("cross-node latency over %d GraphQL events (POST to A sent -> event read on B): p50 %v, p99 %v, max %v",
		len(latencies), latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1])

	// B's recent-records cache was filled from the broker: a new stream on
	// B starts with the newest records of A's batches.
	again := openSSE(t, b.base, token, pipe.ID)
	ev := nextEvent(t, again)
	if ev.name != "recent" {
		t.Fatalf("first event %q, want recent", ev.name)
	}
	recent := seqsOf(t, ev.data)
	if len(recent) != 100 || !slices.Equal(recent, want[len(want)-100:]) {
		t.Fatalf("recent on node B = %v, want the last 100 of %d", recent, len(want))
	}
}

// TestClusterStartsWithoutRedis starts a node whose Redis is down: it
// becomes ready after a bounded wait (delivering locally) instead of
// hanging, and never prints the Redis password.
func TestClusterStartsWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server process")
	}
	bin := buildBinary(t)
	env := []string{"TRIBUTARY_DATA_DIR=" + t.TempDir(), "TRIBUTARY_LOG_LEVEL=info",
		"TRIBUTARY_REDIS_URL=redis://:hunter4-redis-pw@127.0.0.1:1/0"}
	p := k9Start(t, bin, env)
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	logs := p.logs.String()
	if !strings.Contains(logs, "not connected to the cluster yet") {
		t.Errorf("no warning about the missing cluster link:\n%s", logs)
	}
	if strings.Contains(logs, "hunter4-redis-pw") {
		t.Errorf("the Redis password was logged:\n%s", logs)
	}
}
