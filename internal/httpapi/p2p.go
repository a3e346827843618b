package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/p2p"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// LinkIndex is what the pipeline routes tell after a change that may
// move p2p links (a p2p pipeline saved, any pipeline deleted), so that
// batches committed next reach the right downstream pipelines;
// *p2p.Index has it.
type LinkIndex interface {
	Changed(ctx context.Context) error
}

var _ LinkIndex = (*p2p.Index)(nil)

const upstreamPath = "body.source.pipeline.upstream"

// resolveUpstream finds the upstream of a p2p spec among the team's
// pipelines (by id, else by name) and refuses, with a 422 that says why,
// an upstream that is not the team's, the pipeline itself, or one whose
// chain of upstreams leads back to the pipeline (self; uuid.Nil for a new
// pipeline). Other kinds have no upstream.
func (r *pipelineRoutes) resolveUpstream(ctx context.Context, team, self uuid.UUID, c *pipeline.Compiled) (uuid.UUID, error) {
	if c.Spec.Kind != core.KindP2P || c.Upstream == "" {
		return uuid.Nil, nil
	}
	up, err := r.findPipeline(ctx, team, c.Upstream)
	if errors.Is(err, core.ErrNotFound) {
		return uuid.Nil, upstreamRefused(fmt.Sprintf(
			"there is no pipeline %q in this team: a p2p pipeline reads from a pipeline of its own team, named by its name or id", c.Upstream))
	}
	if err != nil {
		return uuid.Nil, r.s.problem(ctx, err)
	}
	if up.ID == self {
		return uuid.Nil, upstreamRefused("a pipeline cannot read from itself")
	}
	// Walk up the chain: it must not come back to self, nor grow too long.
	chain := []string{up.Name}
	for cur := up.ID; ; {
		next, err := r.store.PipelineUpstream(ctx, team, cur)
		if errors.Is(err, core.ErrNotFound) {
			break
		}
		if err != nil {
			return uuid.Nil, r.s.problem(ctx, err)
		}
		if next == self {
			name := c.Spec.Name
			return uuid.Nil, upstreamRefused(fmt.Sprintf("reading from %q would form a cycle: %s (each reads from the next)",
				up.Name, strings.Join(quoteAll(append(append([]string{name}, chain...), name)), " → ")))
		}
		if len(chain) >= p2p.MaxDepth {
			return uuid.Nil, upstreamRefused(fmt.Sprintf("the chain of p2p pipelines above %q is longer than %d pipelines", up.Name, p2p.MaxDepth))
		}
		p, err := r.store.Pipeline(ctx, team, next)
		if err != nil {
			return uuid.Nil, r.s.problem(ctx, err)
		}
		chain, cur = append(chain, p.Name), next
	}
	return up.ID, nil
}

// findPipeline finds a pipeline of the team by id or by name.
func (r *pipelineRoutes) findPipeline(ctx context.Context, team uuid.UUID, ref string) (core.Pipeline, error) {
	if id, err := uuid.Parse(ref); err == nil {
		p, err := r.store.Pipeline(ctx, team, id)
		if !errors.Is(err, core.ErrNotFound) {
			return p, err
		}
	}
	ps, err := r.store.Pipelines(ctx, team)
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

func upstreamRefused(msg string) error {
	return huma.Error422UnprocessableEntity("The pipeline's upstream cannot be used; see errors.",
		&huma.ErrorDetail{Location: upstreamPath, Message: msg})
}

// upstreamProblem maps the store's refusal of a link (a race with another
// save that the check above could not see), or returns nil.
func upstreamProblem(err error) error {
	switch {
	case errors.Is(err, store.ErrCycle):
		return upstreamRefused("it would form a cycle of p2p pipelines (another change just made it so); reload and check the pipelines' upstreams")
	case errors.Is(err, store.ErrUpstreamNotFound):
		return upstreamRefused("the upstream pipeline was deleted meanwhile")
	}
	return nil
}

// linksChanged tells the link index of a change; best effort: the index
// reloads itself shortly anyway.
func (r *pipelineRoutes) linksChanged(ctx context.Context) {
	if r.links == nil {
		return
	}
	if err := r.links.Changed(context.WithoutCancel(ctx)); err != nil {
		r.s.log.WarnContext(ctx, "reload p2p links", logAttrs(ctx), "err", err)
	}
}
