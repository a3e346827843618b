package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

type bundle struct {
	broker *Memory
	ctx    context.Context
}

func setup(t testing.TB) bundle {
	t.Helper()
	m, err := NewMemory(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return bundle{broker: m, ctx: context.Background()}
}

func subscribe(t testing.TB, b bundle, topic string, buffer int) *Subscription {
	t.Helper()
	s, err := b.broker.Subscribe(b.ctx, topic, buffer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func records(n int) Message {
	return Message{Kind: KindRecords, Payload: []byte(strconv.Itoa(n))}
}

func seq(t testing.TB, m Message) int {
	t.Helper()
	n, err := strconv.Atoi(string(m.Payload))
	if err != nil {
		t.Fatalf("message %+v: %v", m, err)
	}
	return n
}

// receive waits for one message; lag markers are delivered by a timer
// when nothing is published, so tests wait for them rather than poll.
func receive(t testing.TB, s *Subscription) Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return Message{}
	}
}

func expectNothing(t testing.TB, s *Subscription) {
	t.Helper()
	select {
	case m, ok := <-s.C():
		t.Fatalf("unexpected message %+v (open %v)", m, ok)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestFanOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const subs, msgs = 50, 20
	all := make([]*Subscription, subs)
	for i := range all {
		all[i] = subscribe(t, b, "pipeline:a", msgs)
	}
	other := subscribe(t, b, "pipeline:b", msgs)
	for i := range msgs {
		if err := b.broker.Publish(b.ctx, "pipeline:a", records(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range all {
		for i := range msgs {
			m := receive(t, s)
			if m.Kind != KindRecords || m.Topic != "pipeline:a" || seq(t, m) != i {
				t.Fatalf("got %+v, want records %d on pipeline:a", m, i)
			}
		}
		if s.Dropped() != 0 {
			t.Fatalf("Dropped = %d", s.Dropped())
		}
	}
	expectNothing(t, other)
}

func TestSlowSubscriberLagsAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n, small = 1000, 4
	fast := subscribe(t, b, "t", n)
	stuck := subscribe(t, b, "t", small) // never reads while the publisher runs

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := b.broker.Publish(b.ctx, "t", records(i)); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher blocked by a subscriber that never reads")
	}

	for i := range n {
		if m := receive(t, fast); seq(t, m) != i {
			t.Fatalf("fast subscriber got %d, want %d", seq(t, m), i)
		}
	}
	if got := stuck.Dropped(); got != n-small {
		t.Fatalf("stuck Dropped = %d, want %d", got, n-small)
	}
	// The stuck reader wakes up: the buffered messages, then one marker
	// for everything lost — delivered although nothing more is published.
	for i := range small {
		if m := receive(t, stuck); m.Kind != KindRecords || seq(t, m) != i {
			t.Fatalf("stuck got %+v, want records %d", m, i)
		}
	}
	m := receive(t, stuck)
	if m.Kind != KindLagged || m.Dropped != n-small || m.Topic != "t" || m.Payload != nil {
		t.Fatalf("got %+v, want one Lagged marker for %d", m, n-small)
	}
	expectNothing(t, stuck)
	// Back in step: new messages flow again.
	b.broker.Publish(b.ctx, "t", records(n))
	if m := receive(t, stuck); m.Kind != KindRecords || seq(t, m) != n {
		t.Fatalf("after the marker got %+v", m)
	}
}

func TestLagMarkerPrecedesNewerMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := subscribe(t, b, "t", 2)
	for i := range 5 { // 0 and 1 fit; 2, 3, 4 are lost
		b.broker.Publish(b.ctx, "t", records(i))
	}
	if m := receive(t, s); seq(t, m) != 0 {
		t.Fatalf("got %+v", m)
	}
	// One slot is free: the next publish queues the marker there, and
	// message 5 finds no room, opening a second gap.
	b.broker.Publish(b.ctx, "t", records(5))
	if m := receive(t, s); seq(t, m) != 1 {
		t.Fatalf("got %+v", m)
	}
	if m := receive(t, s); m.Kind != KindLagged || m.Dropped != 3 {
		t.Fatalf("got %+v, want Lagged 3", m)
	}
	if m := receive(t, s); m.Kind != KindLagged || m.Dropped != 1 {
		t.Fatalf("got %+v, want Lagged 1 (message 5)", m)
	}
	b.broker.Publish(b.ctx, "t", records(6))
	if m := receive(t, s); seq(t, m) != 6 {
		t.Fatalf("got %+v, want 6", m)
	}
	if s.Dropped() != 4 {
		t.Fatalf("Dropped = %d, want 4", s.Dropped())
	}
}

// TestLagAccountingIsExact runs a reader that keeps falling behind and
// checks that every gap it sees is announced by a marker with exactly the
// number of messages missing.
func TestLagAccountingIsExact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 5000
	s := subscribe(t, b, "t", 8)
	go func() {
		for i := range n {
			b.broker.Publish(b.ctx, "t", records(i))
			if i%40 == 0 {
				time.Sleep(200 * time.Microsecond) // bursts, so the reader catches up between gaps
			}
		}
	}()
	next, markers := 0, 0
	for next < n {
		m := receive(t, s)
		switch m.Kind {
		case KindLagged:
			markers++
			next += m.Dropped
		case KindRecords:
			if got := seq(t, m); got != next {
				t.Fatalf("got message %d, want %d", got, next)
			}
			next++
			if next%7 == 0 {
				time.Sleep(50 * time.Microsecond) // fall behind now and then
			}
		}
	}
	if next != n {
		t.Fatalf("accounted for %d messages, want %d", next, n)
	}
	if markers == 0 {
		t.Fatal("the reader never fell behind; the test proves nothing")
	}
	t.Logf("%d markers, %d dropped", markers, s.Dropped())
}

func TestClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s1 := subscribe(t, b, "t", 4)
	s2 := subscribe(t, b, "t", 4)
	b.broker.Publish(b.ctx, "t", records(1))
	s1.Close()
	s1.Close() // idempotent
	// Buffered messages are still received, then the channel is closed.
	if m, ok := <-s1.C(); !ok || seq(t, m) != 1 {
		t.Fatalf("buffered message lost on Close: %+v %v", m, ok)
	}
	if _, ok := <-s1.C(); ok {
		t.Fatal("channel open after Close")
	}
	b.broker.Publish(b.ctx, "t", records(2))
	receive(t, s2)
	if m := receive(t, s2); seq(t, m) != 2 {
		t.Fatalf("other subscriber got %+v", m)
	}
	s2.Close()
	if got := b.broker.Topics(); got != 0 {
		t.Fatalf("%d topics left after the last subscription closed", got)
	}
}

func TestCloseByContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := b.broker.Subscribe(ctx, "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("message after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not closed by its context")
	}
	s.Close() // still safe
	if _, err := b.broker.Subscribe(ctx, "t", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a done context: %v", err)
	}
	if err := b.broker.Publish(ctx, "t", records(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a done context: %v", err)
	}
}

func TestCloseWhileLagging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := subscribe(t, b, "t", 1)
	for i := range 3 {
		b.broker.Publish(b.ctx, "t", records(i))
	}
	s.Close() // the pending marker's timer must not send on the closed channel
	time.Sleep(3 * lagRetryMin)
	if m := <-s.C(); seq(t, m) != 0 {
		t.Fatalf("got %+v", m)
	}
	if _, ok := <-s.C(); ok {
		t.Fatal("channel open after Close")
	}
}

func TestBrokerClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	subs := []*Subscription{subscribe(t, b, "a", 1), subscribe(t, b, "a", 1), subscribe(t, b, "b", 1)}
	b.broker.Publish(b.ctx, "a", records(1))
	b.broker.Publish(b.ctx, "a", records(2)) // lost: a marker is pending at Close
	if err := b.broker.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		for range s.C() {
		}
		s.Close()
	}
	if err := b.broker.Publish(b.ctx, "a", records(3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := b.broker.Subscribe(b.ctx, "a", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if err := b.broker.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, k := range []Kind{0, KindLagged, 99} {
		if err := b.broker.Publish(b.ctx, "t", Message{Kind: k}); err == nil {
			t.Errorf("Publish of kind %s succeeded", k)
		}
	}
	if _, err := b.broker.Subscribe(b.ctx, "t", MaxBuffer+1); err == nil {
		t.Error("Subscribe over MaxBuffer succeeded")
	}
	s := subscribe(t, b, "t", 0)
	if cap(s.ch) != DefaultBuffer {
		t.Errorf("default buffer %d, want %d", cap(s.ch), DefaultBuffer)
	}
	if _, err := NewMemory(Config{Buffer: -1}); err == nil {
		t.Error("NewMemory with a negative buffer succeeded")
	}
	// The broker sets Topic and ignores a publisher's Dropped.
	b.broker.Publish(b.ctx, "t", Message{Topic: "other", Kind: KindControl, Payload: []byte(`{}`), Dropped: 7})
	if m := receive(t, s); m.Topic != "t" || m.Dropped != 0 || m.Kind != KindControl {
		t.Errorf("got %+v", m)
	}
}

func TestPublishWithoutSubscribersDoesNotAllocate(t *testing.T) {
	b := setup(t)
	msg := records(1)
	allocs := testing.AllocsPerRun(1000, func() {
		b.broker.Publish(b.ctx, "pipeline:nobody", msg)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per publish to an empty topic", allocs)
	}
	s := subscribe(t, b, "busy", 1)
	defer s.Close()
	b.broker.Publish(b.ctx, "busy", msg)
	b.broker.Publish(b.ctx, "busy", msg) // arms the lag timer once
	allocs = testing.AllocsPerRun(1000, func() {
		b.broker.Publish(b.ctx, "busy", msg)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per publish to a full subscriber", allocs)
	}
}

func TestBatchJSON(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0194f1d2-0000-7000-8000-000000000001")
	payload, err := json.Marshal(Batch{Pipeline: id, Version: 3, Count: 2, Rejected: 1, Records: json.RawMessage(`[{"a":1},{"a":2}]`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pipeline":"0194f1d2-0000-7000-8000-000000000001","version":3,"count":2,"rejected":1,"records":[{"a":1},{"a":2}]}`
	if string(payload) != want {
		t.Fatalf("Batch JSON\n got %s\nwant %s", payload, want)
	}
	if got := PipelineTopic(id); got != "pipeline:0194f1d2-0000-7000-8000-000000000001" {
		t.Fatalf("PipelineTopic = %q", got)
	}
}

// TestStress publishes on several topics from several goroutines while
// subscriptions come and go, some reading, some stuck, some cancelled;
// run it with -race. Each subscription checks that it sees every
// publisher's messages in order, with gaps only where a marker says so.
func TestStress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const (
		topics     = 4
		publishers = 4
		perPub     = 2000
		readers    = 24
	)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range readers {
		wg.Go(func() {
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithCancel(context.Background())
				s, err := b.broker.Subscribe(ctx, fmt.Sprintf("t%d", (r+round)%topics), 1+r%16)
				if err != nil {
					cancel()
					t.Error(err)
					return
				}
				last := map[int]int{} // publisher -> last sequence seen
				for i := 0; i < 200; i++ {
					var m Message
					var ok bool
					select {
					case m, ok = <-s.C():
					case <-time.After(50 * time.Millisecond):
						ok = false
					}
					if !ok {
						break
					}
					if m.Kind == KindLagged {
						if m.Dropped < 1 {
							t.Errorf("marker with Dropped %d", m.Dropped)
						}
						clear(last) // a gap: order restarts after the resync
						continue
					}
					var p, n int
					fmt.Sscanf(string(m.Payload), "%d/%d", &p, &n)
					if prev, seen := last[p]; seen && n != prev+1 {
						t.Errorf("publisher %d: %d after %d without a marker", p, n, prev)
					}
					last[p] = n
					if r%3 == 0 {
						time.Sleep(time.Millisecond) // a slow reader
					}
				}
				if round%2 == 0 {
					cancel()
				} else {
					s.Close()
					cancel()
				}
			}
		})
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for n := range perPub {
				topic := fmt.Sprintf("t%d", p%topics)
				if err := b.broker.Publish(context.Background(), topic, Message{Kind: KindRecords, Payload: fmt.Appendf(nil, "%d/%d", p, n)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pubs.Wait()
	close(stop)
	wg.Wait()
}

func BenchmarkPublish(b *testing.B) {
	payload := []byte(`{"pipeline":"x","version":1,"count":1,"rejected":0,"records":[{"a":1}]}`)
	for _, bc := range []struct {
		name    string
		subs    int
		reading bool
	}{
		{"subscribers=0", 0, false},
		{"subscribers=1000/reading", 1000, true},
		{"subscribers=1000/stuck", 1000, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bd := setup(b)
			var wg sync.WaitGroup
			for range bc.subs {
				s := subscribe(b, bd, "t", 64)
				if bc.reading {
					wg.Go(func() {
						for range s.C() {
						}
					})
				}
			}
			msg := Message{Kind: KindRecords, Payload: payload}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				bd.broker.Publish(bd.ctx, "t", msg)
			}
			b.StopTimer()
			bd.broker.Close()
			wg.Wait()
		})
	}
}
