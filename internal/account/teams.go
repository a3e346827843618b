package account

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// More team use cases for a principal, beside those of team.go and by
// the same rules:
//
//	TeamsOf       the principal's own teams
//	RenameTeam    admin

// TeamRole is a team with a principal's role in it.
type TeamRole struct {
	Team core.Team
	Role auth.Role
}

// TeamsOf lists the teams p can act on with its role in each: a token's
// own team, or a user's memberships, oldest first.
func (s *Service) TeamsOf(ctx context.Context, p *Principal) ([]TeamRole, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if p.Token != nil {
		t, err := s.store.Team(ctx, p.Token.TeamID)
		if err != nil {
			return nil, fmt.Errorf("team of token: %w", err)
		}
		return []TeamRole{{Team: t, Role: p.Token.Role}}, nil
	}
	out := make([]TeamRole, 0, len(p.Memberships))
	for _, m := range p.Memberships {
		out = append(out, TeamRole{Team: m.Team, Role: m.Role})
	}
	return out, nil
}

// RenameTeam changes the name of the team p acts on (admin). Its slug,
// which scripts use to name the team, stays.
func (s *Service) RenameTeam(ctx context.Context, p *Principal, team uuid.UUID, name string) (core.Team, error) {
	id, _, err := access(p, team, auth.Admin)
	if err != nil {
		return core.Team{}, err
	}
	nt, err := NewTeamSpec(name)
	if err != nil {
		return core.Team{}, err
	}
	return s.store.RenameTeam(ctx, id, nt.Name)
}
