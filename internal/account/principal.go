package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// Principal is who makes a request: a signed-in user (with all their
// memberships) or an API token (of exactly one team).
type Principal struct {
	User        *core.User
	Memberships []core.Membership // of User
	Token       *core.Token
	SessionHash []byte // set for session principals
}

// Subject names the principal for logs: a user id or a token id, never a
// credential.
func (p *Principal) Subject() string {
	if p.Token != nil {
		return "token:" + p.Token.ID.String()
	}
	return "user:" + p.User.ID.String()
}

// Team resolves the team a request acts on and the principal's role in it.
// A token acts on its own team; a user on the team asked for (by id) or,
// when none is asked for, on their first team. A team the principal is not
// a member of is core.ErrNotFound, as if it did not exist.
func (p *Principal) Team(want uuid.UUID) (uuid.UUID, auth.Role, error) {
	if p.Token != nil {
		if want != uuid.Nil && want != p.Token.TeamID {
			return uuid.Nil, "", core.ErrNotFound
		}
		return p.Token.TeamID, p.Token.Role, nil
	}
	for _, m := range p.Memberships {
		if want == uuid.Nil || m.TeamID == want {
			return m.TeamID, m.Role, nil
		}
	}
	if want == uuid.Nil {
		return uuid.Nil, "", fmt.Errorf("%w: you are not a member of any team yet; create one first", core.ErrNotFound)
	}
	return uuid.Nil, "", core.ErrNotFound
}

// Require resolves the team like Team and checks the role is at least min.
func (p *Principal) Require(want uuid.UUID, min auth.Role) (uuid.UUID, auth.Role, error) {
	id, role, err := p.Team(want)
	if err != nil {
		return uuid.Nil, "", err
	}
	if !role.AtLeast(min) {
		return uuid.Nil, "", fmt.Errorf("%w: it needs the %s role or higher, you have %s", ErrForbidden, min, role)
	}
	return id, role, nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// AuthenticateToken resolves a bearer token. Unknown, revoked and expired
// tokens all give ErrUnauthenticated.
//
// A token created by a member belongs to that member: it works only while
// its creator is a member of the token's team, and acts with at most the
// creator's current role. Removing a member therefore disables their
// tokens, and demoting one limits them. Tokens created from the command
// line (no creator) belong to the team and work until revoked or expired.
func (s *Service) AuthenticateToken(ctx context.Context, plaintext string) (*Principal, error) {
	if !auth.LooksLikeToken(plaintext) {
		return nil, ErrUnauthenticated
	}
	t, err := s.store.TokenByHash(ctx, auth.HashToken(plaintext))
	if errors.Is(err, core.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	now := s.now()
	if !t.Active(now) {
		return nil, ErrUnauthenticated
	}
	if t.CreatedBy != nil {
		m, err := s.store.Membership(ctx, t.TeamID, *t.CreatedBy)
		if errors.Is(err, core.ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, fmt.Errorf("look up the token's creator: %w", err)
		}
		if !m.Role.AtLeast(t.Role) {
			t.Role = m.Role
		}
	}
	if err := s.store.TouchToken(ctx, t.ID, now); err != nil {
		return nil, err
	}
	return &Principal{Token: &t}, nil
}

// AuthenticateSession resolves a session cookie's value.
func (s *Service) AuthenticateSession(ctx context.Context, sessionID string) (*Principal, error) {
	hash := auth.HashSessionID(sessionID)
	sess, err := s.store.SessionByHash(ctx, hash, s.now())
	if errors.Is(err, core.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	user, err := s.store.UserByID(ctx, sess.UserID)
	if err != nil {
		return nil, fmt.Errorf("load session user: %w", err)
	}
	ms, err := s.store.UserTeams(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	return &Principal{User: &user, Memberships: ms, SessionHash: hash}, nil
}
