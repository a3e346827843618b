package poll

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	DefaultOverdue       = time.Minute
)

// Config configures a Service. Zero fields take their defaults.
type Config struct {
	// Workers is how many polls a node runs at once. Default 100.
	Workers int
	// FetchInterval is how often the poll queue looks for due polls; it
	// bounds the scheduling lag when the queue is idle. Default 100ms.
	FetchInterval time.Duration
	// RunTimeout bounds one poll, requests, retries and commit included.
	// Default 2m.
	RunTimeout time.Duration
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
	// CheckInterval is how often the schedules are checked for pipelines
	// without a pending poll and for expired dedup keys. Default 30s.
	CheckInterval time.Duration
	// Overdue is how long past its due time a schedule without a running
	// poll counts as lost and is armed again. Default 1m.
	Overdue time.Duration
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
	def(&c.Overdue, DefaultOverdue)
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
	case c.CheckInterval < 0 || c.Overdue < 0 || c.MaxBackoff < 0:
		return errors.New("polling: CheckInterval, Overdue and MaxBackoff must not be negative")
	}
	return nil
}
