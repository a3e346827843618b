package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A big batch gives way while other teams' small ones are written: until
// the last leaves, for at most maxGiveWay, and not at all when none is or
// when they are its own team's.
func TestWriteGate(t *testing.T) {
	t.Parallel()
	var g writeGate
	ctx := context.Background()
	team, other := uuid.New(), uuid.New()
	took := func() time.Duration {
		start := time.Now()
		g.giveWay(ctx, team, maxGiveWay)
		return time.Since(start)
	}
	if d := took(); d > maxGiveWay/2 {
		t.Fatalf("gave way for %s with no small batch", d)
	}
	if g.othersLately(team) {
		t.Fatal("others write lately, yet none did")
	}
	own := g.enter(team)
	if g.othersLately(team) {
		t.Fatal("the team's own small batch counted as another team's")
	}
	if d := took(); d > maxGiveWay/2 {
		t.Fatalf("gave way for %s to its own team's small batch", d)
	}

	leave1, leave2 := g.enter(other), g.enter(other)
	done := make(chan time.Time)
	start := time.Now()
	go func() { g.giveWay(ctx, team, maxGiveWay); done <- time.Now() }()
	time.Sleep(time.Millisecond)
	leave1()
	time.Sleep(time.Millisecond)
	left := time.Now()
	leave2()
	if end := <-done; end.Before(left) && end.Sub(start) < maxGiveWay {
		t.Fatal("stopped giving way with another team's small batch still written")
	}
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

	leave := g.enter(other) // a small batch that takes long
	defer leave()
	if d := took(); d < maxGiveWay || d > 20*maxGiveWay {
		t.Fatalf("gave way for %s to a long small batch, want about %s", d, maxGiveWay)
	}
}

// A spent budget gives no way at all.
func TestWriteGateBudget(t *testing.T) {
	t.Parallel()
	var g writeGate
	leave := g.enter(uuid.New())
	defer leave()
	start := time.Now()
	g.giveWay(context.Background(), uuid.New(), 0)
	if d := time.Since(start); d > maxGiveWay/2 {
		t.Fatalf("gave way for %s with no budget left", d)
	}
	start = time.Now()
	g.giveWay(context.Background(), uuid.New(), time.Millisecond)
	if d := time.Since(start); d >= maxGiveWay {
		t.Fatalf("gave way for %s with a budget of 1 ms", d)
	}
}
