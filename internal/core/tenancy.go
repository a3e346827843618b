package core

import (
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
)

// Team is the tenant: every pipeline, secret, token and record belongs to
// exactly one team.
type Team struct {
	ID        uuid.UUID
	Name      string
	Slug      string
	CreatedAt time.Time
}

// User is a person who signs in with an email and a password.
type User struct {
	ID        uuid.UUID
	Email     string
	IsAdmin   bool // instance administrator: may see the job dashboard
	CreatedAt time.Time
}

// Membership ties a user to a team with a role.
type Membership struct {
	TeamID    uuid.UUID
	UserID    uuid.UUID
	Role      auth.Role
	CreatedAt time.Time

	// Team and User are filled by queries that join them.
	Team Team
	User User
}

// Token is a team's API token. Only the hash of its secret value is kept;
// Hint shows its first characters so a person can tell tokens apart.
type Token struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	Name       string
	Role       auth.Role
	Hint       string
	CreatedBy  *uuid.UUID // nil when created from the command line
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Active reports whether the token can authenticate at time now.
func (t Token) Active(now time.Time) bool {
	if t.RevokedAt != nil {
		return false
	}
	return t.ExpiresAt == nil || now.Before(*t.ExpiresAt)
}

// Session is a signed-in browser. Its id is kept only as a hash.
type Session struct {
	IDHash    []byte
	UserID    uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewID returns a new time-ordered id (UUIDv7), so ids sort by creation
// time and index inserts stay append-only.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// Now returns the current time in UTC truncated to microseconds, the
// resolution both storage backends keep, so a value read back compares
// equal to the value written.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}
