// Package account holds the rules of signing up, signing in and managing
// teams, members and API tokens, on top of the store and the auth
// primitives. The HTTP API, the web pages and the command line all call it,
// so a rule (a password policy, who may grant the owner role) lives in one
// place. It knows nothing of HTTP.
package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Store is the part of the store this package uses.
type Store interface {
	store.Users
	store.Teams
	store.Tokens
	store.Sessions
}

// Errors a caller maps to responses.
var (
	// ErrUnauthenticated means the credentials are wrong, unknown, revoked
	// or expired. It never says which.
	ErrUnauthenticated = errors.New("not signed in or credentials not valid")
	// ErrForbidden means the principal is known but its role does not allow
	// the action.
	ErrForbidden = errors.New("your role does not allow this")
)

// Service implements the account rules.
type Service struct {
	store      Store
	sessionTTL time.Duration
	now        func() time.Time
	throttle   throttle
	metrics    *metrics
}

// New returns a Service. sessionTTL is how long a sign-in lasts.
func New(s Store, sessionTTL time.Duration) *Service {
	return &Service{store: s, sessionTTL: sessionTTL, now: core.Now, metrics: newMetrics()}
}

// NeedsSetup reports whether no user exists yet, so the first-run page is
// open.
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("count users: %w", err)
	}
	return n == 0, nil
}

// Setup creates the first account (an instance admin) and its team and
// signs it in. It fails with core.ErrAlreadySetUp once any user exists.
func (s *Service) Setup(ctx context.Context, email, password, teamName string) (core.User, core.Team, string, error) {
	nu, err := s.newUser(email, password)
	if err != nil {
		return core.User{}, core.Team{}, "", err
	}
	nt, err := NewTeamSpec(teamName)
	if err != nil {
		return core.User{}, core.Team{}, "", err
	}
	user, team, err := s.store.SetupFirstAccount(ctx, nu, nt)
	if err != nil {
		return core.User{}, core.Team{}, "", err
	}
	sid, err := s.startSession(ctx, user.ID)
	return user, team, sid, err
}

// Login checks an email and password and starts a session, returning the
// session id to put in a cookie. It is LoginFrom without a client address.
func (s *Service) Login(ctx context.Context, email, password string) (core.User, string, error) {
	return s.LoginFrom(ctx, email, password, "")
}

// LoginFrom is Login for a client at addr (an IP address; "" when
// unknown). After repeated failures for the account or from the address,
// attempts are refused with a *ThrottledError (ErrThrottled) before the
// password is checked, for a time that doubles with each failure up to
// five minutes; a success clears the account's failures. One attempt per
// account and per address is checked at a time; another waits briefly
// for it, or is refused the same way.
func (s *Service) LoginFrom(ctx context.Context, email, password, addr string) (core.User, string, error) {
	keys := []key{accountKey(email)}
	if addr != "" {
		keys = append(keys, clientKey(addr))
	}
	timeout := time.NewTimer(queueWait)
	defer timeout.Stop()
	refuse := func(outcome string, wait time.Duration) (core.User, string, error) {
		s.metrics.attempts.WithLabelValues(outcome).Inc()
		return core.User{}, "", &ThrottledError{RetryAfter: wait}
	}
	var suspect bool
	for {
		wait, inProgress, sus := s.throttle.claim(keys, s.now())
		if wait > 0 {
			return refuse(throttled, wait)
		}
		if inProgress == nil {
			suspect = sus
			break
		}
		select {
		case <-inProgress:
		case <-timeout.C:
			return refuse(busy, busyRetryAfter)
		case <-ctx.Done():
			return core.User{}, "", ctx.Err()
		}
	}
	// The failure is recorded before the keys are released, so that an
	// attempt waiting for them sees it.
	defer s.throttle.release(keys)
	now := s.now()
	fail := func() (core.User, string, error) {
		for _, k := range keys {
			s.throttle.fail(k.name, k.free, now)
		}
		s.metrics.attempts.WithLabelValues(wrongPassword).Inc()
		return core.User{}, "", ErrUnauthenticated
	}
	user, hash, err := s.store.UserByEmail(ctx, strings.TrimSpace(email))
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return core.User{}, "", fmt.Errorf("look up user: %w", err)
	}
	// Suspect attempts (recent failures of the account or the address)
	// may take only some of the hashing slots, and wait for one at most
	// until the timeout.
	var slotTimeout <-chan time.Time
	if suspect {
		slotTimeout = timeout.C
	}
	done, ok := hashing.acquire(ctx, suspect, slotTimeout)
	if !ok {
		if ctx.Err() != nil {
			return core.User{}, "", ctx.Err()
		}
		return refuse(busy, busyRetryAfter)
	}
	s.metrics.hashes.WithLabelValues(hashSignIn).Inc()
	if errors.Is(err, core.ErrNotFound) {
		auth.VerifyDummy(password) // same cost as a real check: no user enumeration by timing
		done()
		return fail()
	}
	ok, err = auth.VerifyPassword(password, hash)
	done()
	if err != nil || !ok {
		return fail()
	}
	s.throttle.forget(keys[0].name)
	s.metrics.attempts.WithLabelValues(signedIn).Inc()
	sid, err := s.startSession(ctx, user.ID)
	return user, sid, err
}

func (s *Service) startSession(ctx context.Context, userID uuid.UUID) (string, error) {
	plain, hash := auth.NewSessionID()
	now := s.now()
	if err := s.store.CreateSession(ctx, core.Session{IDHash: hash, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.sessionTTL)}); err != nil {
		return "", err
	}
	return plain, nil
}

// Logout ends a session; an unknown session is not an error.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	return s.store.DeleteSession(ctx, auth.HashSessionID(sessionID))
}

// CreateUser adds a user, and with teamSlug a membership in that team,
// creating the team (with the user as owner) when it does not exist. It is
// the command line's `user create`. The first user ever is an instance
// admin.
func (s *Service) CreateUser(ctx context.Context, email, password, teamName string, role auth.Role) (core.User, core.Team, error) {
	nu, err := s.newUser(email, password)
	if err != nil {
		return core.User{}, core.Team{}, err
	}
	nt, err := NewTeamSpec(teamName)
	if err != nil {
		return core.User{}, core.Team{}, err
	}
	if n, err := s.store.CountUsers(ctx); err == nil && n == 0 {
		user, team, err := s.store.SetupFirstAccount(ctx, nu, nt)
		if !errors.Is(err, core.ErrAlreadySetUp) {
			return user, team, err
		}
	}
	user, err := s.store.CreateUser(ctx, nu)
	if err != nil {
		return core.User{}, core.Team{}, fmt.Errorf("create user %s: %w", nu.Email, err)
	}
	team, err := s.store.TeamBySlug(ctx, nt.Slug)
	if errors.Is(err, core.ErrNotFound) {
		team, err = s.store.CreateTeam(ctx, nt, user.ID)
		return user, team, err
	}
	if err != nil {
		return core.User{}, core.Team{}, err
	}
	if role == "" {
		role = auth.Viewer
	}
	if _, err := s.store.AddMember(ctx, team.ID, user.ID, role); err != nil {
		return core.User{}, core.Team{}, err
	}
	return user, team, nil
}

// CreateTeam creates a team owned by the principal's user.
func (s *Service) CreateTeam(ctx context.Context, p *Principal, name string) (core.Team, error) {
	if p.User == nil {
		return core.Team{}, fmt.Errorf("%w: API tokens belong to one team and cannot create teams", ErrForbidden)
	}
	nt, err := NewTeamSpec(name)
	if err != nil {
		return core.Team{}, err
	}
	return s.store.CreateTeam(ctx, nt, p.User.ID)
}

// IssueToken creates an API token of a team and returns it with its
// plaintext, which is shown once and never stored.
func (s *Service) IssueToken(ctx context.Context, teamID uuid.UUID, name string, role auth.Role, createdBy *uuid.UUID, expiresAt *time.Time) (core.Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return core.Token{}, "", fmt.Errorf("%w: token name must be 1 to 100 characters", core.ErrInvalid)
	}
	if !role.Valid() {
		return core.Token{}, "", fmt.Errorf("%w: role must be owner, admin, editor or viewer", core.ErrInvalid)
	}
	if expiresAt != nil && !expiresAt.After(s.now()) {
		return core.Token{}, "", fmt.Errorf("%w: expiry must be in the future", core.ErrInvalid)
	}
	plain, hash := auth.NewToken()
	t, err := s.store.CreateToken(ctx, teamID, store.NewToken{
		Name: name, Role: role, Hash: hash, Hint: auth.TokenHint(plain), CreatedBy: createdBy, ExpiresAt: expiresAt,
	})
	if err != nil {
		return core.Token{}, "", err
	}
	return t, plain, nil
}

// ResolveTeam finds a team by slug or id, for the command line.
func (s *Service) ResolveTeam(ctx context.Context, ref string) (core.Team, error) {
	if id, err := uuid.Parse(ref); err == nil {
		return s.store.Team(ctx, id)
	}
	return s.store.TeamBySlug(ctx, Slugify(ref))
}

func (s *Service) newUser(email, password string) (store.NewUser, error) {
	email = strings.TrimSpace(email)
	if err := ValidateEmail(email); err != nil {
		return store.NewUser{}, err
	}
	if err := auth.ValidatePassword(password); err != nil {
		return store.NewUser{}, fmt.Errorf("%w: %w", core.ErrInvalid, err)
	}
	done, _ := hashing.acquire(context.Background(), false, nil)
	s.metrics.hashes.WithLabelValues(hashNewPassword).Inc()
	hash, err := auth.HashPassword(password)
	done()
	if err != nil {
		return store.NewUser{}, fmt.Errorf("hash password: %w", err)
	}
	return store.NewUser{Email: email, PasswordHash: hash}, nil
}

// ValidateEmail accepts a plain address like ada@example.com.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return fmt.Errorf("%w: %q is not an email address like ada@example.com", core.ErrInvalid, email)
	}
	return nil
}

// NewTeamSpec validates a team name and derives its slug.
func NewTeamSpec(name string) (store.NewTeam, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return store.NewTeam{}, fmt.Errorf("%w: team name must be 1 to 100 characters", core.ErrInvalid)
	}
	slug := Slugify(name)
	if slug == "" {
		return store.NewTeam{}, fmt.Errorf("%w: team name %q needs at least one letter or digit", core.ErrInvalid, name)
	}
	return store.NewTeam{Name: name, Slug: slug}, nil
}

// Slugify turns a name into a URL-friendly identifier: lower-case ASCII
// letters and digits separated by single dashes, at most 48 characters.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= 48 {
				break
			}
			continue
		}
		dash = true
	}
	return b.String()
}

// EndSession ends the session with the given hash.
func (s *Service) EndSession(ctx context.Context, hash []byte) error {
	return s.store.DeleteSession(ctx, hash)
}

// Team returns a team by id. Callers resolve the id through a Principal
// first, which is what scopes it.
func (s *Service) Team(ctx context.Context, id uuid.UUID) (core.Team, error) {
	return s.store.Team(ctx, id)
}

// Members lists a team's members.
func (s *Service) Members(ctx context.Context, teamID uuid.UUID) ([]core.Membership, error) {
	return s.store.Members(ctx, teamID)
}

// Tokens lists a team's API tokens.
func (s *Service) Tokens(ctx context.Context, teamID uuid.UUID) ([]core.Token, error) {
	return s.store.Tokens(ctx, teamID)
}

// RevokeToken revokes a team's API token for an actor of the given role,
// who must have at least the token's role: an admin cannot revoke an
// owner's token.
func (s *Service) RevokeToken(ctx context.Context, teamID uuid.UUID, actor auth.Role, tokenID uuid.UUID) error {
	ts, err := s.store.Tokens(ctx, teamID)
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
	return s.store.RevokeToken(ctx, teamID, tokenID)
}
