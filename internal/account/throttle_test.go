package account

import (
	"testing"
	"time"
)

func TestThrottleBacksOff(t *testing.T) {
	t.Parallel()
	var th throttle
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range accountFree - 1 {
		th.fail("k", accountFree, now)
		if w := th.wait("k", now); w != 0 {
			t.Fatalf("after %d failures wait %v", i+1, w)
		}
	}
	want := time.Second
	for range 12 {
		th.fail("k", accountFree, now)
		if w := th.wait("k", now); w != want {
			t.Fatalf("wait %v, want %v", w, want)
		}
		now = now.Add(want)
		if w := th.wait("k", now); w != 0 {
			t.Fatalf("still waiting %v after the lockout", w)
		}
		want = min(2*want, maxLockout)
	}
	if w := th.wait("other", now); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	th.forget("k")
	th.fail("k", accountFree, now)
	if w := th.wait("k", now); w != 0 {
		t.Errorf("after forget and one failure wait %v", w)
	}
	// Failures are forgotten after failureMemory.
	for range accountFree + 3 {
		th.fail("old", accountFree, now)
	}
	if w := th.wait("old", now.Add(failureMemory+time.Second)); w != 0 {
		t.Errorf("old failures still count: %v", w)
	}
}

// TestThrottleClaim checks that a key has one attempt at a time, that a
// throttled key is refused before it is claimed, and that a key that
// failed recently makes its attempt suspect.
func TestThrottleClaim(t *testing.T) {
	t.Parallel()
	var th throttle
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, c := []key{accountKey("a@example.com"), clientKey("192.0.2.1")}, []key{accountKey("b@example.com"), clientKey("192.0.2.1")}
	if wait, busy, suspect := th.claim(a, now); wait != 0 || busy != nil || suspect {
		t.Fatalf("first claim: wait %v, busy %v, suspect %v", wait, busy != nil, suspect)
	}
	// Another account from the same address waits for the first attempt.
	_, busy, _ := th.claim(c, now)
	if busy == nil {
		t.Fatal("a second attempt from the address was not told to wait")
	}
	th.fail(a[0].name, accountFree, now)
	th.fail(a[1].name, clientFree, now)
	th.release(a)
	select {
	case <-busy:
	default:
		t.Fatal("release did not wake the waiting attempt")
	}
	// One failure from an address does not make its attempts suspect.
	wait, busy, suspect := th.claim(c, now)
	if wait != 0 || busy != nil || suspect {
		t.Fatalf("claim after release: wait %v, busy %v, suspect %v", wait, busy != nil, suspect)
	}
	th.release(c)
	for range clientSuspect - 1 {
		th.fail(c[1].name, clientFree, now)
	}
	if _, _, suspect := th.claim(c, now); !suspect {
		t.Errorf("an address that failed %d times is not suspect", clientSuspect)
	}
	th.release(c)
	if _, _, suspect := th.claim(a, now); !suspect {
		t.Error("an account that failed is not suspect")
	}
	th.release(a)
	for range accountFree {
		th.fail(a[0].name, accountFree, now)
	}
	if wait, busy, _ := th.claim(a, now); wait <= 0 || busy != nil {
		t.Fatalf("throttled account: wait %v, busy %v", wait, busy != nil)
	}
	// A throttled claim takes nothing.
	if wait, busy, _ := th.claim(c, now); wait != 0 || busy != nil {
		t.Errorf("after a refused claim: wait %v, busy %v", wait, busy != nil)
	}
}

// TestGateReservesASlot checks that suspect attempts cannot take the last
// hashing slot, which stays for attempts that are not suspect.
func TestGateReservesASlot(t *testing.T) {
	t.Parallel()
	g := newGate(3, 2)
	var dones []func()
	for range 2 {
		done, ok := g.acquire(t.Context(), true, nil)
		if !ok {
			t.Fatal("a suspect attempt got no shared slot")
		}
		dones = append(dones, done)
	}
	if _, ok := g.acquire(t.Context(), true, time.After(20*time.Millisecond)); ok {
		t.Fatal("a suspect attempt took the reserved slot")
	}
	done, ok := g.acquire(t.Context(), false, time.After(time.Second))
	if !ok {
		t.Fatal("an attempt that is not suspect got no slot")
	}
	if _, ok := g.acquire(t.Context(), false, time.After(20*time.Millisecond)); ok {
		t.Fatal("more slots than the gate has")
	}
	done()
	dones[0]()
	if _, ok := g.acquire(t.Context(), true, time.After(time.Second)); !ok {
		t.Error("a freed shared slot was not handed out")
	}
}
