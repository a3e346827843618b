package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// Pipelines lists the caller's team's pipelines by name (viewer).
func (s *Service) Pipelines(ctx context.Context, who Caller) ([]core.Pipeline, error) {
	team, role, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	for i := range ps {
		ps[i] = view(ps[i], role)
		ps[i].Spec = s.compiler.CanonicalSpec(ps[i].Spec)
	}
	return ps, nil
}

// Pipeline returns a pipeline of the caller's team (viewer).
func (s *Service) Pipeline(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, error) {
	p, role, err := s.load(ctx, who, id, auth.Viewer)
	return view(p, role), err
}

// PipelineSinkStates returns a pipeline of the caller's team with the
// states of its sinks that have one (viewer).
func (s *Service) PipelineSinkStates(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, []core.SinkState, error) {
	p, role, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return p, nil, err
	}
	var sts []core.SinkState
	if s.sk != nil {
		if sts, err = s.st.SinkStates(ctx, p.TeamID, p.ID); err != nil {
			return p, nil, fmt.Errorf("sink states of pipeline %s: %w", p.ID, err)
		}
	}
	return view(p, role), sts, nil
}

// CreatePipeline compiles a pipeline document, checks it against the team
// (secrets, sinks, upstream) and saves it at version 1 (editor).
func (s *Service) CreatePipeline(ctx context.Context, who Caller, doc []byte) (core.Pipeline, error) {
	team, role, err := s.access(who, auth.Editor)
	if err != nil {
		return core.Pipeline{}, err
	}
	cs, err := s.compile(ctx, team, doc)
	if err != nil {
		return core.Pipeline{}, err
	}
	upstream, err := s.resolveUpstream(ctx, team, uuid.Nil, cs.c)
	if err != nil {
		return core.Pipeline{}, err
	}
	np := store.NewPipeline{Name: cs.c.Spec.Name, Kind: cs.c.Spec.Kind, Spec: cs.canonical, Upstream: upstream, Secrets: cs.secrets}
	if cs.c.Spec.Kind == core.KindWebhook {
		np.HookToken = auth.NewURLToken()
	}
	p, err := s.st.CreatePipeline(ctx, team, np)
	if err != nil {
		return p, s.saveError(ctx, team, cs, err, func() bool { return true })
	}
	s.changed(ctx, change{ev: evCreated, p: p, linksMoved: upstream != uuid.Nil})
	return view(p, role), nil
}

// UpdatePipeline replaces a pipeline's spec; the version grows by one
// (editor). ifVersion, when not 0, is the version the change is based on:
// another one gives ErrVersionConflict. The kind cannot change.
func (s *Service) UpdatePipeline(ctx context.Context, who Caller, id uuid.UUID, ifVersion int, doc []byte) (core.Pipeline, error) {
	cur, role, err := s.load(ctx, who, id, auth.Editor)
	if err != nil {
		return cur, err
	}
	if ifVersion != 0 && ifVersion != cur.Version {
		return cur, versionConflict(ifVersion, cur.Version)
	}
	cs, err := s.compile(ctx, cur.TeamID, doc)
	if err != nil {
		return cur, err
	}
	if cs.c.Spec.Kind != cur.Kind {
		return cur, invalid("The kind of a pipeline cannot change; create a new pipeline instead.",
			pipeline.Problem{Path: "kind", Message: fmt.Sprintf("is %s and cannot become %s", cur.Kind, cs.c.Spec.Kind)})
	}
	if ifVersion == 0 {
		ifVersion = cur.Version // still refuse to overwrite a change made since the read above
	}
	upstream, err := s.resolveUpstream(ctx, cur.TeamID, cur.ID, cs.c)
	if err != nil {
		return cur, err
	}
	p, err := s.st.UpdatePipeline(ctx, cur.TeamID, cur.ID, store.PipelineUpdate{
		Name: cs.c.Spec.Name, Kind: cs.c.Spec.Kind, Spec: cs.canonical, IfVersion: ifVersion, Upstream: upstream, Secrets: cs.secrets,
	})
	if err != nil {
		return cur, s.saveError(ctx, cur.TeamID, cs, err, func() bool { return s.nameTaken(ctx, cur, cs.c.Spec.Name) })
	}
	s.changed(ctx, change{ev: evUpdated, p: p, linksMoved: p.Kind == core.KindP2P})
	return view(p, role), nil
}

// PausePipeline stops a pipeline taking records: its webhook refuses
// them and it is not polled (editor).
func (s *Service) PausePipeline(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, error) {
	return s.setStatus(ctx, who, id, core.StatusPaused, evPaused)
}

// ResumePipeline makes a paused pipeline take records again (editor).
func (s *Service) ResumePipeline(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, error) {
	return s.setStatus(ctx, who, id, core.StatusActive, evResumed)
}

func (s *Service) setStatus(ctx context.Context, who Caller, id uuid.UUID, status core.PipelineStatus, ev event) (core.Pipeline, error) {
	team, role, err := s.access(who, auth.Editor)
	if err != nil {
		return core.Pipeline{}, err
	}
	p, err := s.st.SetPipelineStatus(ctx, team, id, status)
	if errors.Is(err, core.ErrNotFound) {
		return p, errNoPipeline
	}
	if err != nil {
		return p, fmt.Errorf("set status of pipeline %s: %w", id, err)
	}
	s.changed(ctx, change{ev: ev, p: p})
	return view(p, role), nil
}

// RotateHookToken gives a webhook pipeline a new ingest token; the old one
// stops working at once in this process (editor).
func (s *Service) RotateHookToken(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, error) {
	cur, role, err := s.load(ctx, who, id, auth.Editor)
	if err != nil {
		return cur, err
	}
	if cur.Kind != core.KindWebhook {
		return cur, newError(ErrConflict, "Only webhook pipelines have an ingest URL; this one is %s.", cur.Kind)
	}
	p, err := s.st.RotateHookToken(ctx, cur.TeamID, cur.ID, auth.NewURLToken())
	if errors.Is(err, core.ErrNotFound) {
		return p, errNoPipeline
	}
	if err != nil {
		return p, fmt.Errorf("rotate token of pipeline %s: %w", id, err)
	}
	s.changed(ctx, change{ev: evRotated, p: p})
	return view(p, role), nil
}

// DeletePipeline deletes a pipeline with its records, rejected records
// and runs (editor).
func (s *Service) DeletePipeline(ctx context.Context, who Caller, id uuid.UUID) error {
	p, _, err := s.load(ctx, who, id, auth.Editor)
	if err != nil {
		return err
	}
	err = s.st.DeletePipeline(ctx, p.TeamID, p.ID)
	if errors.Is(err, core.ErrNotFound) {
		return errNoPipeline
	}
	if err != nil {
		return fmt.Errorf("delete pipeline %s: %w", id, err)
	}
	s.changed(ctx, change{ev: evDeleted, p: p, linksMoved: true})
	return nil
}

// compiled is a checked pipeline document.
type compiled struct {
	c         *pipeline.Compiled
	canonical []byte
	// secrets names the team secrets the spec refers to, for the store to
	// hold while it saves.
	secrets []string
}

// compile decodes, compiles and checks a pipeline document against the
// team. Problems give an *Error of ErrInvalid.
func (s *Service) compile(ctx context.Context, team uuid.UUID, doc []byte) (compiled, error) {
	spec, err := pipeline.Decode(doc)
	var c *pipeline.Compiled
	if err == nil {
		c, err = s.compiler.Compile(spec)
	}
	if se, ok := errors.AsType[*pipeline.SpecError](err); ok {
		return compiled{}, specInvalid(se, "")
	}
	if err != nil {
		return compiled{}, fmt.Errorf("compile pipeline spec: %w", err)
	}
	if err := s.checkSecrets(ctx, team, c); err != nil {
		return compiled{}, err
	}
	extra, err := s.checkSinks(ctx, team, c)
	if err != nil {
		return compiled{}, err
	}
	canonical, err := c.Spec.Canonical()
	if err != nil {
		return compiled{}, fmt.Errorf("encode pipeline spec: %w", err)
	}
	cs := compiled{c: c, canonical: canonical}
	seen := map[string]bool{}
	for _, ref := range append(c.SecretRefs(), extra...) {
		if !seen[ref.Name] {
			seen[ref.Name] = true
			cs.secrets = append(cs.secrets, ref.Name)
		}
	}
	return cs, nil
}

// specInvalid is the error of a spec that does not compile, with its
// problems' paths under prefix ("" or "spec").
func specInvalid(se *pipeline.SpecError, prefix string) *Error {
	ps := make([]pipeline.Problem, len(se.Problems))
	for i, p := range se.Problems {
		ps[i] = pipeline.Problem{Path: join(prefix, p.Path), Message: p.Message}
	}
	msg := "The pipeline spec has a problem; see errors."
	if n := len(ps); n > 1 && prefix == "" {
		msg = fmt.Sprintf("The pipeline spec has %d problems; see errors.", n)
	}
	return invalid(msg, ps...)
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	}
	return prefix + "." + path
}

// saveError maps the store's refusal of a save. nameTaken says whether a
// conflict is another pipeline's name rather than a concurrent change.
func (s *Service) saveError(ctx context.Context, team uuid.UUID, cs compiled, err error, nameTaken func() bool) error {
	switch {
	case errors.Is(err, store.ErrCycle):
		return upstreamRefused("it would form a cycle of p2p pipelines (another change just made it so); reload and check the pipelines' upstreams")
	case errors.Is(err, store.ErrUpstreamNotFound):
		return upstreamRefused("the upstream pipeline was deleted meanwhile")
	case errors.Is(err, store.ErrSecretMissing):
		// A secret was deleted since the check: say which, as the check does.
		if cerr := s.checkSecrets(ctx, team, cs.c); cerr != nil {
			return cerr
		}
		return invalid("The pipeline spec refers to a secret it cannot use; see errors.")
	case errors.Is(err, core.ErrConflict):
		if nameTaken() {
			return newError(ErrConflict, "The team already has a pipeline named %q; choose another name.", cs.c.Spec.Name)
		}
		return errChangedMeantime
	case errors.Is(err, core.ErrNotFound):
		return errNoPipeline
	}
	return fmt.Errorf("save pipeline: %w", err)
}

// nameTaken reports whether another pipeline of the team has the name.
func (s *Service) nameTaken(ctx context.Context, cur core.Pipeline, name string) bool {
	ps, err := s.st.Pipelines(ctx, cur.TeamID)
	if err != nil {
		return true // let the generic message stand
	}
	for _, p := range ps {
		if p.ID != cur.ID && p.Name == name {
			return true
		}
	}
	return false
}

const upstreamPath = "source.pipeline.upstream"

func upstreamRefused(msg string) *Error {
	return invalid("The pipeline's upstream cannot be used; see errors.", pipeline.Problem{Path: upstreamPath, Message: msg})
}

// resolveUpstream finds the upstream of a p2p spec among the team's
// pipelines (by id, else by name) and refuses an upstream that is not the
// team's, the pipeline itself, or one whose chain of upstreams leads back
// to the pipeline (self; uuid.Nil for a new pipeline) or grows too long.
// Other kinds have no upstream.
func (s *Service) resolveUpstream(ctx context.Context, team, self uuid.UUID, c *pipeline.Compiled) (uuid.UUID, error) {
	if c.Spec.Kind != core.KindP2P || c.Upstream == "" {
		return uuid.Nil, nil
	}
	up, err := s.findPipeline(ctx, team, c.Upstream)
	if errors.Is(err, core.ErrNotFound) {
		return uuid.Nil, upstreamRefused(fmt.Sprintf(
			"there is no pipeline %q in this team: a p2p pipeline reads from a pipeline of its own team, named by its name or id", c.Upstream))
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("find upstream: %w", err)
	}
	if up.ID == self {
		return uuid.Nil, upstreamRefused("a pipeline cannot read from itself")
	}
	// Walk up the chain: it must not come back to self, nor grow too long.
	chain := []string{up.Name}
	for cur := up.ID; ; {
		next, err := s.st.PipelineUpstream(ctx, team, cur)
		if errors.Is(err, core.ErrNotFound) {
			break
		}
		if err != nil {
			return uuid.Nil, fmt.Errorf("upstream of %s: %w", cur, err)
		}
		if next == self {
			name := c.Spec.Name
			return uuid.Nil, upstreamRefused(fmt.Sprintf("reading from %q would form a cycle: %s (each reads from the next)",
				up.Name, strings.Join(quoteAll(append(append([]string{name}, chain...), name)), " → ")))
		}
		if len(chain) >= s.cfg.MaxChain {
			return uuid.Nil, upstreamRefused(fmt.Sprintf("the chain of p2p pipelines above %q is longer than %d pipelines", up.Name, s.cfg.MaxChain))
		}
		p, err := s.st.Pipeline(ctx, team, next)
		if err != nil {
			return uuid.Nil, fmt.Errorf("load pipeline %s: %w", next, err)
		}
		chain, cur = append(chain, p.Name), next
	}
	return up.ID, nil
}

// findPipeline finds a pipeline of the team by id or by name.
func (s *Service) findPipeline(ctx context.Context, team uuid.UUID, ref string) (core.Pipeline, error) {
	if id, err := uuid.Parse(ref); err == nil {
		p, err := s.st.Pipeline(ctx, team, id)
		if !errors.Is(err, core.ErrNotFound) {
			return p, err
		}
	}
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return core.Pipeline{}, err
	}
	for _, p := range ps {
		if p.Name == ref {
			return p, nil
		}
	}
	return core.Pipeline{}, core.ErrNotFound
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
