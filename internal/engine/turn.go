package engine

import (
	"context"
	"fmt"
	"runtime"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/fairshare"
)

// Turn is one request's hold on its team's CPU share (Config.CPUSlots)
// for work done in slices: mapping (ProcessFor) and the decoding of a
// body too big to be read whole first (internal/ingest). A request holds
// a slot while it works and leaves it while it waits for anything else,
// such as the network, so that a slow sender holds nothing. A Turn is
// used by one goroutine.
type Turn struct {
	share *fairshare.Share // nil: the share is off
	team  uuid.UUID
	held  bool
	work  int // in the current slice
	total int // since the turn began
}

// Turn returns a turn of the team, holding no slot yet.
func (e *Engine) Turn(teamID uuid.UUID) *Turn {
	return &Turn{share: e.share, team: teamID}
}

// Take takes a slot of the team's share, waiting for one in the team's
// turn, unless the turn holds one. It fails only with ctx's error.
func (t *Turn) Take(ctx context.Context) error {
	if t.share == nil || t.held {
		return nil
	}
	if err := t.share.Acquire(ctx, t.team); err != nil {
		return fmt.Errorf("engine: wait for a CPU slot: %w", err)
	}
	t.held = true
	return nil
}

// Leave gives the slot back, if the turn holds one.
func (t *Turn) Leave() {
	if t.held {
		t.held = false
		t.share.Release(t.team)
	}
}

// Work counts ops operations and, at the end of a slice (sliceWork),
// yields: the slot to another team that waits, or else the processor to
// any goroutine that is ready to run (the Go scheduler would take it back
// only after 10 ms). It is mapping.Pacer.
func (t *Turn) Work(ops int) {
	t.work += ops
	t.total += ops
	if t.work < sliceWork {
		return
	}
	t.work = 0
	if !t.held || !t.share.Yield(t.team) {
		runtime.Gosched()
	}
}

// Unshared returns a turn outside any share: Take and Leave do nothing,
// and Work only yields the processor between slices.
func Unshared() *Turn { return &Turn{} }

// Reserve waits for the team's turn, as Take, and then counts against the
// team's share without holding any of the node's slots
// (fairshare.Share.Reserve) until end is called: for work of the team's
// that runs elsewhere, a database backend writing a huge batch. The team
// then does that work, or its decoding and mapping, one at a time within
// its share, while other teams' requests find every slot the team does
// not use. The turn itself holds nothing afterwards. It fails only with
// ctx's error.
func (t *Turn) Reserve(ctx context.Context) (end func(), err error) {
	if t.share == nil {
		return func() {}, nil
	}
	if err := t.Take(ctx); err != nil {
		return nil, err
	}
	t.share.Reserve(t.team)
	t.Leave()
	return func() { t.share.Unreserve(t.team) }, nil
}
