package poll

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source"
)

// PreviewLimits bound a preview's fetch.
type PreviewLimits struct {
	// MaxPages bounds the pages; 0 means 1.
	MaxPages int
	// MaxRecords bounds the records; 0 means 1000.
	MaxRecords int
}

// Preview runs the source of a compiled polling spec once for the team,
// from its initial state (or state when not nil), and returns what it
// fetched without storing anything or waiting out rate limits.
func (s *Service) Preview(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, state source.Values, lim PreviewLimits) (*source.Result, error) {
	if c.Source == nil {
		return nil, errors.New("the pipeline has no polled source")
	}
	env := s.env
	env.Secrets = func(ctx context.Context, name string) ([]byte, error) { return s.secrets.Open(ctx, teamID, name) }
	env.MaxPages = max(lim.MaxPages, 1)
	env.MaxRecords = cmpOr(lim.MaxRecords, 1000)
	env.Retries = -1
	ctx, cancel := context.WithTimeout(ctx, min(s.cfg.RunTimeout, time.Minute))
	defer cancel()
	return c.Source.Poll(ctx, &env, state)
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
