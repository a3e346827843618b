package account

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrThrottled means too many sign-in attempts for the account or from the
// client address: recent failures, or another attempt still being checked.
// The attempt was refused before the password was checked. Use errors.As
// with *ThrottledError for the wait.
var ErrThrottled = errors.New("too many sign-in attempts")

// ThrottledError is an ErrThrottled with the time to wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; try again in %v", ErrThrottled, max(e.RetryAfter.Round(time.Second), time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Sign-in throttling. Once an account has failed accountFree times, or a
// client address clientFree times (a shared address signs in to many
// accounts), each failure makes it wait before the next attempt, from a
// second and doubling up to maxLockout. Failures are forgotten after
// failureMemory without one, and an account's on a successful sign-in.
//
// Besides, an account and a client address have at most one attempt
// checked at a time: a second one waits up to queueWait for the first to
// end, then sees its outcome (a failure may throttle it) or is refused.
// The check of the throttle and the claim of the keys are one step, so a
// burst of concurrent wrong passwords cannot all pass the check before the
// first failure is counted. Throttled attempts are refused before the
// user is looked up or a password hashed, so a flood of wrong passwords
// costs little hashing and holds at most one hashing slot per account and
// per address.
const (
	accountFree = 5
	clientFree  = 50
	// clientSuspect is the failures from an address from which its
	// attempts are suspect (one failure makes an account's suspect): a
	// typo behind a shared address does not slow down its neighbours.
	clientSuspect = accountFree
	maxLockout    = 5 * time.Minute
	failureMemory = time.Hour
	// queueWait bounds the wait of an attempt behind another of the same
	// account or address, and of a suspect attempt for a hashing slot.
	queueWait = 2 * time.Second
	// busyRetryAfter is the Retry-After of an attempt refused because
	// others of its account or address were still being checked.
	busyRetryAfter = time.Second
	// maxThrottled bounds the entries kept; beyond it the oldest are
	// dropped, which only ever lets an attempt through early.
	maxThrottled = 100_000
)

// throttle counts recent sign-in failures per key ("account:…" or
// "client:…") in memory, and the keys with an attempt in progress; each
// server process keeps its own.
type throttle struct {
	mu      sync.Mutex
	entries map[string]*failures
	// busy holds the keys with an attempt in progress, each with a channel
	// closed when it ends.
	busy map[string]chan struct{}
}

type failures struct {
	count int
	last  time.Time
	until time.Time // refused before this time
}

// claim takes keys for one attempt at now. When a key must still wait it
// returns that wait (the longest); else when a key has an attempt in
// progress it returns a channel closed when that ends, to claim again
// then; else it takes the keys, to be released with release, and reports
// whether any of them failed recently (suspect).
func (t *throttle) claim(keys []key, now time.Time) (wait time.Duration, busy <-chan struct{}, suspect bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if f := t.entries[k.name]; f != nil && now.Sub(f.last) <= failureMemory {
			wait = max(wait, f.until.Sub(now))
			suspect = suspect || f.count >= k.suspect
		}
	}
	if wait > 0 {
		return wait, nil, false
	}
	for _, k := range keys {
		if ch, ok := t.busy[k.name]; ok {
			return 0, ch, false
		}
	}
	if t.busy == nil {
		t.busy = make(map[string]chan struct{})
	}
	for _, k := range keys {
		t.busy[k.name] = make(chan struct{})
	}
	return 0, nil, suspect
}

// release ends the attempt that claimed keys; record its failure first.
func (t *throttle) release(keys []key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if ch, ok := t.busy[k.name]; ok {
			close(ch)
			delete(t.busy, k.name)
		}
	}
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

// key is what the throttle counts the failures of: an account or a client
// address.
type key struct {
	name    string // "account:…" or "client:…"
	free    int    // failures before each one locks the key out
	suspect int    // failures from which its attempts are suspect
}

func accountKey(email string) key {
	return key{name: "account:" + strings.ToLower(strings.TrimSpace(email)), free: accountFree, suspect: 1}
}

func clientKey(addr string) key {
	return key{name: "client:" + addr, free: clientFree, suspect: clientSuspect}
}
