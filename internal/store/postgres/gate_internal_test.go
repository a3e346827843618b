package postgres

import (
	"context"
	"testing"
	"time"
)

// A big batch gives way while small ones are written: until the last
// leaves, for at most maxGiveWay, and not at all when none is.
func TestWriteGate(t *testing.T) {
	t.Parallel()
	var g writeGate
	ctx := context.Background()
	took := func() time.Duration {
		start := time.Now()
		g.giveWay(ctx)
		return time.Since(start)
	}
	if d := took(); d > maxGiveWay/2 {
		t.Fatalf("gave way for %s with no small batch", d)
	}

	leave1, leave2 := g.enter(), g.enter()
	done := make(chan time.Time)
	start := time.Now()
	go func() { g.giveWay(ctx); done <- time.Now() }()
	time.Sleep(time.Millisecond)
	leave1()
	time.Sleep(time.Millisecond)
	left := time.Now()
	leave2()
	end := <-done
	if end.Before(left) && end.Sub(start) < maxGiveWay {
		t.Fatal("stopped giving way with a small batch still written")
	}

	leave := g.enter() // a small batch that takes long
	defer leave()
	if d := took(); d < maxGiveWay || d > 20*maxGiveWay {
		t.Fatalf("gave way for %s to a long small batch, want about %s", d, maxGiveWay)
	}
}
