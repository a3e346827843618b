package delivery

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pipeline"
)

// DefaultSchedule is the wait before each retry of a failed delivery, in
// the spirit of Standard Webhooks and Svix: seconds, then minutes, then
// hours; eight attempts over about 28 hours in all. After the last one the
// delivery is dead.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of Config.
const (
	DefaultWorkers         = 20
	DefaultJitter          = 0.1
	DefaultMaxRetryAfter   = time.Hour
	DefaultFailingAfter    = 5
	DefaultAttemptTimeout  = 5 * time.Minute
	DefaultIdleClose       = 10 * time.Minute
	DefaultBusyWait        = 200 * time.Millisecond
	DefaultBusySnooze      = time.Second
	DefaultKeepDelivered   = 7 * 24 * time.Hour
	DefaultKeepDead        = 30 * 24 * time.Hour
	DefaultReplayStepPages = 10
	DefaultCarryMax        = 32
	DefaultCarryRecords    = 500
	DefaultCarryFor        = 30 * time.Second
)

// Config configures a Service. The zero value of a field means its
// default.
type Config struct {
	// Workers is how many deliveries and replay steps a node works at once
	// (the River queue "deliveries"). Default 20.
	Workers int
	// Schedule is the wait before each retry; a delivery is attempted
	// len(Schedule)+1 times. Default DefaultSchedule. Tests shorten it.
	Schedule []time.Duration
	// Jitter spreads each wait by up to this fraction either way, so that
	// deliveries failing together do not retry together. Default 0.1; a
	// negative value means none.
	Jitter float64
	// MaxRetryAfter caps how long a destination's Retry-After may delay a
	// retry. Default 1h.
	MaxRetryAfter time.Duration
	// FailingAfter is how many failed attempts in a row mark a sink
	// failing. Default 5.
	FailingAfter int
	// AttemptTimeout bounds one attempt of a delivery, every request of
	// it included. Default 5m.
	AttemptTimeout time.Duration
	// IdleClose closes an open sink unused this long. Default 10m.
	IdleClose time.Duration
	// BusyWait is how long a delivery waits for its sink when the
	// (healthy) sink carries as many deliveries as it may; then the job is
	// put back (snoozed) for about BusySnooze, without using up an
	// attempt, so that a slow sink never holds many workers. Defaults
	// 200ms and 1s.
	BusyWait   time.Duration
	BusySnooze time.Duration
	// KeepDelivered and KeepDead are how long finished deliveries are
	// kept. Defaults 7 and 30 days.
	KeepDelivered time.Duration
	KeepDead      time.Duration
	// ReplayStepPages is how many pages of 1000 records one run of a
	// replay job hands to deliveries before it yields. Default 10.
	ReplayStepPages int
	// CarryMax is how many of its sink's pending deliveries one delivery
	// job takes on (claims) when it starts, besides its own, so that a
	// sink that lags drains its backlog with few jobs, in commit order;
	// CarryRecords bounds their records, its own included (a job sends
	// what it carries one delivery after the other, so a small bound
	// leaves a backlog of big batches to several jobs at once, up to the
	// sink's concurrency). Defaults 32 and 500; a negative CarryMax
	// turns coalescing off.
	CarryMax     int
	CarryRecords int
	// CarryFor is how long one run of a delivery job goes on starting
	// deliveries it carries; then it puts itself back (without using up
	// an attempt) and goes on at its next run, so that one run stays well
	// within AttemptTimeout whatever the destination's pace. Default 30s,
	// at most AttemptTimeout/4.
	CarryFor time.Duration
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Compiler compiles a pipeline's spec when a delivery edits its sinks
	// (disabling a sink whose endpoint is gone). Required with a store.
	Compiler *pipeline.Compiler
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("delivery: "+format, args...)) }
	for i, d := range c.Schedule {
		if d <= 0 {
			bad("Schedule[%d] is %s; waits must be positive", i, d)
		}
	}
	if len(c.Schedule) > 50 {
		bad("Schedule has %d retries, more than 50", len(c.Schedule))
	}
	if c.Jitter > 0.5 {
		bad("Jitter %v is more than 0.5", c.Jitter)
	}
	for name, v := range map[string]time.Duration{
		"MaxRetryAfter": c.MaxRetryAfter, "AttemptTimeout": c.AttemptTimeout, "IdleClose": c.IdleClose,
		"BusyWait": c.BusyWait, "BusySnooze": c.BusySnooze, "KeepDelivered": c.KeepDelivered, "KeepDead": c.KeepDead,
		"CarryFor": c.CarryFor,
	} {
		if v < 0 {
			bad("%s %s is negative", name, v)
		}
	}
	if c.Workers < 0 || c.FailingAfter < 0 || c.ReplayStepPages < 0 || c.CarryRecords < 0 {
		bad("Workers, FailingAfter, ReplayStepPages and CarryRecords must not be negative")
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&c.AttemptTimeout, DefaultAttemptTimeout)
	def(&c.IdleClose, DefaultIdleClose)
	def(&c.BusyWait, DefaultBusyWait)
	def(&c.BusySnooze, DefaultBusySnooze)
	def(&c.KeepDelivered, DefaultKeepDelivered)
	def(&c.KeepDead, DefaultKeepDead)
	if c.FailingAfter == 0 {
		c.FailingAfter = DefaultFailingAfter
	}
	if c.ReplayStepPages == 0 {
		c.ReplayStepPages = DefaultReplayStepPages
	}
	if c.CarryMax == 0 {
		c.CarryMax = DefaultCarryMax
	}
	if c.CarryRecords == 0 {
		c.CarryRecords = DefaultCarryRecords
	}
	def(&c.CarryFor, DefaultCarryFor)
	c.CarryFor = min(c.CarryFor, c.AttemptTimeout/4)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// MaxAttempts is how many times a delivery is attempted.
func (c Config) MaxAttempts() int { return len(c.Schedule) + 1 }

// retryWait is the wait after failed attempt n (1-based), with jitter.
func (c Config) retryWait(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(c.Schedule)-1)
	if i < 0 {
		return 0
	}
	return jitter(c.Schedule[i], c.Jitter)
}

func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}

// ParseSchedule reads a retry schedule written as comma-separated
// durations, "5s,5m,30m,2h", as TRIBUTARY_SINK_RETRY_SCHEDULE holds it;
// empty means DefaultSchedule.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []time.Duration
	for part := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("sink retry schedule: %q is not a positive duration such as 5s or 2h", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}
