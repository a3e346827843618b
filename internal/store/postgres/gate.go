package postgres

import (
	"context"
	"sync"
	"time"
)

// writeGate lets a big batch's write give way to small batches. A big
// batch keeps a database backend busy for tens of milliseconds; the small
// batches committing meanwhile, of other pipelines and teams, competed
// with it for the machine's cores and took two to three times longer
// (issue 11). So a big batch copies its records in chunks
// (copyChunkRecords), and before each chunk waits, for at most
// maxGiveWay, until no small batch is being written. The big batch takes
// longer when small ones are many; they take about as long as alone.
type writeGate struct {
	mu    sync.Mutex
	small int
	idle  chan struct{} // closed when small drops to 0
}

// maxGiveWay bounds each wait of a big batch for the small ones, so that
// a steady stream of them slows a big batch down but cannot stop it.
const maxGiveWay = 5 * time.Millisecond

// enter counts a small batch's write until the returned func is called.
func (g *writeGate) enter() (leave func()) {
	g.mu.Lock()
	if g.small == 0 {
		g.idle = make(chan struct{})
	}
	g.small++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		if g.small--; g.small == 0 {
			close(g.idle)
		}
		g.mu.Unlock()
	}
}

// giveWay waits until no small batch is being written, for at most
// maxGiveWay, or until ctx ends.
func (g *writeGate) giveWay(ctx context.Context) {
	g.mu.Lock()
	if g.small == 0 {
		g.mu.Unlock()
		return
	}
	idle := g.idle
	g.mu.Unlock()
	t := time.NewTimer(maxGiveWay)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
}
