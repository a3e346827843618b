package ingest

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestTeamLimiter(t *testing.T) {
	l := newTeamLimiter(10, 5)
	a, b := uuid.New(), uuid.New()
	now := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow(a, now)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused with a wait of at most 100ms", ok, wait)
	}
	// Another team is not affected by team a's flood.
	if ok, _ := l.allow(b, now); !ok {
		t.Fatal("team b refused because of team a")
	}
	// Tokens come back at the rate.
	if ok, _ := l.allow(a, now.Add(100*time.Millisecond)); !ok {
		t.Fatal("refused after a token came back")
	}
	// Idle buckets are dropped.
	l.allow(b, now.Add(time.Hour))
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after an hour, want 1", len(l.buckets))
	}
	if ok, _ := newTeamLimiter(0, 0).allow(a, now); !ok {
		t.Fatal("a disabled limiter refused")
	}
}
