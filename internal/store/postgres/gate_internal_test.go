package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeTimers stands in for time.After in a writeGate: it records the waits
// asked for, and a wait ends only when the test fires it.
type fakeTimers struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{asked: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	f.asked <- d
	return f.fire
}

// noWait fails when giveWay asked for a wait.
func (f *fakeTimers) noWait(t *testing.T, what string) {
	t.Helper()
	select {
	case d := <-f.asked:
		t.Fatalf("%s: gave way (a wait of %s)", what, d)
	default:
	}
}

// A big batch gives way while other teams' small ones are written: until
// the last leaves, for at most maxGiveWay, and not at all when none is or
// when they are its own team's.
func TestWriteGate(t *testing.T) {
	t.Parallel()
	timers := newFakeTimers()
	g := writeGate{after: timers.after}
	ctx := context.Background()
	team, other := uuid.New(), uuid.New()

	g.giveWay(ctx, team, maxGiveWay)
	timers.noWait(t, "no small batch")
	if g.othersLately(team) {
		t.Fatal("others write lately, yet none did")
	}
	own := g.enter(team)
	if g.othersLately(team) {
		t.Fatal("the team's own small batch counted as another team's")
	}
	g.giveWay(ctx, team, maxGiveWay)
	timers.noWait(t, "its own team's small batch")

	// Two small batches of another team: it waits until the last leaves.
	leave1, leave2 := g.enter(other), g.enter(other)
	done := make(chan struct{})
	go func() { g.giveWay(ctx, team, time.Hour); close(done) }()
	if d := <-timers.asked; d != maxGiveWay {
		t.Fatalf("waits for at most %s, want maxGiveWay (%s)", d, maxGiveWay)
	}
	leave1()
	select {
	case <-done:
		t.Fatal("stopped giving way with another team's small batch still written")
	case <-time.After(20 * time.Millisecond):
	}
	leave2()
	<-done
	own()
	if !g.othersLately(team) {
		t.Fatal("another team wrote just now, yet not lately")
	}
	g.mu.Lock()
	g.ended[other] = time.Now().Add(-2 * lateWindow)
	g.mu.Unlock()
	if g.othersLately(team) {
		t.Fatal("another team's batch older than lateWindow still counts")
	}

	// A small batch that takes long: the wait ends when its time is up.
	leave := g.enter(other)
	defer leave()
	done = make(chan struct{})
	go func() { g.giveWay(ctx, team, time.Hour); close(done) }()
	<-timers.asked
	timers.fire <- time.Now()
	<-done

	// Or when the big batch's context ends.
	ctx2, cancel := context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { g.giveWay(ctx2, team, time.Hour); close(done) }()
	<-timers.asked
	cancel()
	<-done
}

// The budget bounds the wait, and a spent one gives no way at all.
func TestWriteGateBudget(t *testing.T) {
	t.Parallel()
	timers := newFakeTimers()
	g := writeGate{after: timers.after}
	leave := g.enter(uuid.New())
	defer leave()
	g.giveWay(context.Background(), uuid.New(), 0)
	timers.noWait(t, "no budget left")

	done := make(chan struct{})
	go func() { g.giveWay(context.Background(), uuid.New(), time.Millisecond); close(done) }()
	if d := <-timers.asked; d != time.Millisecond {
		t.Fatalf("with a budget of 1 ms it waits for at most %s", d)
	}
	timers.fire <- time.Now()
	<-done
}
