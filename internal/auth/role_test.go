package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Role
	}{
		{"owner", Owner},
		{"admin", Admin},
		{"editor", Editor},
		{"viewer", Viewer},
		{"Admin", Admin},
		{" VIEWER\n", Viewer},
	}
	for _, tt := range tests {
		got, err := ParseRole(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRoleBad(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", " ", "root", "owners", "own er", "superadmin", "viewer\x00", strings.Repeat("x", 1000)} {
		got, err := ParseRole(in)
		if !errors.Is(err, ErrInvalidRole) || got != "" {
			t.Errorf("ParseRole(%q) = %q, %v; want ErrInvalidRole", in, got, err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("ParseRole of %d bytes: error is %d bytes long", len(in), len(err.Error()))
		}
		if !strings.Contains(err.Error(), "owner, admin, editor or viewer") {
			t.Errorf("error %q does not list the roles", err)
		}
	}
}

func TestRoleValid(t *testing.T) {
	t.Parallel()
	for _, r := range Roles() {
		if !r.Valid() {
			t.Errorf("%q not valid", r)
		}
		if got, err := ParseRole(r.String()); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range []Role{"", "Owner", "root"} {
		if r.Valid() {
			t.Errorf("%q valid", r)
		}
	}
}

func TestRoleAtLeast(t *testing.T) {
	t.Parallel()
	// order[i] is more privileged than order[j] for i < j.
	order := []Role{Owner, Admin, Editor, Viewer}
	for i, r := range order {
		for j, required := range order {
			if got, want := r.AtLeast(required), i <= j; got != want {
				t.Errorf("%s.AtLeast(%s) = %v, want %v", r, required, got, want)
			}
		}
	}
	for _, r := range order {
		if r.AtLeast("") || r.AtLeast("root") {
			t.Errorf("%s.AtLeast(invalid) = true", r)
		}
		if Role("").AtLeast(r) || Role("root").AtLeast(r) || Role("OWNER").AtLeast(r) {
			t.Errorf("invalid.AtLeast(%s) = true", r)
		}
	}
}
