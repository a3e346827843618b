package poll

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultWorkers       = 100
	DefaultFetchInterval = 100 * time.Millisecond
	DefaultRunTimeout    = 2 * time.Minute
	DefaultFailingAfter  = 3
	DefaultMaxBackoff    = time.Hour
	DefaultMaxJitter     = 500 * time.Millisecond
	DefaultHostRate      = 50
	DefaultCheckInterval = 30 * time.Second
	DefaultClaimBatch    = 200
	// DefaultRetryAfter is how long a poll that failed without committing
	// (its batch's write failed) waits before it is claimed again.
	DefaultRetryAfter = 5 * time.Second
)

// Config configures a Service. Zero fields take their defaults.
type Config struct {
	// Workers is how many polls a node runs at once. Default 100.
	Workers int
	// FetchInterval is how often the scheduler claims the polls that
	// came due; it bounds the scheduling lag while workers are free.
	// Default 100ms.
	FetchInterval time.Duration
	// ClaimBatch bounds the polls one claim takes (never more than the
	// free workers). Default 200.
	ClaimBatch int
	// RunTimeout bounds the requests of one poll. A poll holds its lease
	// for RunTimeout and 30 seconds (its commit included); a node that
	// dies leaves its polls to others once their leases end. Default 2m.
	RunTimeout time.Duration
	// RetryAfter is how long a poll whose commit failed waits before it
	// is claimed again. Default 5s.
	RetryAfter time.Duration
	// Owner names this node in the leases of its polls (its River client
	// ID). Default: a random name.
	Owner string
	// OwnerExpiry, when set, is how long after its last heartbeat in the
	// cluster listing (cluster.Membership) a node counts as dead: its
	// leases are free from then on, so its polls go on within about this
	// time instead of when their leases end. Set it only when every node
	// is listed before it claims polls. Zero: leases end at their time.
	OwnerExpiry time.Duration
	// Node, when set, is the name of this node's slot in the data
	// directory (jobs.Identity.Node): Start frees the leases of the
	// slot's earlier processes (owners named Node@…), which are dead,
	// so that their polls go on at once instead of when the leases end.
	Node string
	// FailingAfter is how many consecutive failed polls mark a pipeline
	// failing; a successful poll makes it active again. Default 3.
	FailingAfter int
	// MaxBackoff bounds how far failures push the next poll beyond the
	// interval (never below the interval). Default 1h.
	MaxBackoff time.Duration
	// MaxJitter bounds the random shift of each next due time, at most a
	// twentieth of the interval, so that pipelines created together drift
	// apart. Default 500ms; negative turns it off.
	MaxJitter time.Duration
	// HostRate limits requests per second to each host across all polls
	// of the node; HostBurst is the burst (default: one second's worth).
	// Default 50; negative means no limit.
	HostRate  float64
	HostBurst int
	// CheckInterval is how often the schedules are checked for polling
	// pipelines without one and for expired dedup keys. Default 30s.
	CheckInterval time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Registerer receives the poll metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives poll failures (without secrets) and debug lines.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	def(&c.FetchInterval, DefaultFetchInterval)
	def(&c.RunTimeout, DefaultRunTimeout)
	if c.FailingAfter == 0 {
		c.FailingAfter = DefaultFailingAfter
	}
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.MaxJitter, DefaultMaxJitter)
	if c.HostRate == 0 {
		c.HostRate = DefaultHostRate
	}
	if c.HostBurst == 0 {
		c.HostBurst = max(int(c.HostRate), 1)
	}
	def(&c.CheckInterval, DefaultCheckInterval)
	def(&c.RetryAfter, DefaultRetryAfter)
	if c.ClaimBatch == 0 {
		c.ClaimBatch = DefaultClaimBatch
	}
	if c.Owner == "" {
		c.Owner = "poll-" + uuid.NewString()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Workers < 0 || c.Workers > 10000:
		return fmt.Errorf("polling: Workers %d is not between 1 and 10000", c.Workers)
	case c.FetchInterval < 0:
		return errors.New("polling: FetchInterval is negative")
	case c.RunTimeout < 0:
		return errors.New("polling: RunTimeout is negative")
	case c.FailingAfter < 0:
		return errors.New("polling: FailingAfter is negative")
	case c.ClaimBatch < 0:
		return errors.New("polling: ClaimBatch is negative")
	case c.CheckInterval < 0 || c.RetryAfter < 0 || c.MaxBackoff < 0:
		return errors.New("polling: CheckInterval, RetryAfter and MaxBackoff must not be negative")
	}
	return nil
}
