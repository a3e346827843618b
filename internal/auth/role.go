package auth

import (
	"fmt"
	"strings"
)

// Role is what a member or an API token may do in a team. The zero value is
// not a valid role and is allowed nothing.
type Role string

// The roles, from most to least privileged. Which role an action requires is
// decided where the action is exposed (the API layer); these comments give the
// intent.
const (
	// Owner is the most privileged role: the people responsible for the team.
	Owner Role = "owner"
	// Admin manages the team's members, tokens and secrets.
	Admin Role = "admin"
	// Editor changes pipelines, sinks and dashboards.
	Editor Role = "editor"
	// Viewer only reads.
	Viewer Role = "viewer"
)

// rank orders the roles; 0 means not a role.
func (r Role) rank() int {
	switch r {
	case Owner:
		return 4
	case Admin:
		return 3
	case Editor:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Roles returns all roles, from most to least privileged.
func Roles() []Role { return []Role{Owner, Admin, Editor, Viewer} }

// ParseRole returns the role named s, ignoring case and surrounding white
// space. Any other text gives an error wrapping [ErrInvalidRole].
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		if len(s) > 32 {
			s = s[:32] + "…"
		}
		return "", fmt.Errorf("%w %q: want owner, admin, editor or viewer", ErrInvalidRole, s)
	}
	return r, nil
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r is the required role or a more privileged one.
// It is false if either role is not valid, so an unset role is never allowed
// anything.
func (r Role) AtLeast(required Role) bool {
	return r.Valid() && required.Valid() && r.rank() >= required.rank()
}

// String returns the role's name.
func (r Role) String() string { return string(r) }
