package account

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrThrottled means too many sign-in attempts failed recently for the
// account or from the client address; the attempt was refused before the
// password was checked. Use errors.As with *ThrottledError for the wait.
var ErrThrottled = errors.New("too many failed sign-in attempts")

// ThrottledError is an ErrThrottled with the time to wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; try again in %v", ErrThrottled, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Sign-in throttling. Once an account has failed accountFree times, or a
// client address clientFree times (a shared address signs in to many
// accounts), each failure makes it wait before the next attempt, from a
// second and doubling up to maxLockout. Failures are forgotten after failureMemory without one, and
// an account's on a successful sign-in. Throttled attempts are refused
// before hashing, so a flood of wrong passwords costs no hashing and does
// not slow down the sign-ins of others.
const (
	accountFree   = 5
	clientFree    = 50
	maxLockout    = 5 * time.Minute
	failureMemory = time.Hour
	// maxThrottled bounds the entries kept; beyond it the oldest are
	// dropped, which only ever lets an attempt through early.
	maxThrottled = 100_000
)

// throttle counts recent sign-in failures per key ("account:…" or
// "client:…") in memory; each server process keeps its own.
type throttle struct {
	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count int
	last  time.Time
	until time.Time // refused before this time
}

// wait returns how long key must still wait, or 0.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.entries[key]
	if f == nil || now.Sub(f.last) > failureMemory {
		return 0
	}
	return max(f.until.Sub(now), 0)
}

// fail records a failure of key, which may fail free times without waiting.
func (t *throttle) fail(key string, free int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = make(map[string]*failures)
	}
	f := t.entries[key]
	if f == nil || now.Sub(f.last) > failureMemory {
		if len(t.entries) >= maxThrottled {
			t.prune(now)
		}
		f = &failures{}
		t.entries[key] = f
	}
	f.count++
	f.last = now
	if over := f.count - free + 1; over > 0 {
		lock := maxLockout
		if over < 20 {
			lock = min(time.Second<<(over-1), maxLockout)
		}
		f.until = now.Add(lock)
	}
}

// forget clears the failures of key.
func (t *throttle) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// prune drops forgotten entries, and if that is not enough, all of them.
func (t *throttle) prune(now time.Time) {
	for k, f := range t.entries {
		if now.Sub(f.last) > failureMemory || now.After(f.until) && f.count < accountFree {
			delete(t.entries, k)
		}
	}
	if len(t.entries) >= maxThrottled {
		clear(t.entries)
	}
}

func accountKey(email string) string { return "account:" + strings.ToLower(strings.TrimSpace(email)) }
func clientKey(addr string) string   { return "client:" + addr }
