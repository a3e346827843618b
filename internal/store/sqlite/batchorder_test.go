package sqlite

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// The writer's turns: small batches of every team together, a slice of a
// big batch alone, taking turns; each team's batches in its order.
func TestNextWorkTakesTurns(t *testing.T) {
	t.Parallel()
	teamA, teamB, teamC := uuid.New(), uuid.New(), uuid.New()
	req := func(team uuid.UUID, name string, records int) *writeReq {
		b := &store.Batch{TeamID: team, Persist: true, Records: make([]core.Record, records), Run: core.Run{Error: name}}
		return &writeReq{b: b, big: big(b)}
	}
	var q teamQueues
	for _, r := range []*writeReq{
		req(teamA, "A-big1", 3*sliceRecords), req(teamA, "A-s1", 1), req(teamA, "A-big2", sliceRecords+1),
		req(teamB, "B-s1", 1), req(teamB, "B-s2", 2),
		req(teamC, "C-s1", 1),
	} {
		q.push(r)
	}
	// Simulate the writer: a slice writes sliceRecords records of a big
	// batch, whose last slice ends it.
	var txs []string
	bigTurn := false
	for q.n > 0 {
		small, slice := q.nextWork(bigTurn)
		if slice != nil {
			bigTurn = false
			slice.staged = min(slice.staged+sliceRecords, len(slice.b.Records))
			txs = append(txs, fmt.Sprintf("%s@%d", slice.b.Run.Error, slice.staged))
			if slice.staged == len(slice.b.Records) {
				q.pop(slice)
			}
			continue
		}
		bigTurn = true
		var names []string
		for _, r := range small {
			names = append(names, r.b.Run.Error)
			q.pop(r)
		}
		slices.Sort(names)
		txs = append(txs, fmt.Sprint(names))
	}
	want := []string{
		"[B-s1 B-s2 C-s1]", // A's head is big: the others' small batches go first
		"A-big1@256",
		"A-big1@512",
		"A-big1@768", // the last slice, alone as no small one waits
		"[A-s1]",     // A's next batch only after A-big1
		"A-big2@256",
		"A-big2@257",
	}
	if !slices.Equal(txs, want) {
		t.Fatalf("transactions\n%v\nwant\n%v", txs, want)
	}

	// A small batch arriving while a big batch is written waits for one
	// slice at most, and a full transaction of small batches takes from
	// each team in turn.
	q = teamQueues{}
	q.push(req(teamA, "A-big", 10*sliceRecords))
	bigTurn = false
	for range 3 {
		_, slice := q.nextWork(true)
		slice.staged += bigSliceRecords
	}
	for i := range maxSharedBatches {
		q.push(req(teamA, fmt.Sprint("A-s", i), 1)) // behind A-big
		q.push(req(teamB, fmt.Sprint("B-s", i), 1))
		q.push(req(teamC, fmt.Sprint("C-s", i), 1))
	}
	small, slice := q.nextWork(false)
	if slice != nil || len(small) != maxSharedBatches {
		t.Fatalf("small turn: %d small batches and slice %v", len(small), slice)
	}
	perTeam := map[uuid.UUID]int{}
	for _, r := range small {
		perTeam[r.b.TeamID]++
		q.pop(r)
	}
	if perTeam[teamA] != 0 || perTeam[teamB] != maxSharedBatches/2 || perTeam[teamC] != maxSharedBatches/2 {
		t.Fatalf("small batches per team: A %d, B %d, C %d", perTeam[teamA], perTeam[teamB], perTeam[teamC])
	}
	if _, slice := q.nextWork(true); slice == nil || slice.b.Run.Error != "A-big" {
		t.Fatalf("big turn: %v", slice)
	}
	// Bytes count too: a few large records make a big batch.
	large := &store.Batch{Persist: true, Records: make([]core.Record, 3)}
	for i := range large.Records {
		large.Records[i].Data = make([]byte, sliceBytes/2)
	}
	if !big(large) || big(&store.Batch{Persist: true, Records: make([]core.Record, sliceRecords)}) {
		t.Fatal("big: wrong for large records or a slice of small ones")
	}
}
