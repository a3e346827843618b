package account

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

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

// AddMember adds an existing user, found by email, to the team.
func (s *Service) AddMember(ctx context.Context, teamID uuid.UUID, actor auth.Role, email string, role auth.Role) (core.Membership, error) {
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
	return s.store.AddMember(ctx, teamID, user.ID, role)
}

// SetMemberRole changes a member's role.
func (s *Service) SetMemberRole(ctx context.Context, teamID uuid.UUID, actor auth.Role, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	if !role.Valid() {
		return core.Membership{}, fmt.Errorf("%w: role must be owner, admin, editor or viewer", core.ErrInvalid)
	}
	current, err := s.store.Membership(ctx, teamID, userID)
	if err != nil {
		return core.Membership{}, err
	}
	if err := canGrant(actor, current.Role); err != nil {
		return core.Membership{}, err
	}
	if err := canGrant(actor, role); err != nil {
		return core.Membership{}, err
	}
	return s.store.SetMemberRole(ctx, teamID, userID, role)
}

// RemoveMember removes a member from the team.
func (s *Service) RemoveMember(ctx context.Context, teamID uuid.UUID, actor auth.Role, userID uuid.UUID) error {
	current, err := s.store.Membership(ctx, teamID, userID)
	if err != nil {
		return err
	}
	if err := canGrant(actor, current.Role); err != nil {
		return err
	}
	return s.store.RemoveMember(ctx, teamID, userID)
}

// CheckTokenRole refuses to mint a token more powerful than its creator.
func CheckTokenRole(actor, role auth.Role) error {
	if !actor.AtLeast(auth.Admin) {
		return fmt.Errorf("%w: managing API tokens needs the admin role or higher", ErrForbidden)
	}
	if !actor.AtLeast(role) {
		return fmt.Errorf("%w: you cannot create a token with a role above your own (%s)", ErrForbidden, actor)
	}
	return nil
}
