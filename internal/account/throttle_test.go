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
