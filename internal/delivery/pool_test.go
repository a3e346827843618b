package delivery

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/sink"
)

type countingSink struct{ closed atomic.Int32 }

func (s *countingSink) Deliver(context.Context, sink.Batch) error { return nil }
func (s *countingSink) Close() error                              { s.closed.Add(1); return nil }

func TestPool(t *testing.T) {
	t.Parallel()
	p := newPool()
	key := poolKey{pipeline: uuid.New(), sink: "s"}
	kind := sink.Kind{Name: "test", Concurrency: 2}
	var opened []*countingSink
	open := func(context.Context) (sink.Sink, error) {
		s := &countingSink{}
		opened = append(opened, s)
		return s, nil
	}
	ctx := t.Context()
	a, err := p.acquire(ctx, key, kind, []byte(`{}`), 10*time.Millisecond, open)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.acquire(ctx, key, kind, []byte(`{}`), 10*time.Millisecond, open)
	if err != nil || a != b || len(opened) != 1 {
		t.Fatalf("second delivery: %v, same instance %v, opened %d", err, a == b, len(opened))
	}
	// The third waits for room, then gives up.
	if _, err := p.acquire(ctx, key, kind, []byte(`{}`), 10*time.Millisecond, open); !errors.Is(err, errBusy) {
		t.Fatalf("third delivery: err = %v, want errBusy", err)
	}
	// A release makes room for a waiting delivery.
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.release(a, nil)
	}()
	c, err := p.acquire(ctx, key, kind, []byte(`{}`), 5*time.Second, open)
	if err != nil || c != a {
		t.Fatalf("waiting delivery: %v", err)
	}
	// After a failure, one delivery at a time probes; others are told at
	// once, with the last error.
	p.release(b, nil)
	p.release(c, errors.New("503 busy"))
	probe, err := p.acquire(ctx, key, kind, []byte(`{}`), time.Second, open)
	if err != nil {
		t.Fatal(err)
	}
	// It must not wait for room: with a minute to wait, returning within
	// half of it can only mean it did not wait.
	start := time.Now()
	if _, err := p.acquire(ctx, key, kind, []byte(`{}`), time.Minute, open); !errors.Is(err, errProbing) || time.Since(start) > 30*time.Second {
		t.Fatalf("delivery during a probe: err = %v after %s", err, time.Since(start))
	} else if want := "503 busy"; !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want the last error", err)
	}
	p.release(probe, nil)
	x, err := p.acquire(ctx, key, kind, []byte(`{}`), 10*time.Millisecond, open)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.acquire(ctx, key, kind, []byte(`{}`), 10*time.Millisecond, open)
	if err != nil {
		t.Fatalf("after a good probe the sink takes two again: %v", err)
	}
	// New settings open a new sink; the old one closes once idle.
	z, err := p.acquire(ctx, key, kind, []byte(`{"v":2}`), 10*time.Millisecond, open)
	if err != nil || z == x || len(opened) != 2 {
		t.Fatalf("reconfigured: %v, opened %d", err, len(opened))
	}
	p.release(x, nil)
	if opened[0].closed.Load() != 0 {
		t.Fatal("a sink in use was closed")
	}
	p.release(y, nil)
	waitClosed(t, opened[0])
	// Idle sinks close.
	p.release(z, nil)
	p.closeIdle(time.Now().Add(time.Second))
	waitClosed(t, opened[1])
	if err := p.close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.acquire(ctx, key, kind, []byte(`{}`), time.Millisecond, open); err == nil {
		t.Fatal("a closed pool opened a sink")
	}
	for i, s := range opened {
		if n := s.closed.Load(); n != 1 {
			t.Errorf("sink %d closed %d times", i, n)
		}
	}
}

func waitClosed(t *testing.T, s *countingSink) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.closed.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sink not closed")
		}
	}
}

func TestRetryWait(t *testing.T) {
	t.Parallel()
	c := Config{Schedule: []time.Duration{time.Second, time.Minute}, Jitter: -1}.withDefaults()
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: time.Minute, 3: time.Minute, 9: time.Minute} {
		if got := c.retryWait(attempt); got != want {
			t.Errorf("attempt %d: wait %s, want %s", attempt, got, want)
		}
	}
	if c.MaxAttempts() != 3 {
		t.Errorf("MaxAttempts = %d", c.MaxAttempts())
	}
	j := Config{Schedule: []time.Duration{time.Second}, Jitter: 0.1}.withDefaults()
	for range 100 {
		if w := j.retryWait(1); w < 900*time.Millisecond || w > 1100*time.Millisecond {
			t.Fatalf("jittered wait %s", w)
		}
	}
	d := Config{}.withDefaults()
	total := time.Duration(0)
	for _, w := range d.Schedule {
		total += w
	}
	if d.MaxAttempts() != 8 || total < 24*time.Hour || total > 30*time.Hour {
		t.Errorf("default schedule: %d attempts over %s", d.MaxAttempts(), total)
	}
}
