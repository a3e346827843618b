package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["P2PLinks"] = testP2PLinks
	extra["P2PCycles"] = testP2PCycles
	extra["P2PConcurrentCycle"] = testP2PConcurrentCycle
	extra["P2PRecordsByID"] = testP2PRecordsByID
}

// newP2P creates a p2p pipeline reading from upstream.
func newP2P(t *testing.T, s store.Store, teamID uuid.UUID, name string, upstream uuid.UUID) (core.Pipeline, error) {
	t.Helper()
	return s.CreatePipeline(ctx(t), teamID, store.NewPipeline{
		Name: name, Kind: core.KindP2P, Spec: json.RawMessage(`{"name":"` + name + `","kind":"p2p"}`), Upstream: upstream,
	})
}

func hasLink(links []store.PipelineLink, l store.PipelineLink) bool { return slices.Contains(links, l) }

func testP2PLinks(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	up := newPipeline(t, s, team.ID, "up")
	down := must[core.Pipeline](t)(newP2P(t, s, team.ID, "down", up.ID))
	if got := must[uuid.UUID](t)(s.PipelineUpstream(c, team.ID, down.ID)); got != up.ID {
		t.Fatalf("upstream = %s, want %s", got, up.ID)
	}
	if _, err := s.PipelineUpstream(c, team.ID, up.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upstream of a pipeline without one: err = %v", err)
	}
	if got := must[[]uuid.UUID](t)(s.Downstreams(c, team.ID, up.ID)); !slices.Equal(got, []uuid.UUID{down.ID}) {
		t.Fatalf("downstreams = %v", got)
	}
	link := store.PipelineLink{TeamID: team.ID, Downstream: down.ID, Upstream: up.ID}
	if !hasLink(must[[]store.PipelineLink](t)(s.PipelineLinks(c)), link) {
		t.Fatalf("PipelineLinks lacks %+v", link)
	}

	// Another team sees nothing of the link and cannot link to up.
	other, _ := newTeam(t, s)
	if _, err := s.PipelineUpstream(c, other.ID, down.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upstream through another team: err = %v", err)
	}
	if got := must[[]uuid.UUID](t)(s.Downstreams(c, other.ID, up.ID)); len(got) != 0 {
		t.Fatalf("downstreams through another team = %v", got)
	}
	if _, err := newP2P(t, s, other.ID, "thief", up.ID); !errors.Is(err, store.ErrUpstreamNotFound) || !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("cross-team upstream: err = %v, want ErrUpstreamNotFound", err)
	}
	if ps := must[[]core.Pipeline](t)(s.Pipelines(c, other.ID)); len(ps) != 0 {
		t.Fatalf("a refused p2p pipeline was created: %+v", ps)
	}

	// Moving the link, then removing it.
	up2 := newPipeline(t, s, team.ID, "up2")
	spec := json.RawMessage(`{"name":"down","kind":"p2p"}`)
	must[core.Pipeline](t)(s.UpdatePipeline(c, team.ID, down.ID, store.PipelineUpdate{Name: "down", Kind: core.KindP2P, Spec: spec, Upstream: up2.ID}))
	if got := must[uuid.UUID](t)(s.PipelineUpstream(c, team.ID, down.ID)); got != up2.ID {
		t.Fatalf("upstream after update = %s, want %s", got, up2.ID)
	}
	if got := must[[]uuid.UUID](t)(s.Downstreams(c, team.ID, up.ID)); len(got) != 0 {
		t.Fatalf("old upstream still has downstreams %v", got)
	}
	must[core.Pipeline](t)(s.UpdatePipeline(c, team.ID, down.ID, store.PipelineUpdate{Name: "down", Kind: core.KindP2P, Spec: spec}))
	if _, err := s.PipelineUpstream(c, team.ID, down.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upstream after removal: err = %v", err)
	}

	// Deleting the upstream removes the link.
	must[core.Pipeline](t)(s.UpdatePipeline(c, team.ID, down.ID, store.PipelineUpdate{Name: "down", Kind: core.KindP2P, Spec: spec, Upstream: up.ID}))
	if err := s.DeletePipeline(c, team.ID, up.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PipelineUpstream(c, team.ID, down.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upstream after the upstream was deleted: err = %v", err)
	}
	if hasLink(must[[]store.PipelineLink](t)(s.PipelineLinks(c)), link) {
		t.Fatal("PipelineLinks still lists the link of a deleted upstream")
	}
}

func testP2PCycles(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	a := newPipeline(t, s, team.ID, "a")
	b := must[core.Pipeline](t)(newP2P(t, s, team.ID, "b", a.ID))
	cc := must[core.Pipeline](t)(newP2P(t, s, team.ID, "c", b.ID))
	update := func(p core.Pipeline, upstream uuid.UUID) error {
		_, err := s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: p.Name, Kind: core.KindP2P,
			Spec: json.RawMessage(`{"name":"` + p.Name + `","kind":"p2p"}`), Upstream: upstream})
		return err
	}
	// a is a webhook pipeline in the store's eyes; the store checks links,
	// not kinds, so a → c closes a → c → b → a.
	if err := update(a, cc.ID); !errors.Is(err, store.ErrCycle) || !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("a reading from c: err = %v, want ErrCycle", err)
	}
	if err := update(b, b.ID); !errors.Is(err, store.ErrCycle) {
		t.Fatalf("b reading from itself: err = %v, want ErrCycle", err)
	}
	if err := update(b, cc.ID); !errors.Is(err, store.ErrCycle) {
		t.Fatalf("b reading from c: err = %v, want ErrCycle", err)
	}
	// Nothing of a refused update is kept.
	if got := must[core.Pipeline](t)(s.Pipeline(c, team.ID, b.ID)); got.Version != 1 {
		t.Fatalf("refused update changed b to version %d", got.Version)
	}
	if got := must[uuid.UUID](t)(s.PipelineUpstream(c, team.ID, b.ID)); got != a.ID {
		t.Fatalf("refused update moved b's upstream to %s", got)
	}
	if _, err := s.PipelineUpstream(c, team.ID, a.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("refused update gave a an upstream: err = %v", err)
	}
	// A diamond is not a cycle: d reads from a, c could read from d.
	d := must[core.Pipeline](t)(newP2P(t, s, team.ID, "d", a.ID))
	if err := update(cc, d.ID); err != nil {
		t.Fatalf("c reading from d: %v", err)
	}
}

// testP2PConcurrentCycle races x → y against y → x: exactly one may win.
func testP2PConcurrentCycle(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	root := newPipeline(t, s, team.ID, "root")
	for round := range 5 {
		x := must[core.Pipeline](t)(newP2P(t, s, team.ID, "x"+uuid.NewString()[:8], root.ID))
		y := must[core.Pipeline](t)(newP2P(t, s, team.ID, "y"+uuid.NewString()[:8], root.ID))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]core.Pipeline{{x, y}, {y, x}} {
			wg.Go(func() {
				p := pair[0]
				_, errs[i] = s.UpdatePipeline(c, team.ID, p.ID, store.PipelineUpdate{Name: p.Name, Kind: core.KindP2P,
					Spec: json.RawMessage(`{"kind":"p2p"}`), Upstream: pair[1].ID})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrCycle):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of the two crossing updates succeeded (%v), want exactly 1", round, ok, errs)
		}
	}
}

func testP2PRecordsByID(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "by-id")
	end := time.Now().UTC().Truncate(time.Microsecond)
	recs := writeRecords(t, s, team.ID, p.ID, 1, 6, end)
	ids := []int64{recs[0].ID, recs[1].ID, recs[3].ID, recs[4].ID, recs[5].ID}
	ranges := store.IDRanges(ids)
	if store.CountIDs(ranges) != len(ids) {
		t.Fatalf("ranges %v hold %d ids, want %d", ranges, store.CountIDs(ranges), len(ids))
	}
	from, to := recs[0].TS, recs[5].TS
	got := must[[]core.Record](t)(s.RecordsByID(c, team.ID, p.ID, ranges, from, to))
	if len(got) != len(ids) {
		t.Fatalf("got %d records, want %d", len(got), len(ids))
	}
	for i, r := range got {
		want := recs[slices.IndexFunc(recs, func(x core.Record) bool { return x.ID == ids[i] })]
		if r.ID != want.ID || !r.TS.Equal(want.TS) {
			t.Fatalf("record %d = id %d at %v, want id %d at %v", i, r.ID, r.TS, want.ID, want.TS)
		}
		sameJSON(t, r.Data, want.Data)
	}
	// The time bounds are honoured.
	if got := must[[]core.Record](t)(s.RecordsByID(c, team.ID, p.ID, ranges, recs[3].TS, to)); len(got) != 3 {
		t.Fatalf("with a narrower time range: %d records, want 3", len(got))
	}
	// A range with a window of its own is looked for within it: records
	// 0 and 1 are outside the window given for their range, while the
	// other range keeps the call's.
	windowed := []store.RecordIDRange{
		{First: recs[0].ID, Last: recs[1].ID, From: recs[2].TS, To: recs[5].TS},
		{First: recs[3].ID, Last: recs[5].ID},
	}
	if got := must[[]core.Record](t)(s.RecordsByID(c, team.ID, p.ID, windowed, from, to)); len(got) != 3 || got[0].ID != recs[3].ID {
		t.Fatalf("with a window per range: %d records, want the 3 of the second range", len(got))
	}
	windowed[0].From, windowed[0].To = recs[0].TS, recs[1].TS
	if got := must[[]core.Record](t)(s.RecordsByID(c, team.ID, p.ID, windowed, from, to)); len(got) != 5 {
		t.Fatalf("with each range's own window: %d records, want 5", len(got))
	}
	// Another team reads nothing.
	other, _ := newTeam(t, s)
	if got := must[[]core.Record](t)(s.RecordsByID(c, other.ID, p.ID, ranges, from, to)); len(got) != 0 {
		t.Fatalf("another team read %d records", len(got))
	}
}
