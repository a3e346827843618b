package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["IdempotencyKeys"] = testIdempotencyKeys
	extra["IdempotencyKeysRace"] = testIdempotencyKeysRace
}

func claim(k store.IdempotencyKey, fp string, now time.Time) store.IdempotencyClaim {
	return store.IdempotencyClaim{Key: k, Fingerprint: []byte(fp), Now: now,
		ExpiredBefore: now.Add(-24 * time.Hour), StaleBefore: now.Add(-5 * time.Minute)}
}

func testIdempotencyKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	other, _ := newTeam(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	k := store.IdempotencyKey{TeamID: team.ID, Principal: "user:" + owner.ID.String(), Key: "k1"}

	// A new key is claimed; a second claim finds it in progress.
	if _, ok, err := s.ClaimIdempotencyKey(c, claim(k, "a", now)); err != nil || !ok {
		t.Fatalf("first claim: claimed %v, %v", ok, err)
	}
	e, ok, err := s.ClaimIdempotencyKey(c, claim(k, "b", now.Add(time.Second)))
	if err != nil || ok || e.Done || string(e.Fingerprint) != "a" {
		t.Fatalf("second claim: claimed %v, entry %+v, %v", ok, e, err)
	}
	// The same key of another principal or team is another key.
	for _, o := range []store.IdempotencyKey{
		{TeamID: k.TeamID, Principal: "token:x", Key: k.Key},
		{TeamID: other.ID, Principal: k.Principal, Key: k.Key},
	} {
		if _, ok, err := s.ClaimIdempotencyKey(c, claim(o, "a", now)); err != nil || !ok {
			t.Fatalf("claim of %+v: claimed %v, %v", o, ok, err)
		}
	}

	// Completed: the answer comes back, with the final fingerprint.
	resp := store.IdempotentResponse{Status: 201, Header: []byte(`{"Content-Type":["application/json"]}`), Body: []byte(`{"id":1}`)}
	if err := s.CompleteIdempotencyKey(c, k, []byte("a+body"), resp); err != nil {
		t.Fatal(err)
	}
	e, ok, err = s.ClaimIdempotencyKey(c, claim(k, "a", now.Add(time.Minute)))
	if err != nil || ok || !e.Done || string(e.Fingerprint) != "a+body" || e.Response.Status != 201 ||
		!bytes.Equal(e.Response.Body, resp.Body) || !bytes.Equal(e.Response.Header, resp.Header) {
		t.Fatalf("claim of a completed key: claimed %v, entry %+v, %v", ok, e, err)
	}
	// Release does not forget a completed key.
	if err := s.ReleaseIdempotencyKey(c, k); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ClaimIdempotencyKey(c, claim(k, "a", now.Add(time.Minute))); ok {
		t.Fatal("a completed key was released")
	}
	// An expired key is free again.
	if _, ok, err := s.ClaimIdempotencyKey(c, claim(k, "z", now.Add(25*time.Hour))); err != nil || !ok {
		t.Fatalf("claim of an expired key: claimed %v, %v", ok, err)
	}

	// A released key is free; a stale one (its request died) too.
	k2 := store.IdempotencyKey{TeamID: team.ID, Principal: k.Principal, Key: "k2"}
	if _, ok, err := s.ClaimIdempotencyKey(c, claim(k2, "a", now)); err != nil || !ok {
		t.Fatalf("claim of k2: claimed %v, %v", ok, err)
	}
	if err := s.ReleaseIdempotencyKey(c, k2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimIdempotencyKey(c, claim(k2, "b", now)); err != nil || !ok {
		t.Fatalf("claim of a released key: claimed %v, %v", ok, err)
	}
	if _, ok, _ := s.ClaimIdempotencyKey(c, claim(k2, "b", now.Add(time.Minute))); ok {
		t.Fatal("a key in progress for a minute was taken over")
	}
	if _, ok, err := s.ClaimIdempotencyKey(c, claim(k2, "b", now.Add(6*time.Minute))); err != nil || !ok {
		t.Fatalf("claim of a stale key: claimed %v, %v", ok, err)
	}

	// Cleanup removes what was created before the cut: the keys of the
	// other principal and team (k and k2 were claimed again later).
	n, err := s.DeleteExpiredIdempotencyKeys(c, now.Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("deleted %d expired keys, want 2 (%v)", n, err)
	}
}

// testIdempotencyKeysRace: of concurrent claims of one key, one wins.
func testIdempotencyKeysRace(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	k := store.IdempotencyKey{TeamID: team.ID, Principal: "user:" + owner.ID.String(), Key: "race"}
	now := time.Now().UTC()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 8 {
		wg.Go(func() {
			_, ok, err := s.ClaimIdempotencyKey(c, claim(k, "a", now))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent claims won, want 1", wins)
	}
}
