package pubsub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/redistest"
)

// node is one Cluster broker of a test.
func redisNode(t *testing.T, url string, cfg pubsub.ClusterConfig) *pubsub.Cluster {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pubsub.NewCluster(ctx, cfg, pubsub.NewRedisTransport(rdb, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func pgNode(t *testing.T, url string, cfg pubsub.ClusterConfig) *pubsub.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := pubsub.NewPostgresTransport(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewCluster(ctx, cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// batch returns a Batch payload of n records with ids from first, each
// with a data field of size bytes.
func batch(pipeline uuid.UUID, first int64, n, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"pipeline":%q,"version":1,"count":%d,"rejected":0,"records":[`, pipeline, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"ts":"2026-01-01T00:00:00Z","data":{"pad":%q}}`, first+int64(i), strings.Repeat("x", size))
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// firstID returns the id of a Batch payload's first record.
func firstID(t *testing.T, payload []byte) int64 {
	t.Helper()
	var b struct {
		Records []struct {
			ID int64 `json:"id"`
		} `json:"records"`
	}
	if err := json.Unmarshal(payload, &b); err != nil || len(b.Records) == 0 {
		t.Fatalf("bad batch %.200s: %v", payload, err)
	}
	return b.Records[0].ID
}

// receive reads n record messages, failing on a lag marker.
func receive(t *testing.T, sub *pubsub.Subscription, n int) []pubsub.Message {
	t.Helper()
	var got []pubsub.Message
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription closed after %d messages", len(got))
			}
			if m.Kind == pubsub.KindLagged {
				t.Fatalf("lag marker after %d messages: %d dropped", len(got), m.Dropped)
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	return got
}

// crossNode checks that batches published on a reach a subscriber on b
// once each, in order, and a's own subscriber once each.
func crossNode(t *testing.T, a, b *pubsub.Cluster, n, size int) {
	t.Helper()
	ctx := context.Background()
	pipeline := uuid.New()
	topic := pubsub.PipelineTopic(pipeline)
	subB, err := b.Subscribe(ctx, topic, n+1)
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	subA, err := a.Subscribe(ctx, topic, n+1)
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	for i := range n {
		if err := a.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, int64(1+i*1000), 1, size), Team: uuid.Nil}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []*pubsub.Subscription{subB, subA} {
		for i, m := range receive(t, sub, n) {
			if got := firstID(t, m.Payload); got != int64(1+i*1000) {
				t.Fatalf("message %d has first id %d, want %d", i, got, 1+i*1000)
			}
		}
	}
	select {
	case m := <-subA.C():
		t.Fatalf("the publishing node delivered more than once: %+v", m)
	default:
	}
}

func TestClusterRedisCrossNode(t *testing.T) {
	srv := redistest.Start(t)
	a := redisNode(t, srv.URL(), pubsub.ClusterConfig{})
	b := redisNode(t, srv.URL(), pubsub.ClusterConfig{})
	crossNode(t, a, b, 500, 100)
}

func TestClusterPostgresCrossNode(t *testing.T) {
	url := pgtest.DatabaseURL(t)
	a := pgNode(t, url, pubsub.ClusterConfig{})
	b := pgNode(t, url, pubsub.ClusterConfig{})
	crossNode(t, a, b, 300, 100)
}

// TestClusterPostgresPointer sends batches over NOTIFY's limit: receivers
// get a pointer and rebuild the batch with Load.
func TestClusterPostgresPointer(t *testing.T) {
	url := pgtest.DatabaseURL(t)
	team, pipeline := uuid.New(), uuid.New()
	var (
		mu     sync.Mutex
		stored = map[int64][]byte{} // first id → batch, as the store would return it
		asked  []pubsub.Pointer
	)
	load := func(_ context.Context, p pubsub.Pointer) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, p)
		b, ok := stored[p.IDs[0][0]]
		if !ok {
			return nil, fmt.Errorf("no batch at %d", p.IDs[0][0])
		}
		return b, nil
	}
	a := pgNode(t, url, pubsub.ClusterConfig{})
	b := pgNode(t, url, pubsub.ClusterConfig{Load: load})
	ctx := context.Background()
	topic := pubsub.PipelineTopic(pipeline)
	sub, err := b.Subscribe(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	small := batch(pipeline, 1, 1, 10)
	big := batch(pipeline, 100, 20, 1000) // ~20 KB
	mu.Lock()
	stored[100] = big
	mu.Unlock()
	for _, p := range [][]byte{small, big, small} {
		if err := a.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: p, Team: team}); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, sub, 3)
	if string(got[1].Payload) != string(big) || firstID(t, got[0].Payload) != 1 || firstID(t, got[2].Payload) != 1 {
		t.Fatalf("wrong batches: %.100s / %.100s / %.100s", got[0].Payload, got[1].Payload, got[2].Payload)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0].Team != team || asked[0].Pipeline != pipeline || asked[0].Count != 20 ||
		len(asked[0].IDs) != 1 || asked[0].IDs[0] != [2]int64{100, 119} {
		t.Fatalf("pointers asked: %+v", asked)
	}
}

// TestClusterPostgresPointerUnreadable: a pointer the receiver cannot
// read becomes a lag marker, never a silent drop.
func TestClusterPostgresPointerUnreadable(t *testing.T) {
	url := pgtest.DatabaseURL(t)
	pipeline := uuid.New()
	a := pgNode(t, url, pubsub.ClusterConfig{})
	b := pgNode(t, url, pubsub.ClusterConfig{}) // no loader
	ctx := context.Background()
	topic := pubsub.PipelineTopic(pipeline)
	sub, err := b.Subscribe(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, 1, 20, 1000)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.C():
		if m.Kind != pubsub.KindLagged || m.Dropped != 1 {
			t.Fatalf("got %+v, want a lag marker of 1", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no lag marker")
	}
}

// TestClusterRedisRestart: Redis killed and restarted. Publishing keeps
// working locally, the remote subscriber gets a lag marker and then
// receives again without help.
func TestClusterRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	var resets sync.WaitGroup
	resets.Add(1)
	var once sync.Once
	a := redisNode(t, srv.URL(), pubsub.ClusterConfig{})
	b := redisNode(t, srv.URL(), pubsub.ClusterConfig{Reset: func() { once.Do(resets.Done) }})
	ctx := context.Background()
	pipeline := uuid.New()
	topic := pubsub.PipelineTopic(pipeline)
	subA, _ := a.Subscribe(ctx, topic, 1000)
	subB, _ := b.Subscribe(ctx, topic, 1000)
	publish := func(id int64) {
		t.Helper()
		if err := a.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, id, 1, 1)}); err != nil {
			t.Fatalf("publish with Redis down must still work locally: %v", err)
		}
	}
	publish(1)
	receive(t, subB, 1)
	srv.Kill()
	publish(2) // while Redis is down: local subscribers still get it
	if m := receive(t, subA, 2); firstID(t, m[1].Payload) != 2 {
		t.Fatal("local delivery broke while Redis was down")
	}
	srv.Restart()
	resets.Wait() // b noticed the reconnect
	// b's subscriber gets a marker, then batches flow again.
	deadline := time.After(20 * time.Second)
	lagged := false
	for id := int64(3); ; id++ {
		publish(id)
		select {
		case m := <-subB.C():
			if m.Kind == pubsub.KindLagged {
				lagged = true
				continue
			}
			if !lagged {
				t.Fatalf("records before the lag marker: %.100s", m.Payload)
			}
			return
		case <-time.After(100 * time.Millisecond): // publish again until one arrives
		case <-deadline:
			t.Fatal("b never received again after Redis restarted")
		}
	}
}

// TestClusterStartsDegraded starts a node while Redis is down: NewCluster
// returns after ConnectWait, delivers locally, and once Redis is up the
// node resets, marks its subscribers lagged and receives from others.
func TestClusterStartsDegraded(t *testing.T) {
	srv := redistest.Start(t)
	a := redisNode(t, srv.URL(), pubsub.ClusterConfig{})
	srv.Kill()
	reset := make(chan struct{})
	var once sync.Once
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	start := time.Now()
	b, err := pubsub.NewCluster(context.Background(), pubsub.ClusterConfig{
		ConnectWait: 200 * time.Millisecond,
		Reset:       func() { once.Do(func() { close(reset) }) },
	}, pubsub.NewRedisTransport(rdb, ""))
	if err != nil {
		t.Fatalf("NewCluster with Redis down: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	t.Logf("NewCluster returned degraded after %v", time.Since(start))
	ctx := context.Background()
	pipeline := uuid.New()
	topic := pubsub.PipelineTopic(pipeline)
	subB, err := b.Subscribe(ctx, topic, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, 1, 1, 1)}); err != nil {
		t.Fatalf("publish while degraded: %v", err)
	}
	if m := receive(t, subB, 1); firstID(t, m[0].Payload) != 1 {
		t.Fatal("local delivery while degraded broke")
	}
	srv.Restart()
	select {
	case <-reset:
	case <-time.After(20 * time.Second):
		t.Fatal("b never connected after Redis came up")
	}
	deadline := time.After(20 * time.Second)
	lagged := false
	for id := int64(2); ; id++ {
		if err := a.Publish(ctx, topic, pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, id, 1, 1)}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-subB.C():
			if m.Kind == pubsub.KindLagged {
				lagged = true
				continue
			}
			if !lagged {
				t.Fatalf("records before the lag marker: %.100s", m.Payload)
			}
			return
		case <-time.After(100 * time.Millisecond): // a reconnects too; publish again
		case <-deadline:
			t.Fatal("b never received from a after Redis came up")
		}
	}
}

// countingTransport records how many envelopes each Send carried; it
// connects at once and receives nothing.
type countingTransport struct {
	mu    sync.Mutex
	sends []int
}

func (c *countingTransport) Send(_ context.Context, envs [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sends = append(c.sends, len(envs))
	return nil
}

func (c *countingTransport) Listen(ctx context.Context, _ func([]byte), connected func(bool)) {
	connected(true)
	<-ctx.Done()
}

func (c *countingTransport) MaxEnvelope() int { return 0 }
func (c *countingTransport) Close() error     { return nil }

func (c *countingTransport) sent() (sends, envs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.sends {
		envs += n
	}
	return len(c.sends), envs
}

// TestClusterLingerGathersSends: messages published a few milliseconds
// apart go to the transport together, in one or two sends rather than one
// each (over PostgreSQL a send is a transaction); with the linger off,
// they all go too.
func TestClusterLingerGathersSends(t *testing.T) {
	for _, tc := range []struct {
		linger   time.Duration
		maxSends int
	}{{500 * time.Millisecond, 2}, {-1, 20}} {
		tr := &countingTransport{}
		c, err := pubsub.NewCluster(context.Background(), pubsub.ClusterConfig{Linger: tc.linger}, tr)
		if err != nil {
			t.Fatal(err)
		}
		pipeline := uuid.New()
		for i := range 20 {
			time.Sleep(2 * time.Millisecond)
			msg := pubsub.Message{Kind: pubsub.KindRecords, Payload: batch(pipeline, int64(1+i), 1, 10)}
			if err := c.Publish(context.Background(), pubsub.PipelineTopic(pipeline), msg); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		sends, envs := tr.sent()
		for envs < 20 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			sends, envs = tr.sent()
		}
		_ = c.Close()
		if envs != 20 || sends > tc.maxSends {
			t.Errorf("linger %v: %d envelopes in %d sends, want 20 in at most %d", tc.linger, envs, sends, tc.maxSends)
		}
	}
}
