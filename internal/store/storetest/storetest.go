// Package storetest is the conformance suite every store backend passes
// unchanged. A backend's test calls Run with a function that opens a fresh,
// empty, migrated store (Open gives one of each backend).
//
// Tests elsewhere that must pass on every backend use Each, or Open for
// one backend.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Opener returns a fresh, empty, migrated store, closed by t.Cleanup.
type Opener func(t *testing.T) store.Store

// extra holds the tests registered by the suite's other files.
var extra = map[string]func(*testing.T, store.Store){}

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := map[string]func(*testing.T, store.Store){
		"MigrateIsIdempotent":  testMigrateIdempotent,
		"Users":                testUsers,
		"SetupFirstAccount":    testSetupFirstAccount,
		"SetupIsOnceUnderRace": testSetupRace,
		"TeamsAndMembers":      testTeamsAndMembers,
		"LastOwner":            testLastOwner,
		"Tokens":               testTokens,
		"TenantIsolation":      testTenantIsolation,
		"Sessions":             testSessions,
		"JobsRun":              testJobsRun,
	}
	for name, fn := range extra {
		tests[name] = fn
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// newUser creates a user with a unique email.
func newUser(t *testing.T, s store.Store) core.User {
	t.Helper()
	return must[core.User](t)(s.CreateUser(ctx(t), store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"}))
}

// newTeam creates a team with a unique slug owned by a new user.
func newTeam(t *testing.T, s store.Store) (core.Team, core.User) {
	t.Helper()
	owner := newUser(t, s)
	slug := "team-" + uuid.NewString()[:8]
	team := must[core.Team](t)(s.CreateTeam(ctx(t), store.NewTeam{Name: "Team " + slug, Slug: slug}, owner.ID))
	return team, owner
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	c := ctx(t)
	for range 2 {
		if err := s.Migrate(c); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
	}
	if err := s.Ready(c); err != nil {
		t.Fatalf("ready after migrate: %v", err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	u := must[core.User](t)(s.CreateUser(c, store.NewUser{Email: "Ada@Example.com", PasswordHash: "hash-1"}))
	if u.ID == uuid.Nil || u.Email != "Ada@Example.com" || u.IsAdmin || u.CreatedAt.IsZero() {
		t.Fatalf("created user = %+v", u)
	}
	if _, err := s.CreateUser(c, store.NewUser{Email: "ada@example.COM", PasswordHash: "x"}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate email (other case): err = %v, want ErrConflict", err)
	}
	got, hash, err := s.UserByEmail(c, "ADA@example.com")
	if err != nil || got.ID != u.ID || hash != "hash-1" {
		t.Fatalf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	if !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("created_at round trip: %v != %v", got.CreatedAt, u.CreatedAt)
	}
	if byID := must[core.User](t)(s.UserByID(c, u.ID)); byID != got {
		t.Fatalf("UserByID = %+v, want %+v", byID, got)
	}
	if _, err := s.UserByID(c, uuid.New()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown id: err = %v", err)
	}
	if _, _, err := s.UserByEmail(c, "nobody@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown email: err = %v", err)
	}
	if n := must[int](t)(s.CountUsers(c)); n != 1 {
		t.Fatalf("CountUsers = %d", n)
	}
}

func testSetupFirstAccount(t *testing.T, s store.Store) {
	c := ctx(t)
	u, team, err := s.SetupFirstAccount(c, store.NewUser{Email: "first@example.com", PasswordHash: "h"}, store.NewTeam{Name: "First", Slug: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if !u.IsAdmin {
		t.Fatal("first user must be an instance admin")
	}
	m := must[core.Membership](t)(s.Membership(c, team.ID, u.ID))
	if m.Role != auth.Owner || m.Team.Slug != "first" || m.User.Email != "first@example.com" {
		t.Fatalf("membership = %+v", m)
	}
	_, _, err = s.SetupFirstAccount(c, store.NewUser{Email: "second@example.com", PasswordHash: "h"}, store.NewTeam{Name: "Second", Slug: "second"})
	if !errors.Is(err, core.ErrAlreadySetUp) {
		t.Fatalf("second setup: err = %v, want ErrAlreadySetUp", err)
	}
	if _, err := s.TeamBySlug(c, "second"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("refused setup left a team behind: %v", err)
	}
}

func testSetupRace(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 8
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.NewString()[:8]
			_, _, err := s.SetupFirstAccount(c, store.NewUser{Email: id + "@example.com", PasswordHash: "h"}, store.NewTeam{Name: id, Slug: id})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, core.ErrAlreadySetUp):
				t.Errorf("setup %d: unexpected error %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent setups succeeded, want exactly 1", ok)
	}
	if users := must[int](t)(s.CountUsers(c)); users != 1 {
		t.Fatalf("%d users after racing setups, want 1", users)
	}
}

func testTeamsAndMembers(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	if _, err := s.CreateTeam(c, store.NewTeam{Name: "dup", Slug: team.Slug}, owner.ID); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate slug: err = %v", err)
	}
	got := must[core.Team](t)(s.TeamBySlug(c, team.Slug))
	if got != team {
		t.Fatalf("TeamBySlug = %+v, want %+v", got, team)
	}
	if got := must[core.Team](t)(s.Team(c, team.ID)); got != team {
		t.Fatalf("Team = %+v", got)
	}
	renamed := must[core.Team](t)(s.RenameTeam(c, team.ID, "Renamed"))
	if renamed.Name != "Renamed" || renamed.Slug != team.Slug || renamed.ID != team.ID || !renamed.CreatedAt.Equal(team.CreatedAt) {
		t.Fatalf("RenameTeam = %+v, from %+v", renamed, team)
	}
	if got := must[core.Team](t)(s.Team(c, team.ID)); got != renamed {
		t.Fatalf("Team after RenameTeam = %+v", got)
	}
	if _, err := s.RenameTeam(c, uuid.New(), "x"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("RenameTeam of a missing team: err = %v", err)
	}
	team = renamed
	second := must[core.Team](t)(s.CreateTeam(c, store.NewTeam{Name: "Second", Slug: "second-" + team.Slug}, owner.ID))
	ms := must[[]core.Membership](t)(s.UserTeams(c, owner.ID))
	if len(ms) != 2 || ms[0].TeamID != team.ID || ms[1].TeamID != second.ID || ms[0].Team.Name != team.Name {
		t.Fatalf("UserTeams = %+v", ms)
	}

	viewer := newUser(t, s)
	m := must[core.Membership](t)(s.AddMember(c, team.ID, viewer.ID, auth.Viewer))
	if m.Role != auth.Viewer || m.User.ID != viewer.ID {
		t.Fatalf("AddMember = %+v", m)
	}
	if _, err := s.AddMember(c, team.ID, viewer.ID, auth.Editor); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("add twice: err = %v", err)
	}
	m = must[core.Membership](t)(s.SetMemberRole(c, team.ID, viewer.ID, auth.Editor))
	if m.Role != auth.Editor {
		t.Fatalf("SetMemberRole = %+v", m)
	}
	members := must[[]core.Membership](t)(s.Members(c, team.ID))
	if len(members) != 2 {
		t.Fatalf("Members = %+v", members)
	}
	if err := s.RemoveMember(c, team.ID, viewer.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Membership(c, team.ID, viewer.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("removed member still there: %v", err)
	}
	if err := s.RemoveMember(c, team.ID, viewer.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("remove twice: err = %v", err)
	}
}

func testLastOwner(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	if _, err := s.SetMemberRole(c, team.ID, owner.ID, auth.Admin); !errors.Is(err, core.ErrLastOwner) {
		t.Fatalf("demote last owner: err = %v", err)
	}
	if err := s.RemoveMember(c, team.ID, owner.ID); !errors.Is(err, core.ErrLastOwner) {
		t.Fatalf("remove last owner: err = %v", err)
	}
	if m := must[core.Membership](t)(s.Membership(c, team.ID, owner.ID)); m.Role != auth.Owner {
		t.Fatalf("refused change was applied: %+v", m)
	}
	// With a second owner, either may go — but not both at once.
	other := newUser(t, s)
	must[core.Membership](t)(s.AddMember(c, team.ID, other.ID, auth.Owner))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []uuid.UUID{owner.ID, other.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.SetMemberRole(c, team.ID, u, auth.Viewer)
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if errors.Is(err, core.ErrLastOwner) {
			failed++
		} else if err != nil {
			t.Fatalf("demotion: %v", err)
		}
	}
	if failed != 1 {
		t.Fatalf("concurrent demotions of both owners: %d refused, want 1 (errs %v)", failed, errs)
	}
}

func testTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	plain, hash := auth.NewToken()
	exp := core.Now().Add(time.Hour)
	tok := must[core.Token](t)(s.CreateToken(c, team.ID, store.NewToken{
		Name: "ci", Role: auth.Editor, Hash: hash, Hint: auth.TokenHint(plain), CreatedBy: &owner.ID, ExpiresAt: &exp,
	}))
	if tok.TeamID != team.ID || tok.Role != auth.Editor || tok.CreatedBy == nil || *tok.CreatedBy != owner.ID ||
		tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(exp) || tok.RevokedAt != nil || tok.LastUsedAt != nil {
		t.Fatalf("created token = %+v", tok)
	}
	got := must[core.Token](t)(s.TokenByHash(c, auth.HashToken(plain)))
	if got.ID != tok.ID {
		t.Fatalf("TokenByHash = %+v", got)
	}
	if _, err := s.TokenByHash(c, auth.HashToken(plain+"x")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("wrong hash: err = %v", err)
	}
	now := core.Now()
	if err := s.TouchToken(c, tok.ID, now); err != nil {
		t.Fatal(err)
	}
	// A second use within the minute does not write.
	if err := s.TouchToken(c, tok.ID, now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got = must[core.Token](t)(s.TokenByHash(c, hash))
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
		t.Fatalf("last used = %v, want %v", got.LastUsedAt, now)
	}
	cliPlain, cliHash := auth.NewToken()
	must[core.Token](t)(s.CreateToken(c, team.ID, store.NewToken{Name: "cli", Role: auth.Viewer, Hash: cliHash, Hint: auth.TokenHint(cliPlain)}))
	list := must[[]core.Token](t)(s.Tokens(c, team.ID))
	if len(list) != 2 || list[0].Name != "cli" || list[1].Name != "ci" || list[0].CreatedBy != nil {
		t.Fatalf("Tokens = %+v", list)
	}
	if err := s.RevokeToken(c, team.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(c, team.ID, tok.ID); err != nil {
		t.Fatalf("revoke twice: %v", err)
	}
	got = must[core.Token](t)(s.TokenByHash(c, hash))
	if got.RevokedAt == nil || got.Active(core.Now()) {
		t.Fatalf("revoked token = %+v", got)
	}
	if _, err := s.CreateToken(c, team.ID, store.NewToken{Name: "dup", Role: auth.Viewer, Hash: hash, Hint: "x"}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate hash: err = %v", err)
	}
}

func testTenantIsolation(t *testing.T, s store.Store) {
	c := ctx(t)
	teamA, ownerA := newTeam(t, s)
	teamB, ownerB := newTeam(t, s)
	_, hashA := auth.NewToken()
	tokA := must[core.Token](t)(s.CreateToken(c, teamA.ID, store.NewToken{Name: "a", Role: auth.Admin, Hash: hashA, Hint: "a"}))

	if err := s.RevokeToken(c, teamB.ID, tokA.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("team B revoking team A's token: err = %v, want ErrNotFound", err)
	}
	if got := must[core.Token](t)(s.TokenByHash(c, hashA)); got.RevokedAt != nil {
		t.Fatal("team B revoked team A's token")
	}
	for _, tok := range must[[]core.Token](t)(s.Tokens(c, teamB.ID)) {
		if tok.TeamID != teamB.ID {
			t.Fatalf("team B's token list holds %+v", tok)
		}
	}
	if _, err := s.Membership(c, teamB.ID, ownerA.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("owner A in team B: %v", err)
	}
	if _, err := s.SetMemberRole(c, teamB.ID, ownerA.ID, auth.Owner); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("set role of a non-member: err = %v", err)
	}
	if err := s.RemoveMember(c, teamB.ID, ownerA.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("remove a non-member: err = %v", err)
	}
	for _, m := range must[[]core.Membership](t)(s.Members(c, teamB.ID)) {
		if m.UserID != ownerB.ID {
			t.Fatalf("team B's members hold %+v", m)
		}
	}
}

func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	u := newUser(t, s)
	now := core.Now()
	_, live := auth.NewSessionID()
	_, old := auth.NewSessionID()
	for _, sess := range []core.Session{
		{IDHash: live, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{IDHash: old, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
	} {
		if err := s.CreateSession(c, sess); err != nil {
			t.Fatal(err)
		}
	}
	got := must[core.Session](t)(s.SessionByHash(c, live, now))
	if got.UserID != u.ID || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("session = %+v", got)
	}
	if _, err := s.SessionByHash(c, old, now); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("expired session: err = %v", err)
	}
	if n := must[int](t)(s.DeleteExpiredSessions(c, now)); n != 1 {
		t.Fatalf("deleted %d expired sessions, want 1", n)
	}
	if err := s.DeleteSession(c, live); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByHash(c, live, now); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted session: err = %v", err)
	}
}

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "storetest_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan int
}

func (w *pingWorker) Work(_ context.Context, j *river.Job[pingArgs]) error {
	w.done <- j.Args.N
	return nil
}

func testJobsRun(t *testing.T, s store.Store) {
	c := ctx(t)
	w := &pingWorker{done: make(chan int, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := s.NewJobClient(&river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	if _, err := client.Insert(c, pingArgs{N: 42}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-w.done:
		if n != 42 {
			t.Fatalf("job ran with %d", n)
		}
	case <-c.Done():
		t.Fatal("job did not run")
	}
}
