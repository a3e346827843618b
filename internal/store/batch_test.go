package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

// RecentTeams tells whether another team wrote within the window, and
// forgets teams older than it.
func TestRecentTeams(t *testing.T) {
	t.Parallel()
	a, b := uuid.New(), uuid.New()
	now := time.Now()
	m := store.RecentTeams{}
	if m.OtherSince(a, now.Add(-time.Second)) {
		t.Fatal("no team wrote, yet another did")
	}
	m.Wrote(a, now)
	if m.OtherSince(a, now.Add(-time.Second)) {
		t.Fatal("only the team itself wrote, yet another did")
	}
	m.Wrote(b, now.Add(-2*time.Second))
	if m.OtherSince(a, now.Add(-time.Second)) {
		t.Fatal("another team wrote before the window, yet counted")
	}
	if _, ok := m[b]; ok {
		t.Fatal("a team outside the window was kept")
	}
	m.Wrote(b, now)
	if !m.OtherSince(a, now.Add(-time.Second)) {
		t.Fatal("another team wrote within the window, yet not counted")
	}
}
