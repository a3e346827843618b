package vault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// bundle is a vault on a fresh store with two teams.
type bundle struct {
	vault  *vault.Vault
	store  store.Store
	teamA  uuid.UUID
	teamB  uuid.UUID
	sealer *secrets.Box
}

func setup(t *testing.T, st store.Store) bundle {
	t.Helper()
	ctx := context.Background()
	team := func() uuid.UUID {
		u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		tm, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tm.ID
	}
	key, err := secrets.ParseKey(strings.Repeat("0f", 32))
	if err != nil {
		t.Fatal(err)
	}
	box := secrets.NewBox(key)
	return bundle{vault: vault.New(st, box), store: st, teamA: team(), teamB: team(), sealer: box}
}

// eachBackend runs fn as a parallel subtest per backend, with a vault on
// a fresh store.
func eachBackend(t *testing.T, fn func(t *testing.T, b bundle)) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) { fn(t, setup(t, st)) })
}

const canary = "canary-value-5b0c1f"

// noCanary fails when err's text carries the planted value.
func noCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("error carries the secret value: %v", err)
	}
}

func TestVault(t *testing.T) {
	eachBackend(t, func(t *testing.T, b bundle) {
		ctx := t.Context()
		v := b.vault
		s, err := v.Create(ctx, b.teamA, "api-key", []byte(canary))
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "api-key" || s.CreatedAt.IsZero() || !s.RotatedAt.Equal(s.CreatedAt) {
			t.Fatalf("created %+v", s)
		}
		got, err := v.Open(ctx, b.teamA, "api-key")
		if err != nil || string(got) != canary {
			t.Fatalf("Open = %q, %v", got, err)
		}
		// Sealed at rest, bound to the team and the secret.
		row, err := b.store.Secret(ctx, b.teamA, "api-key")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.Sealed, []byte(canary)) {
			t.Fatal("stored in the clear")
		}
		if _, err := b.sealer.Open(row.Sealed, b.teamB, row.ID); !errors.Is(err, secrets.ErrCannotOpen) {
			t.Fatalf("opens for another team: %v", err)
		}

		_, err = v.Create(ctx, b.teamA, "api-key", []byte(canary))
		if !errors.Is(err, core.ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		noCanary(t, err)

		// Other teams see nothing and may use the name.
		for _, err := range []error{
			func() error { _, err := v.Open(ctx, b.teamB, "api-key"); return err }(),
			func() error { _, err := v.Get(ctx, b.teamB, "api-key"); return err }(),
			func() error { _, err := v.Rotate(ctx, b.teamB, "api-key", []byte(canary)); return err }(),
			v.Delete(ctx, b.teamB, "api-key"),
		} {
			if !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("team B: %v, want not found", err)
			}
			noCanary(t, err)
		}
		if list, err := v.List(ctx, b.teamB); err != nil || len(list) != 0 {
			t.Fatalf("team B lists %v, %v", list, err)
		}
		if _, err := v.Create(ctx, b.teamB, "api-key", []byte("b's own")); err != nil {
			t.Fatal(err)
		}

		time.Sleep(2 * time.Millisecond)
		r, err := v.Rotate(ctx, b.teamA, "api-key", []byte("rotated"))
		if err != nil {
			t.Fatal(err)
		}
		if !r.CreatedAt.Equal(s.CreatedAt) || !r.RotatedAt.After(s.CreatedAt) {
			t.Fatalf("rotated %+v, created %+v", r, s)
		}
		if got, _ := v.Open(ctx, b.teamA, "api-key"); string(got) != "rotated" {
			t.Fatalf("after rotation Open = %q", got)
		}
		if got, _ := v.Open(ctx, b.teamB, "api-key"); string(got) != "b's own" {
			t.Fatalf("team B's value = %q", got)
		}

		if _, err := v.Create(ctx, b.teamA, "b", []byte("x")); err != nil {
			t.Fatal(err)
		}
		list, err := v.List(ctx, b.teamA)
		if err != nil || len(list) != 2 || list[0].Name != "api-key" || list[1].Name != "b" {
			t.Fatalf("list %+v, %v", list, err)
		}
		if err := v.Delete(ctx, b.teamA, "api-key"); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Open(ctx, b.teamA, "api-key"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := v.Delete(ctx, b.teamA, "api-key"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestVaultValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b bundle) {
		ctx := t.Context()
		for _, tc := range []struct {
			name  string
			value []byte
		}{
			{"", []byte("x")},
			{strings.Repeat("a", 65), []byte("x")},
			{"Upper", []byte("x")},
			{"spa ce", []byte("x")},
			{"dot.ted", []byte("x")},
			{"ünï", []byte("x")},
			{canary + "!", []byte("x")}, // a value pasted as the name is not quoted back
			{"ok", nil},
			{"ok", []byte{}},
			{"ok", bytes.Repeat([]byte(canary), vault.MaxValueBytes/len(canary)+1)},
		} {
			_, err := b.vault.Create(ctx, b.teamA, tc.name, tc.value)
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("Create(%q, %d bytes) = %v, want invalid", tc.name, len(tc.value), err)
			}
			noCanary(t, err)
		}
		if _, err := b.vault.Create(ctx, b.teamA, strings.Repeat("z", 64), bytes.Repeat([]byte("v"), vault.MaxValueBytes)); err != nil {
			t.Fatalf("the largest name and value: %v", err)
		}
		if _, err := b.vault.Create(ctx, b.teamA, "a_b-c-0", []byte("x")); err != nil {
			t.Fatal(err)
		}
		_, err := b.vault.Rotate(ctx, b.teamA, "a_b-c-0", bytes.Repeat([]byte(canary), vault.MaxValueBytes))
		if !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("rotate too large: %v", err)
		}
		noCanary(t, err)
		// Names that cannot exist are not found, without being quoted.
		_, err = b.vault.Open(ctx, b.teamA, canary+"!")
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("open invalid name: %v", err)
		}
		noCanary(t, err)
	})
}
