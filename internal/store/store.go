// Package store defines the storage contract of Tributary and the two
// backends that fulfil it: store/sqlite (the embedded default) and
// store/postgres (production and clusters). Both pass the same conformance
// suite in store/storetest.
//
// Every method that reads or writes team-owned data takes the team id and
// filters by it in SQL; an object of another team is reported as
// core.ErrNotFound, exactly like one that does not exist.
package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// Store is the whole storage contract. Implementations are safe for
// concurrent use.
type Store interface {
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Migrate applies Tributary's and River's pending migrations. It is
	// idempotent and safe to run from several processes at once.
	Migrate(ctx context.Context) error
	// Ready reports nil when the database answers and every migration is
	// applied.
	Ready(ctx context.Context) error
	// Close releases the connections.
	Close() error

	// NewJobClient builds a River client on this backend's database. The
	// client inserts jobs outside transactions and, when cfg has queues and
	// workers, works them once started.
	NewJobClient(cfg *river.Config) (JobClient, error)
	// RequeueJobsOf makes the running jobs whose last attempt was made by
	// a River client with an ID of the form node@…, other than except,
	// available again at once, and returns how many. The caller knows
	// that every such client is dead (jobs.Identity): a node restarted
	// after a crash takes its jobs back instead of waiting for River's
	// rescue. Jobs on their last attempt are left to the rescue, which
	// discards them, so that a job that kills its node cannot loop.
	RequeueJobsOf(ctx context.Context, node, except string) (int, error)

	Users
	Teams
	Tokens
	Sessions
	Pipelines
	Records
	RecordBatches
	WebhookIDs
	Secrets
	P2P
	Uploads
	Storage
	Polls
	Deliveries
	Idempotency
	Dashboards
	Alerts
	Usage
	Nodes
}

// JobClient is the part of a River client that does not depend on the
// backend's transaction type. *river.Client[pgx.Tx] and
// *river.Client[*sql.Tx] both satisfy it.
type JobClient interface {
	// Start starts fetching and working jobs; it returns at once.
	Start(ctx context.Context) error
	// Stop stops fetching and waits for running jobs to finish or ctx to end.
	Stop(ctx context.Context) error
	// StopAndCancel cancels running jobs' contexts and waits for them.
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email        string
	PasswordHash string
	IsAdmin      bool
}

// Users stores people and their credentials.
type Users interface {
	// CreateUser adds a user; an email already taken (case-insensitively)
	// gives core.ErrConflict.
	CreateUser(ctx context.Context, u NewUser) (core.User, error)
	// UserByID returns core.ErrNotFound for an unknown id.
	UserByID(ctx context.Context, id uuid.UUID) (core.User, error)
	// UserByEmail returns the user and its password hash.
	UserByEmail(ctx context.Context, email string) (core.User, string, error)
	// CountUsers tells whether first-run setup is still open.
	CountUsers(ctx context.Context) (int, error)
	// SetupFirstAccount creates the first user (an instance admin), a team
	// and the owner membership in one transaction, or returns
	// core.ErrAlreadySetUp if any user exists.
	SetupFirstAccount(ctx context.Context, u NewUser, team NewTeam) (core.User, core.Team, error)
}

// NewTeam is what CreateTeam needs.
type NewTeam struct {
	Name string
	Slug string
}

// Teams stores teams and memberships.
type Teams interface {
	// CreateTeam adds a team with owner as its first owner.
	CreateTeam(ctx context.Context, t NewTeam, owner uuid.UUID) (core.Team, error)
	// Team returns a team by id.
	Team(ctx context.Context, id uuid.UUID) (core.Team, error)
	// RenameTeam sets a team's name (its slug stays); a missing team is
	// core.ErrNotFound.
	RenameTeam(ctx context.Context, id uuid.UUID, name string) (core.Team, error)
	// TeamBySlug returns a team by its slug.
	TeamBySlug(ctx context.Context, slug string) (core.Team, error)
	// UserTeams lists a user's memberships with the teams filled in,
	// oldest first.
	UserTeams(ctx context.Context, userID uuid.UUID) ([]core.Membership, error)
	// Membership returns the user's membership of the team, or
	// core.ErrNotFound when the user is not a member.
	Membership(ctx context.Context, teamID, userID uuid.UUID) (core.Membership, error)
	// Members lists a team's memberships with the users filled in.
	Members(ctx context.Context, teamID uuid.UUID) ([]core.Membership, error)
	// AddMember adds a user to a team; an existing membership gives
	// core.ErrConflict.
	AddMember(ctx context.Context, teamID, userID uuid.UUID, role auth.Role) (core.Membership, error)
	// SetMemberRole changes a member's role; demoting the last owner gives
	// core.ErrLastOwner.
	SetMemberRole(ctx context.Context, teamID, userID uuid.UUID, role auth.Role) (core.Membership, error)
	// RemoveMember removes a member; removing the last owner gives
	// core.ErrLastOwner.
	RemoveMember(ctx context.Context, teamID, userID uuid.UUID) error
}

// NewToken is what CreateToken needs; Hash is auth.HashToken of the
// plaintext, which is never stored.
type NewToken struct {
	Name      string
	Role      auth.Role
	Hash      []byte
	Hint      string
	CreatedBy *uuid.UUID
	ExpiresAt *time.Time
}

// Tokens stores API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, teamID uuid.UUID, t NewToken) (core.Token, error)
	// Tokens lists a team's tokens, revoked ones included, newest first.
	Tokens(ctx context.Context, teamID uuid.UUID) ([]core.Token, error)
	// RevokeToken marks a token revoked; revoking twice is not an error.
	RevokeToken(ctx context.Context, teamID, tokenID uuid.UUID) error
	// TokenByHash finds a token by the hash of its secret, for
	// authentication. It does not check revocation or expiry.
	TokenByHash(ctx context.Context, hash []byte) (core.Token, error)
	// TouchToken records a use; it writes at most once per minute per token.
	TouchToken(ctx context.Context, tokenID uuid.UUID, at time.Time) error
}

// Sessions stores signed-in browsers.
type Sessions interface {
	CreateSession(ctx context.Context, s core.Session) error
	// SessionByHash returns core.ErrNotFound for unknown and expired
	// sessions alike.
	SessionByHash(ctx context.Context, hash []byte, now time.Time) (core.Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteExpiredSessions removes sessions that expired before now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
