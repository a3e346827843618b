package account

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hashSlots bounds concurrent password hashes in the process: each takes
// about 19 MiB and 40 ms of a core, so a burst of sign-in attempts queues
// here instead of exhausting memory or starving ingest.
const hashSlots = 4

// suspectSlots is how many of the hashing slots suspect attempts may hold
// at once: those of an account that failed recently or from an address
// that failed several times. One: however many addresses a flood of wrong
// passwords comes from, it hashes on at most one core, and the other
// slots stay for the users signing in (on a 2-core node, two slots of
// four made a user's sign-in 4-5 times slower during a flood, one slot
// about 2 times).
const suspectSlots = 1

// hashing is the process's gate of password hashes, shared by every
// Service like the memory it protects.
var hashing = newGate(hashSlots, suspectSlots)

// gate hands out n hashing slots, of which suspect attempts may take only
// some, so that wrong passwords from however many addresses never take
// every slot from a user signing in.
type gate struct {
	shared   chan struct{} // slots for any attempt
	reserved chan struct{} // slots for attempts that are not suspect
}

// newGate returns a gate of n slots, suspect of them open to suspect
// attempts; 0 < suspect < n.
func newGate(n, suspect int) *gate {
	return &gate{shared: make(chan struct{}, suspect), reserved: make(chan struct{}, n-suspect)}
}

// acquire takes a slot, waiting until ctx ends or, when timeout is not
// nil, until it fires; it returns false then. The caller calls the
// returned function to give the slot back.
func (g *gate) acquire(ctx context.Context, suspect bool, timeout <-chan time.Time) (func(), bool) {
	if suspect {
		select {
		case g.shared <- struct{}{}:
			return func() { <-g.shared }, true
		case <-timeout:
		case <-ctx.Done():
		}
		return nil, false
	}
	select {
	case g.shared <- struct{}{}:
		return func() { <-g.shared }, true
	case g.reserved <- struct{}{}:
		return func() { <-g.reserved }, true
	case <-timeout:
	case <-ctx.Done():
	}
	return nil, false
}

// metrics are the sign-in counters in /metrics.
type metrics struct {
	hashes   *prometheus.CounterVec // password hashes begun, by purpose
	attempts *prometheus.CounterVec // sign-in attempts by outcome
}

// Purposes of a password hash and outcomes of a sign-in attempt, as
// metric labels.
const (
	hashSignIn      = "sign_in"      // verifying a sign-in (a dummy one for unknown emails)
	hashNewPassword = "new_password" // hashing the password of a new user
	signedIn        = "signed_in"
	wrongPassword   = "wrong"     // unknown email or wrong password, after a hash
	throttled       = "throttled" // refused for recent failures, before any hash
	busy            = "busy"      // refused after waiting for another attempt or a slot
)

func newMetrics() *metrics {
	m := &metrics{
		hashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_password_hashes_total",
			Help: "Password hashes computed by purpose: sign_in (verifying a sign-in) or new_password.",
		}, []string{"purpose"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_sign_in_attempts_total",
			Help: "Sign-in attempts by outcome: signed_in, wrong (email or password, after a hash), throttled (recent failures) or busy (another attempt of the account or address in progress); the last two are refused before hashing.",
		}, []string{"outcome"}),
	}
	for _, p := range []string{hashSignIn, hashNewPassword} {
		m.hashes.WithLabelValues(p)
	}
	for _, o := range []string{signedIn, wrongPassword, throttled, busy} {
		m.attempts.WithLabelValues(o)
	}
	return m
}

// Collectors returns the Service's metrics for a prometheus registry:
// tributary_password_hashes_total and tributary_sign_in_attempts_total.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.hashes, s.metrics.attempts}
}
