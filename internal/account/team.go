package account

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// Team management for a principal: the use cases the HTTP API, GraphQL
// and the web pages call. Each resolves the team the principal acts on
// (team: an id, or uuid.Nil for the principal's own or first team) and
// checks the principal's role there, so no transport checks roles itself:
//
//	TeamOf, TeamMembers                   viewer
//	AddTeamMember, SetTeamMemberRole,
//	RemoveTeamMember                      admin; the owner role only by owners
//	TeamTokens                            admin
//	CreateTeamToken                       admin; a role at most the creator's
//	RevokeTeamToken                       admin; at least the token's role
//
// A principal that is not a member of team gets core.ErrNotFound, as if
// the team did not exist; a nil principal ErrUnauthenticated.

// access resolves the team p acts on and checks its role is at least min.
func access(p *Principal, team uuid.UUID, min auth.Role) (uuid.UUID, auth.Role, error) {
	if p == nil {
		return uuid.Nil, "", ErrUnauthenticated
	}
	return p.Require(team, min)
}

// TeamOf returns the team p acts on with p's role in it (any member).
func (s *Service) TeamOf(ctx context.Context, p *Principal, team uuid.UUID) (core.Team, auth.Role, error) {
	id, role, err := access(p, team, auth.Viewer)
	if err != nil {
		return core.Team{}, "", err
	}
	t, err := s.store.Team(ctx, id)
	return t, role, err
}

// TeamMembers lists the members of the team p acts on (any member).
func (s *Service) TeamMembers(ctx context.Context, p *Principal, team uuid.UUID) ([]core.Membership, error) {
	id, _, err := access(p, team, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return s.store.Members(ctx, id)
}

// AddTeamMember adds an existing user, found by email, to the team p acts
// on with role (admin; granting owner needs owner).
func (s *Service) AddTeamMember(ctx context.Context, p *Principal, team uuid.UUID, email string, role auth.Role) (core.Membership, error) {
	id, actor, err := access(p, team, auth.Admin)
	if err != nil {
		return core.Membership{}, err
	}
	return s.AddMember(ctx, id, actor, email, role)
}

// SetTeamMemberRole changes a member's role in the team p acts on (admin;
// taking or granting owner needs owner).
func (s *Service) SetTeamMemberRole(ctx context.Context, p *Principal, team, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	id, actor, err := access(p, team, auth.Admin)
	if err != nil {
		return core.Membership{}, err
	}
	return s.SetMemberRole(ctx, id, actor, userID, role)
}

// RemoveTeamMember removes a member from the team p acts on (admin;
// removing an owner needs owner).
func (s *Service) RemoveTeamMember(ctx context.Context, p *Principal, team, userID uuid.UUID) error {
	id, actor, err := access(p, team, auth.Admin)
	if err != nil {
		return err
	}
	return s.RemoveMember(ctx, id, actor, userID)
}

// TeamTokens lists the API tokens of the team p acts on (admin).
func (s *Service) TeamTokens(ctx context.Context, p *Principal, team uuid.UUID) ([]core.Token, error) {
	id, _, err := access(p, team, auth.Admin)
	if err != nil {
		return nil, err
	}
	return s.store.Tokens(ctx, id)
}

// CreateTeamToken creates an API token of the team p acts on (admin) with
// a role no higher than p's, and returns it with its plaintext, shown
// once. The token belongs to p's user (for a token principal, to the
// member who created that token): it stops working when they leave the
// team and acts with at most their role.
func (s *Service) CreateTeamToken(ctx context.Context, p *Principal, team uuid.UUID, name string, role auth.Role, expiresAt *time.Time) (core.Token, string, error) {
	id, actor, err := access(p, team, auth.Admin)
	if err != nil {
		return core.Token{}, "", err
	}
	if err := CheckTokenRole(actor, role); err != nil {
		return core.Token{}, "", err
	}
	var createdBy *uuid.UUID
	if p.User != nil {
		createdBy = &p.User.ID
	} else if p.Token != nil {
		createdBy = p.Token.CreatedBy
	}
	return s.IssueToken(ctx, id, name, role, createdBy, expiresAt)
}

// RevokeTeamToken revokes an API token of the team p acts on (admin, with
// at least the token's role).
func (s *Service) RevokeTeamToken(ctx context.Context, p *Principal, team, tokenID uuid.UUID) error {
	id, actor, err := access(p, team, auth.Admin)
	if err != nil {
		return err
	}
	return s.RevokeToken(ctx, id, actor, tokenID)
}
