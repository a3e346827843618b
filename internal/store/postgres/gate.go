package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

// writeGate lets a big batch's write give way to other teams' small
// batches. A big batch keeps a database backend busy for tens of
// milliseconds; the small batches of other teams committing meanwhile
// competed with it for the machine's cores and took two to three times
// longer (issue 11). So a big batch copies its records in chunks
// (copyChunkRecords), and before each waits, for at most maxGiveWay,
// until no other team's small batch is being written. The big batch takes
// longer when other teams write; they take about as long as alone. Its
// own team's small batches do not hold it back: they are its own load.
type writeGate struct {
	mu     sync.Mutex
	small  map[uuid.UUID]int // small batches being written, by team (none: absent)
	change chan struct{}     // closed, and replaced, when a small batch ends
	// ended is when each team's last small batch ended, within
	// lateWindow (othersLately).
	ended store.RecentTeams
	// after is time.After, or a test's stand-in.
	after func(time.Duration) <-chan time.Time
}

// lateWindow is how recent another team's small batch must be for a big
// batch to copy in short chunks (othersLately).
const lateWindow = time.Second

// maxGiveWay bounds each wait of a big batch for the small ones, so that
// a steady stream of them slows a big batch down but cannot stop it.
const maxGiveWay = 5 * time.Millisecond

// enter counts a small batch of team's being written until the returned
// func is called.
func (g *writeGate) enter(team uuid.UUID) (leave func()) {
	g.mu.Lock()
	if g.small == nil {
		g.small = make(map[uuid.UUID]int)
	}
	g.small[team]++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		if g.small[team]--; g.small[team] == 0 {
			delete(g.small, team)
		}
		if g.ended == nil {
			g.ended = store.RecentTeams{}
		}
		g.ended.Wrote(team, time.Now())
		if g.change != nil {
			close(g.change)
			g.change = nil
		}
		g.mu.Unlock()
	}
}

// giveWay waits until no small batch of a team other than team is being
// written, for at most maxGiveWay and at most budget, or until ctx ends.
func (g *writeGate) giveWay(ctx context.Context, team uuid.UUID, budget time.Duration) {
	if budget <= 0 {
		return
	}
	var timeout <-chan time.Time
	for {
		g.mu.Lock()
		if !g.othersWriting(team) {
			g.mu.Unlock()
			return
		}
		if g.change == nil {
			g.change = make(chan struct{})
		}
		change := g.change
		g.mu.Unlock()
		if timeout == nil {
			after := g.after
			if after == nil {
				after = time.After
			}
			timeout = after(min(maxGiveWay, budget))
		}
		select {
		case <-change:
		case <-timeout:
			return
		case <-ctx.Done():
			return
		}
	}
}

// othersLately reports whether a team other than team writes small
// batches now or did within lateWindow.
func (g *writeGate) othersLately(team uuid.UUID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.othersWriting(team) || g.ended.OtherSince(team, time.Now().Add(-lateWindow))
}

// othersWriting reports whether a team other than team has a small batch
// being written. Called with g.mu held.
func (g *writeGate) othersWriting(team uuid.UUID) bool {
	for k := range g.small {
		if k != team {
			return true
		}
	}
	return false
}
