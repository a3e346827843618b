package account_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

// TestTeamRoles checks the role rules of the team use cases, which every
// transport relies on.
func TestTeamRoles(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := account.New(st, time.Hour)
	const pw = "correct horse battery"
	owner, team, err := svc.CreateUser(ctx, "owner@example.com", pw, "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	viewerUser, _, err := svc.CreateUser(ctx, "viewer@example.com", pw, "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	principal := func(email string) *account.Principal {
		_, sid, err := svc.Login(ctx, email, pw)
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.AuthenticateSession(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	op := principal("owner@example.com")

	if _, err := svc.AddTeamMember(ctx, op, team.ID, "nobody@example.com", auth.Viewer); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("adding an unknown email: %v, want not found", err)
	}
	if _, err := svc.AddTeamMember(ctx, op, team.ID, "viewer@example.com", "captain"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("adding with a bad role: %v, want invalid", err)
	}
	if _, err := svc.AddTeamMember(ctx, op, team.ID, "viewer@example.com", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	vp := principal("viewer@example.com")
	ms, err := svc.TeamMembers(ctx, vp, team.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("a viewer lists members: %d, %v", len(ms), err)
	}
	if _, err := svc.TeamTokens(ctx, vp, team.ID); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("a viewer lists tokens: %v, want forbidden", err)
	}
	if _, _, err := svc.CreateTeamToken(ctx, vp, team.ID, "ci", auth.Viewer, nil); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("a viewer creates a token: %v, want forbidden", err)
	}
	if err := svc.RemoveTeamMember(ctx, vp, team.ID, owner.ID); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("a viewer removes the owner: %v, want forbidden", err)
	}
	if _, err := svc.TeamMembers(ctx, nil, team.ID); !errors.Is(err, account.ErrUnauthenticated) {
		t.Fatalf("no principal: %v", err)
	}
	if _, err := svc.TeamMembers(ctx, op, uuid.New()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a team of others: %v, want not found", err)
	}

	// An admin manages viewers but not owners, and mints tokens up to admin.
	if _, err := svc.SetTeamMemberRole(ctx, op, team.ID, viewerUser.ID, auth.Admin); err != nil {
		t.Fatal(err)
	}
	ap := principal("viewer@example.com")
	if _, err := svc.SetTeamMemberRole(ctx, ap, team.ID, owner.ID, auth.Viewer); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("an admin demotes the owner: %v, want forbidden", err)
	}
	if _, _, err := svc.CreateTeamToken(ctx, ap, team.ID, "root", auth.Owner, nil); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("an admin mints an owner token: %v, want forbidden", err)
	}
	tok, secret, err := svc.CreateTeamToken(ctx, ap, team.ID, "ci", auth.Editor, nil)
	if err != nil || secret == "" {
		t.Fatalf("create token: %v", err)
	}
	if tok.CreatedBy == nil || *tok.CreatedBy != viewerUser.ID {
		t.Fatalf("the token belongs to %v, want its creator", tok.CreatedBy)
	}
	ownerTok, _, err := svc.CreateTeamToken(ctx, op, team.ID, "owner", auth.Owner, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeTeamToken(ctx, ap, team.ID, ownerTok.ID); !errors.Is(err, account.ErrForbidden) {
		t.Fatalf("an admin revokes an owner token: %v, want forbidden", err)
	}
	if err := svc.RevokeTeamToken(ctx, ap, team.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.RemoveTeamMember(ctx, op, team.ID, viewerUser.ID); err != nil {
		t.Fatal(err)
	}
}
