package sqlite

import (
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// The writer's turns: small batches together, a big batch alone, taking
// turns, so that a small batch never waits behind more than one big one.
func TestNextGroupTakesTurns(t *testing.T) {
	t.Parallel()
	req := func(name string, records int) *writeReq {
		return &writeReq{b: &store.Batch{Records: make([]core.Record, records), Run: core.Run{Error: name}}}
	}
	names := func(rs []*writeReq) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.b.Run.Error)
		}
		return out
	}
	pending := []*writeReq{req("big1", bigBatch), req("s1", 1), req("big2", 5000), req("s2", bigBatch-1)}
	var turns [][]string
	bigTurn := false
	for len(pending) > 0 {
		var group []*writeReq
		group, pending = nextGroup(pending, bigTurn)
		bigTurn = batchSize(group[0]) < bigBatch
		turns = append(turns, names(group))
	}
	want := [][]string{{"s1", "s2"}, {"big1"}, {"big2"}}
	if !slices.EqualFunc(turns, want, slices.Equal) {
		t.Fatalf("transactions %v, want %v", turns, want)
	}
	// Its turn or not, a big batch goes when no small one waits, and a
	// big turn with small ones waiting takes the oldest big batch alone.
	group, rest := nextGroup([]*writeReq{req("s", 1), req("big", bigBatch), req("t", 2)}, true)
	if g, r := names(group), names(rest); !slices.Equal(g, []string{"big"}) || !slices.Equal(r, []string{"s", "t"}) {
		t.Fatalf("big turn: %v then %v", g, r)
	}
	many := make([]*writeReq, maxSharedBatches+3)
	for i := range many {
		many[i] = req("s", 1)
	}
	group, rest = nextGroup(many, false)
	if len(group) != maxSharedBatches || len(rest) != 3 {
		t.Fatalf("%d small batches: a transaction of %d, %d left", len(many), len(group), len(rest))
	}
}
