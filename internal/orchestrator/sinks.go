package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
)

// A pipeline's sinks live in its spec (the sinks array), so creating,
// changing and removing one saves a new version of the spec, with every
// check a whole-spec update makes, and the sink's state in the same
// transaction. Downstream p2p pipelines are listed with the sinks,
// read-only, as sinks of kind "pipeline".

// Sink is a sink of a pipeline with its health.
type Sink struct {
	Name    string
	Kind    string // "pipeline" for a downstream p2p pipeline
	Enabled bool
	// Settings are the kind's settings as saved; they name secrets.
	Settings json.RawMessage
	// Downstream is the pipeline of a sink of kind "pipeline", which is
	// read-only: change it on that pipeline.
	Downstream *core.Pipeline
	Status     core.SinkStatus
	// Reason says why the sink is failing or disabled.
	Reason string
	// State holds the sink's counters (zero before its first delivery).
	State core.SinkState
	// Notes say how the server reads settings that do not mean what they
	// seem to (a blob file:// URL written under the server's sink root).
	Notes []string
}

const reasonSpecDisabled = "disabled in the pipeline's spec"

// sinkOf is a sink of the spec as its state shows it, with its kind's
// notes on its settings.
func (s *Service) sinkOf(sk delivery.SinkSpec, st core.SinkState) Sink {
	out := sinkOf(sk, st)
	out.Notes = s.compiler.Sinks().NotesOf(sk.Kind, sk.Settings)
	return out
}

// sinkOf is a sink of the spec as its state shows it.
func sinkOf(sk delivery.SinkSpec, st core.SinkState) Sink {
	out := Sink{Name: sk.Name, Kind: sk.Kind, Enabled: sk.Enabled, Settings: sk.Settings, Status: core.SinkActive, State: st}
	switch {
	case !sk.Enabled:
		out.Status, out.Reason = core.SinkDisabled, reasonSpecDisabled
		if st.Status == core.SinkDisabled && st.Reason != "" {
			out.Reason = st.Reason
		}
	case st.Status == core.SinkFailing:
		out.Status, out.Reason = core.SinkFailing, st.Reason
	}
	return out
}

// SinkKinds lists the sink kinds this server delivers to (viewer).
func (s *Service) SinkKinds(ctx context.Context, who Caller) ([]sink.Kind, error) {
	if _, _, err := s.access(who, auth.Viewer); err != nil {
		return nil, err
	}
	out := []sink.Kind{}
	if s.sk == nil {
		return out, nil
	}
	reg := s.sk.Registry()
	for _, name := range reg.Names() {
		k, _ := reg.Kind(name)
		out = append(out, k)
	}
	return out, nil
}

// Sinks lists a pipeline's sinks with their health, then its downstream
// p2p pipelines as read-only sinks of kind "pipeline" (viewer).
func (s *Service) Sinks(ctx context.Context, who Caller, pipelineID uuid.UUID) ([]Sink, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Viewer)
	if err != nil {
		return nil, err
	}
	_, sinks, err := parseSinks(p)
	if err != nil {
		return nil, err
	}
	states, err := s.sinkStates(ctx, p)
	if err != nil {
		return nil, err
	}
	downs, err := s.st.Downstreams(ctx, p.TeamID, p.ID)
	if err != nil {
		return nil, fmt.Errorf("downstreams of pipeline %s: %w", p.ID, err)
	}
	return s.sinksOf(sinks, states, downs, func(id uuid.UUID) (core.Pipeline, error) { return s.st.Pipeline(ctx, p.TeamID, id) })
}

// sinksOf lists the sinks of a spec with their states, then the
// downstream pipelines downs (loaded by load; one gone meanwhile is
// skipped) as read-only sinks of kind "pipeline".
func (s *Service) sinksOf(sinks []delivery.SinkSpec, states map[string]core.SinkState, downs []uuid.UUID,
	load func(uuid.UUID) (core.Pipeline, error)) ([]Sink, error) {
	out := make([]Sink, 0, len(sinks)+len(downs))
	for _, sk := range sinks {
		out = append(out, s.sinkOf(sk, states[sk.Name]))
	}
	for _, id := range downs {
		d, err := load(id)
		if errors.Is(err, core.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("load pipeline %s: %w", id, err)
		}
		d.HookToken, d.HookTokenPrefix = "", ""
		b := Sink{Name: d.Name, Kind: "pipeline", Enabled: d.Status != core.StatusPaused, Downstream: &d, Status: core.SinkActive}
		if !b.Enabled {
			b.Status, b.Reason = core.SinkDisabled, "the downstream pipeline is paused"
		}
		out = append(out, b)
	}
	return out, nil
}

// Sink returns one sink of a pipeline, and the pipeline (viewer).
func (s *Service) Sink(ctx context.Context, who Caller, pipelineID uuid.UUID, name string) (core.Pipeline, Sink, error) {
	p, role, sk, _, err := s.loadSink(ctx, who, pipelineID, name, auth.Viewer)
	if err != nil {
		return p, Sink{}, err
	}
	states, err := s.sinkStates(ctx, p)
	if err != nil {
		return p, Sink{}, err
	}
	return view(p, role), s.sinkOf(sk, states[sk.Name]), nil
}

// CreateSink adds a sink to a pipeline's spec (editor): raw is one sink
// object. ifVersion, when not 0, is the pipeline version the change is
// based on.
func (s *Service) CreateSink(ctx context.Context, who Caller, pipelineID uuid.UUID, ifVersion int, raw []byte) (core.Pipeline, Sink, error) {
	cur, role, err := s.load(ctx, who, pipelineID, auth.Editor)
	if err != nil {
		return cur, Sink{}, err
	}
	sk, canonical, err := readSink(raw)
	if err != nil {
		return cur, Sink{}, err
	}
	_, sinks, err := parseSinks(cur)
	if err != nil {
		return cur, Sink{}, err
	}
	if _, _, taken := delivery.Find(sinks, sk.Name); taken {
		return cur, Sink{}, newError(ErrConflict, "The pipeline already has a sink named %q; choose another name or change that sink.", sk.Name)
	}
	p, st, err := s.saveSinks(ctx, cur, ifVersion, len(sinks), func(raws []json.RawMessage) []json.RawMessage {
		return append(raws, canonical)
	}, sinkStatus(sk))
	if err != nil {
		return cur, Sink{}, err
	}
	return view(p, role), s.sinkOf(sk, st), nil
}

// UpdateSink replaces a sink of a pipeline (editor). raw may leave out the
// name; a sink cannot be renamed. Enabling a sink clears its failures and
// a disabled state (also one from a 410 Gone).
func (s *Service) UpdateSink(ctx context.Context, who Caller, pipelineID uuid.UUID, name string, ifVersion int, raw []byte) (core.Pipeline, Sink, error) {
	cur, role, _, index, err := s.loadSink(ctx, who, pipelineID, name, auth.Editor)
	if err != nil {
		return cur, Sink{}, err
	}
	var named struct {
		Name *string `json:"name"`
	}
	if json.Unmarshal(raw, &named) == nil && named.Name == nil {
		// The name may be left out: the caller names the sink.
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil && obj != nil {
			obj["name"], _ = json.Marshal(name)
			raw, _ = json.Marshal(obj)
		}
	}
	sk, canonical, err := readSink(raw)
	if err != nil {
		return cur, Sink{}, err
	}
	if sk.Name != name {
		return cur, Sink{}, invalid("A sink cannot be renamed; add a sink with the new name and remove this one.",
			pipeline.Problem{Path: "name", Message: fmt.Sprintf("is %q, not %q", sk.Name, name)})
	}
	p, st, err := s.saveSinks(ctx, cur, ifVersion, index, func(raws []json.RawMessage) []json.RawMessage {
		raws[index] = canonical
		return raws
	}, sinkStatus(sk))
	if err != nil {
		return cur, Sink{}, err
	}
	return view(p, role), s.sinkOf(sk, st), nil
}

// DeleteSink removes a sink from a pipeline's spec, and its state and
// counters (editor). Its pending deliveries die; its delivery history
// stays until cleaned up.
func (s *Service) DeleteSink(ctx context.Context, who Caller, pipelineID uuid.UUID, name string, ifVersion int) error {
	cur, _, _, index, err := s.loadSink(ctx, who, pipelineID, name, auth.Editor)
	if err != nil {
		return err
	}
	_, _, err = s.saveSinks(ctx, cur, ifVersion, -1, func(raws []json.RawMessage) []json.RawMessage {
		return append(raws[:index:index], raws[index+1:]...)
	}, store.SinkChange{Sink: name, Remove: true})
	return err
}

// DisableSink switches a sink off for the system (the delivery machinery,
// after its destination answered 410 Gone): the sink's spec entry gets
// enabled: false in a new version of the pipeline, and its state says why,
// in one transaction, with the side effects of any sink change. A change
// made in between is read again; a sink no longer in the spec is left
// alone.
func (s *Service) DisableSink(ctx context.Context, teamID, pipelineID uuid.UUID, name, reason string) error {
	for try := 0; ; try++ {
		cur, err := s.st.Pipeline(ctx, teamID, pipelineID)
		if err != nil {
			return fmt.Errorf("load pipeline %s: %w", pipelineID, err)
		}
		spec, sinks, err := parseSinks(cur)
		if err != nil {
			return err
		}
		sk, index, ok := delivery.Find(sinks, name)
		if !ok {
			return nil
		}
		if !sk.Enabled {
			_, err := s.st.SetSinkStatus(ctx, teamID, pipelineID, name, core.SinkDisabled, reason)
			return err
		}
		sinks[index].Enabled = false
		raw, err := json.Marshal(sinks[index])
		if err != nil {
			return fmt.Errorf("encode sink %q: %w", name, err)
		}
		spec.Sinks[index] = raw
		c, err := s.compiler.Compile(spec)
		if err != nil {
			return fmt.Errorf("compile pipeline %s: %w", pipelineID, err)
		}
		canonical, err := c.Spec.Canonical()
		if err != nil {
			return fmt.Errorf("encode pipeline spec: %w", err)
		}
		up, err := s.st.PipelineUpstream(ctx, teamID, pipelineID)
		if errors.Is(err, core.ErrNotFound) {
			up, err = uuid.Nil, nil
		}
		if err != nil {
			return fmt.Errorf("upstream of pipeline %s: %w", pipelineID, err)
		}
		p, _, err := s.st.UpdatePipelineSink(ctx, teamID, pipelineID, store.PipelineUpdate{
			Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: canonical, IfVersion: cur.Version, Upstream: up,
		}, store.SinkChange{Sink: name, Status: core.SinkDisabled, Reason: reason})
		if errors.Is(err, core.ErrConflict) && try < 5 {
			continue
		}
		if err != nil {
			return fmt.Errorf("disable sink %q: %w", name, err)
		}
		s.changed(ctx, change{ev: evSinksChanged, p: p, sink: name})
		return nil
	}
}

// sinkStatus is the state a saved sink starts from: enabled clears its
// failures (and a disabled state from a 410), disabled says so.
func sinkStatus(sk delivery.SinkSpec) store.SinkChange {
	if !sk.Enabled {
		return store.SinkChange{Sink: sk.Name, Status: core.SinkDisabled, Reason: reasonSpecDisabled}
	}
	return store.SinkChange{Sink: sk.Name, Status: core.SinkActive}
}

// saveSinks saves cur's spec with its sinks changed by edit, through every
// check of a spec update, and the sink change, in one store call. index is
// the position of the sink the change is about (-1: none), whose problems
// are reported at the sink ("") rather than at sinks[index].
func (s *Service) saveSinks(ctx context.Context, cur core.Pipeline, ifVersion, index int,
	edit func([]json.RawMessage) []json.RawMessage, sc store.SinkChange) (core.Pipeline, core.SinkState, error) {
	if ifVersion != 0 && ifVersion != cur.Version {
		return cur, core.SinkState{}, versionConflict(ifVersion, cur.Version)
	}
	spec, err := pipeline.Decode(cur.Spec)
	if err != nil {
		return cur, core.SinkState{}, fmt.Errorf("decode spec of pipeline %s: %w", cur.ID, err)
	}
	spec.Sinks = edit(spec.Sinks)
	doc, err := json.Marshal(spec)
	if err != nil {
		return cur, core.SinkState{}, fmt.Errorf("encode spec of pipeline %s: %w", cur.ID, err)
	}
	cs, err := s.compile(ctx, cur.TeamID, doc)
	if err != nil {
		return cur, core.SinkState{}, relocate(err, index)
	}
	upstream, err := s.resolveUpstream(ctx, cur.TeamID, cur.ID, cs.c)
	if err != nil {
		return cur, core.SinkState{}, err
	}
	p, st, err := s.st.UpdatePipelineSink(ctx, cur.TeamID, cur.ID, store.PipelineUpdate{
		Name: cs.c.Spec.Name, Kind: cs.c.Spec.Kind, Spec: cs.canonical, IfVersion: cur.Version, Upstream: upstream, Secrets: cs.secrets,
	}, sc)
	if err != nil {
		return cur, st, relocate(s.saveError(ctx, cur.TeamID, cs, err, func() bool { return false }), index)
	}
	s.changed(ctx, change{ev: evSinksChanged, p: p, sink: sc.Sink})
	return p, st, nil
}

// relocate reports the problems of the sink at index at the sink itself.
func relocate(err error, index int) error {
	e, ok := errors.AsType[*Error](err)
	if index < 0 || !ok {
		return err
	}
	prefix := fmt.Sprintf("sinks[%d]", index)
	for i, p := range e.Problems {
		if p.Path == prefix || strings.HasPrefix(p.Path, prefix+".") {
			e.Problems[i].Path = strings.TrimPrefix(strings.TrimPrefix(p.Path, prefix), ".")
		}
	}
	return e
}

// readSink decodes one sink object.
func readSink(raw []byte) (delivery.SinkSpec, json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return delivery.SinkSpec{}, nil, newError(ErrMalformed, `The body must be one JSON object: a sink such as {"name": "alerts", "http": {"url": "https://…"}}.`)
	}
	sk, ps := delivery.ParseSink(raw, "")
	if len(ps) > 0 {
		for i := range ps {
			ps[i].Path = strings.TrimPrefix(ps[i].Path, ".")
		}
		return sk, nil, invalid("The sink has a problem; see errors.", ps...)
	}
	canonical, err := json.Marshal(sk)
	if err != nil {
		return sk, nil, invalid("The sink's settings are not valid JSON.")
	}
	return sk, canonical, nil
}

// parseSinks returns the parsed spec and sinks of a stored pipeline.
func parseSinks(p core.Pipeline) (pipeline.Spec, []delivery.SinkSpec, error) {
	spec, err := pipeline.Decode(p.Spec)
	if err != nil {
		return spec, nil, fmt.Errorf("decode spec of pipeline %s: %w", p.ID, err)
	}
	sinks, ps := delivery.ParseSinks(spec.Sinks)
	if len(ps) > 0 {
		return spec, nil, fmt.Errorf("the stored sinks of pipeline %s do not parse: %s", p.ID, ps[0])
	}
	return spec, sinks, nil
}

// loadSink loads a pipeline of the caller's team and one of its sinks.
func (s *Service) loadSink(ctx context.Context, who Caller, pipelineID uuid.UUID, name string, min auth.Role) (core.Pipeline, auth.Role, delivery.SinkSpec, int, error) {
	p, role, err := s.load(ctx, who, pipelineID, min)
	if err != nil {
		return p, role, delivery.SinkSpec{}, -1, err
	}
	_, sinks, err := parseSinks(p)
	if err != nil {
		return p, role, delivery.SinkSpec{}, -1, err
	}
	sk, index, ok := delivery.Find(sinks, name)
	if !ok {
		return p, role, sk, -1, newError(ErrNotFound, "The pipeline has no sink named %q.", name)
	}
	return p, role, sk, index, nil
}

// sinkStates returns the states of a pipeline's sinks by name.
func (s *Service) sinkStates(ctx context.Context, p core.Pipeline) (map[string]core.SinkState, error) {
	sts, err := s.st.SinkStates(ctx, p.TeamID, p.ID)
	if err != nil {
		return nil, fmt.Errorf("sink states of pipeline %s: %w", p.ID, err)
	}
	out := make(map[string]core.SinkState, len(sts))
	for _, st := range sts {
		out[st.Sink] = st
	}
	return out, nil
}

// Deliveries lists a pipeline's deliveries, newest first (viewer).
func (s *Service) Deliveries(ctx context.Context, who Caller, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Viewer)
	if err != nil {
		return nil, err
	}
	ds, err := s.st.Deliveries(ctx, p.TeamID, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

var errNoDelivery = newError(ErrNotFound, "The sink has no such delivery.")

// Delivery returns one delivery of a pipeline's sink (viewer).
func (s *Service) Delivery(ctx context.Context, who Caller, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Viewer)
	if err != nil {
		return core.Delivery{}, err
	}
	d, err := s.st.Delivery(ctx, p.TeamID, id)
	if err == nil && (d.PipelineID != p.ID || d.Sink != sinkName) {
		err = core.ErrNotFound
	}
	if errors.Is(err, core.ErrNotFound) {
		return d, errNoDelivery
	}
	if err != nil {
		return d, fmt.Errorf("load delivery %s: %w", id, err)
	}
	return d, nil
}

// RetryDelivery enqueues a dead delivery again, with the same records and
// idempotency id (editor). One that is not dead gives ErrConflict.
func (s *Service) RetryDelivery(ctx context.Context, who Caller, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Editor)
	if err != nil {
		return core.Delivery{}, err
	}
	if s.sk == nil {
		return core.Delivery{}, newError(ErrUnavailable, "Sinks are not delivered on this server.")
	}
	d, err := s.sk.Retry(ctx, p.TeamID, p.ID, sinkName, id)
	switch {
	case errors.Is(err, core.ErrConflict):
		return d, newError(ErrConflict, "Only a dead delivery can be retried; this one is not dead.")
	case errors.Is(err, core.ErrNotFound):
		return d, errNoDelivery
	case err != nil:
		return d, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return d, nil
}

// StartReplay re-delivers a pipeline's stored records with event times in
// [from, to) to one of its sinks (editor).
func (s *Service) StartReplay(ctx context.Context, who Caller, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error) {
	p, _, _, _, err := s.loadSink(ctx, who, pipelineID, sinkName, auth.Editor)
	if err != nil {
		return core.Replay{}, err
	}
	if s.sk == nil {
		return core.Replay{}, newError(ErrUnavailable, "Sinks are not delivered on this server.")
	}
	rp, err := s.sk.StartReplay(ctx, p.TeamID, p.ID, sinkName, from, to)
	switch {
	case errors.Is(err, delivery.ErrSinkDisabled):
		return rp, newError(ErrConflict, "The sink is disabled; enable it before replaying records to it.")
	case errors.Is(err, core.ErrInvalid):
		return rp, invalid(strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": "),
			pipeline.Problem{Path: "from", Message: "from must be before to, at most 400 days apart"})
	case err != nil:
		return rp, err // the delivery service's errors carry their context
	}
	return rp, nil
}

// Replays lists a pipeline's replays to a sink, newest first (viewer).
func (s *Service) Replays(ctx context.Context, who Caller, pipelineID uuid.UUID, sinkName string) ([]core.Replay, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Viewer)
	if err != nil {
		return nil, err
	}
	rs, err := s.st.Replays(ctx, p.TeamID, p.ID, sinkName)
	if err != nil {
		return nil, fmt.Errorf("list replays: %w", err)
	}
	return rs, nil
}

// Replay returns a replay of a pipeline's sink with its progress (viewer).
func (s *Service) Replay(ctx context.Context, who Caller, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Replay, error) {
	p, _, err := s.load(ctx, who, pipelineID, auth.Viewer)
	if err != nil {
		return core.Replay{}, err
	}
	rp, err := s.st.Replay(ctx, p.TeamID, id)
	if err == nil && (rp.PipelineID != p.ID || rp.Sink != sinkName) {
		err = core.ErrNotFound
	}
	if errors.Is(err, core.ErrNotFound) {
		return rp, newError(ErrNotFound, "The sink has no such replay.")
	}
	if err != nil {
		return rp, fmt.Errorf("load replay %s: %w", id, err)
	}
	return rp, nil
}
