package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// The team, member and token actions of the transports (REST, GraphQL,
// the web pages). Each takes the principal of the request and the team it
// names (uuid.Nil for the principal's default team) and checks the role
// itself: another team's id is core.ErrNotFound, a role too low is
// ErrForbidden. Reading a team and its members needs viewer; managing
// members, renaming the team and everything about tokens needs admin.

// canGrant checks the actor's role may hand out (or take away) role:
// admins manage editors and viewers and other admins, only owners manage
// owners.
func canGrant(actor, role auth.Role) error {
	if !actor.AtLeast(auth.Admin) {
		return fmt.Errorf("%w: managing members needs the admin role or higher", ErrForbidden)
	}
	if role == auth.Owner && actor != auth.Owner {
		return fmt.Errorf("%w: only an owner can grant or remove the owner role", ErrForbidden)
	}
	return nil
}

// need refuses a missing principal.
func need(p *Principal) error {
	if p == nil {
		return ErrUnauthenticated
	}
	return nil
}

// TeamOf returns the team the principal acts on (team, or its default
// for uuid.Nil) with the principal's role in it (viewer).
func (s *Service) TeamOf(ctx context.Context, p *Principal, team uuid.UUID) (core.Team, auth.Role, error) {
	if err := need(p); err != nil {
		return core.Team{}, "", err
	}
	id, role, err := p.Require(team, auth.Viewer)
	if err != nil {
		return core.Team{}, "", err
	}
	t, err := s.store.Team(ctx, id)
	return t, role, err
}

// TeamRole is a team with the principal's role in it.
type TeamRole struct {
	Team core.Team
	Role auth.Role
}

// TeamsOf lists the teams the principal can act on with its role in
// each: the token's own team, or the user's memberships, oldest first.
func (s *Service) TeamsOf(ctx context.Context, p *Principal) ([]TeamRole, error) {
	if err := need(p); err != nil {
		return nil, err
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

// RenameTeam changes the team's name (admin). Its slug, which scripts
// use to name it, stays.
func (s *Service) RenameTeam(ctx context.Context, p *Principal, team uuid.UUID, name string) (core.Team, error) {
	if err := need(p); err != nil {
		return core.Team{}, err
	}
	id, _, err := p.Require(team, auth.Admin)
	if err != nil {
		return core.Team{}, err
	}
	nt, err := NewTeamSpec(name)
	if err != nil {
		return core.Team{}, err
	}
	return s.store.RenameTeam(ctx, id, nt.Name)
}

// ListMembers lists the team's members (viewer).
func (s *Service) ListMembers(ctx context.Context, p *Principal, team uuid.UUID) ([]core.Membership, error) {
	if err := need(p); err != nil {
		return nil, err
	}
	id, _, err := p.Require(team, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return s.store.Members(ctx, id)
}

// AddMember adds an existing user, found by email, to the team (admin;
// granting owner needs owner).
func (s *Service) AddMember(ctx context.Context, p *Principal, team uuid.UUID, email string, role auth.Role) (core.Membership, error) {
	if err := need(p); err != nil {
		return core.Membership{}, err
	}
	id, actor, err := p.Require(team, auth.Admin)
	if err != nil {
		return core.Membership{}, err
	}
	if !role.Valid() {
		return core.Membership{}, fmt.Errorf("%w: role must be owner, admin, editor or viewer", core.ErrInvalid)
	}
	if err := canGrant(actor, role); err != nil {
		return core.Membership{}, err
	}
	user, _, err := s.store.UserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, core.ErrNotFound) {
		return core.Membership{}, fmt.Errorf("%w: no user with email %q; they need an account first", core.ErrNotFound, email)
	}
	if err != nil {
		return core.Membership{}, err
	}
	return s.store.AddMember(ctx, id, user.ID, role)
}

// ChangeMemberRole changes a member's role (admin; a change to or from
// owner needs owner; the last owner stays).
func (s *Service) ChangeMemberRole(ctx context.Context, p *Principal, team, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	if err := need(p); err != nil {
		return core.Membership{}, err
	}
	id, actor, err := p.Require(team, auth.Admin)
	if err != nil {
		return core.Membership{}, err
	}
	if !role.Valid() {
		return core.Membership{}, fmt.Errorf("%w: role must be owner, admin, editor or viewer", core.ErrInvalid)
	}
	current, err := s.store.Membership(ctx, id, userID)
	if err != nil {
		return core.Membership{}, err
	}
	if err := canGrant(actor, current.Role); err != nil {
		return core.Membership{}, err
	}
	if err := canGrant(actor, role); err != nil {
		return core.Membership{}, err
	}
	return s.store.SetMemberRole(ctx, id, userID, role)
}

// RemoveMember removes a member from the team (admin; removing an owner
// needs owner; the last owner stays).
func (s *Service) RemoveMember(ctx context.Context, p *Principal, team, userID uuid.UUID) error {
	if err := need(p); err != nil {
		return err
	}
	id, actor, err := p.Require(team, auth.Admin)
	if err != nil {
		return err
	}
	current, err := s.store.Membership(ctx, id, userID)
	if err != nil {
		return err
	}
	if err := canGrant(actor, current.Role); err != nil {
		return err
	}
	return s.store.RemoveMember(ctx, id, userID)
}

// ListTokens lists the team's API tokens (admin).
func (s *Service) ListTokens(ctx context.Context, p *Principal, team uuid.UUID) ([]core.Token, error) {
	if err := need(p); err != nil {
		return nil, err
	}
	id, _, err := p.Require(team, auth.Admin)
	if err != nil {
		return nil, err
	}
	return s.store.Tokens(ctx, id)
}

// CreateToken creates an API token of the team for the principal (admin;
// never with a role above the principal's) and returns it with its
// plaintext, shown once. The token belongs to the principal's user (a
// token minted by a token to that token's creator), so it stops working
// when that member leaves the team.
func (s *Service) CreateToken(ctx context.Context, p *Principal, team uuid.UUID, name string, role auth.Role, expiresAt *time.Time) (core.Token, string, error) {
	if err := need(p); err != nil {
		return core.Token{}, "", err
	}
	id, actor, err := p.Require(team, auth.Admin)
	if err != nil {
		return core.Token{}, "", err
	}
	if !actor.AtLeast(role) {
		return core.Token{}, "", fmt.Errorf("%w: you cannot create a token with a role above your own (%s)", ErrForbidden, actor)
	}
	var createdBy *uuid.UUID
	if p.User != nil {
		createdBy = &p.User.ID
	} else if p.Token != nil {
		createdBy = p.Token.CreatedBy
	}
	return s.IssueToken(ctx, id, name, role, createdBy, expiresAt)
}

// RevokeToken revokes one of the team's API tokens (admin, and at least
// the token's role: an admin cannot revoke an owner's token).
func (s *Service) RevokeToken(ctx context.Context, p *Principal, team, tokenID uuid.UUID) error {
	if err := need(p); err != nil {
		return err
	}
	id, actor, err := p.Require(team, auth.Admin)
	if err != nil {
		return err
	}
	ts, err := s.store.Tokens(ctx, id)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	i := slices.IndexFunc(ts, func(t core.Token) bool { return t.ID == tokenID })
	if i < 0 {
		return fmt.Errorf("%w: no such token", core.ErrNotFound)
	}
	if !actor.AtLeast(ts[i].Role) {
		return fmt.Errorf("%w: revoking a token with the %s role needs that role (you have %s)", ErrForbidden, ts[i].Role, actor)
	}
	return s.store.RevokeToken(ctx, id, tokenID)
}
