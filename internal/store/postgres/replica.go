package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/store"
)

// Read replicas.
//
// With replicas attached (UseReplicas), reads that tolerate a little
// staleness — history pages of records, series, the pipeline list, runs
// and rejected records, storage stats — go to it; everything else, and
// every read whose context is store.WithPrimary, goes to the primary. A
// checker measures the replica's lag every CheckInterval: the replica is
// current when it has replayed the primary's WAL insert position read
// just before; else its lag is the age of the last transaction it replayed
// (which overstates the lag of an idle primary, never understates it).
// While the replica does not answer, or lags more than MaxLag, reads go
// to the primary. A read that fails on the replica for a reason of the
// replica (connection lost, shutting down, canceled by recovery) is
// retried on the primary at once, and the replica is left alone until the
// next check finds it well.
//
// The lag is the smaller of two upper bounds. The replica has everything
// the primary had committed when the replica's last replayed transaction
// committed; and it has everything the primary had at an earlier check
// whose WAL position it has replayed. The first alone overstates the lag
// of a replica of an idle primary (the last commit may be old, and a new
// one not yet replayed); the second alone overstates it by up to one
// check interval.

// Defaults of ReplicaConfig.
const (
	DefaultReplicaMaxLag        = 5 * time.Second
	DefaultReplicaCheckInterval = time.Second
)

// ReplicaConfig tunes the routing of reads to a replica.
type ReplicaConfig struct {
	// MaxLag is how far behind the primary the replica may be and still
	// serve reads. Default DefaultReplicaMaxLag.
	MaxLag time.Duration
	// CheckInterval is how often the lag is measured. Default
	// DefaultReplicaCheckInterval.
	CheckInterval time.Duration
	// Logger receives changes of the replica's state; nil discards them.
	Logger *slog.Logger
}

// ReplicaStatus is the replica's state as the last check found it.
type ReplicaStatus struct {
	// Name is the replica's host:port (no credentials).
	Name     string
	Attached bool
	Healthy  bool          // it answered and is a usable replica
	Lag      time.Duration // as measured; math.MaxInt64 when unknown
	Serving  bool          // reads go to it
	Reads    int64         // reads it served
	Fallback int64         // reads sent to the primary while it was attached but not serving, or failed on it
}

type replica struct {
	name   string
	pool   *pgxpool.Pool
	cfg    ReplicaConfig
	cancel context.CancelFunc
	done   chan struct{}

	serving atomic.Bool
	healthy atomic.Bool
	lag     atomic.Int64
	reads   atomic.Int64
	logMu   sync.Mutex
	lastLog string

	samplesMu sync.Mutex
	samples   []lsnSample // the primary's position at recent checks, oldest first
}

// lsnSample is the primary's WAL insert position at a check.
type lsnSample struct {
	at  time.Time
	lsn uint64
}

// maxSamples bounds the positions kept per replica, whatever the check
// interval.
const maxSamples = 512

// lagBySamples bounds the lag of a replica that has replayed the WAL up to
// replay from the primary's positions at earlier checks (oldest first):
// it has everything the primary had at the newest of them it has reached.
// Behind all of them, it lags at least as long ago as the oldest, and ok
// is false.
func lagBySamples(samples []lsnSample, now time.Time, replay uint64) (lag time.Duration, ok bool) {
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].lsn <= replay {
			return now.Sub(samples[i].at), true
		}
	}
	if len(samples) == 0 {
		return 0, false
	}
	return now.Sub(samples[0].at), false
}

// remember keeps the primary's position at this check, and the samples
// of the last two lag bounds: a replica behind all of those is beyond the
// bound.
func (r *replica) remember(at time.Time, lsn uint64) {
	r.samplesMu.Lock()
	defer r.samplesMu.Unlock()
	r.samples = append(r.samples, lsnSample{at: at, lsn: lsn})
	drop := 0
	for drop < len(r.samples)-1 && (at.Sub(r.samples[drop].at) > 2*r.cfg.MaxLag || len(r.samples)-drop > maxSamples) {
		drop++
	}
	r.samples = append(r.samples[:0], r.samples[drop:]...)
}

// parseLSN parses PostgreSQL's text form of a WAL position, X/Y in hex.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	return h<<32 | l, nil
}

// replicaSet is the attached replicas; reads go round-robin to those
// that serve.
type replicaSet struct {
	list     []*replica
	next     atomic.Uint64
	fallback atomic.Int64 // reads sent to the primary while none served, or failed on one
}

// pick returns the next serving replica, or nil.
func (rs *replicaSet) pick() *replica {
	n := uint64(len(rs.list))
	start := rs.next.Add(1)
	for i := range n {
		if r := rs.list[(start+i)%n]; r.serving.Load() {
			return r
		}
	}
	return nil
}

func (rs *replicaSet) close() {
	for _, r := range rs.list {
		r.close()
	}
}

// UseReplica attaches one read replica at url (UseReplicas with one URL).
func (s *Store) UseReplica(ctx context.Context, url string, cfg ReplicaConfig) error {
	return s.UseReplicas(ctx, []string{url}, cfg)
}

// UseReplicas attaches read replicas: reads that tolerate lag spread
// round-robin over those that answer within MaxLag, and go to the primary
// when none does. Each is connected and checked once before it returns; a
// replica that is down at start is not an error: it serves once it
// answers.
func (s *Store) UseReplicas(ctx context.Context, urls []string, cfg ReplicaConfig) error {
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = DefaultReplicaMaxLag
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultReplicaCheckInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rs := &replicaSet{}
	for i, url := range urls {
		pc, err := pgxpool.ParseConfig(url)
		if err != nil {
			rs.close()
			return fmt.Errorf("parse read replica URL %d: not a valid postgres:// URL or connection string", i+1)
		}
		if pc.ConnConfig.RuntimeParams["application_name"] == "" {
			pc.ConnConfig.RuntimeParams["application_name"] = "tributary"
		}
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
		pc.AfterConnect = uuidAsBytes
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			rs.close()
			return fmt.Errorf("read replica %d: %w", i+1, err)
		}
		rcfg := cfg
		name := fmt.Sprintf("%s:%d", pc.ConnConfig.Host, pc.ConnConfig.Port)
		for _, other := range rs.list {
			if other.name == name {
				name = fmt.Sprintf("%s:%d#%d", pc.ConnConfig.Host, pc.ConnConfig.Port, i+1)
			}
		}
		rcfg.Logger = cfg.Logger.With("replica", name)
		checkCtx, cancel := context.WithCancel(context.Background())
		r := &replica{name: name, pool: pool, cfg: rcfg, cancel: cancel, done: make(chan struct{})}
		r.lag.Store(math.MaxInt64)
		s.check(ctx, r)
		go func() {
			defer close(r.done)
			t := time.NewTicker(cfg.CheckInterval)
			defer t.Stop()
			for {
				select {
				case <-checkCtx.Done():
					return
				case <-t.C:
					s.check(checkCtx, r)
				}
			}
		}()
		rs.list = append(rs.list, r)
	}
	if len(rs.list) == 0 {
		rs = nil
	}
	if old := s.replicas.Swap(rs); old != nil {
		old.close()
	}
	return nil
}

func (r *replica) close() {
	r.cancel()
	<-r.done
	r.pool.Close()
}

// ReplicaStatus reports the first replica's state, with the reads sent
// to the primary by all of them (ReplicaStatuses has each).
func (s *Store) ReplicaStatus() ReplicaStatus {
	all := s.ReplicaStatuses()
	if len(all) == 0 {
		return ReplicaStatus{}
	}
	return all[0]
}

// ReplicaStatuses reports each replica's state; Fallback is the set's
// (reads sent to the primary while none served, or failed on one).
func (s *Store) ReplicaStatuses() []ReplicaStatus {
	rs := s.replicas.Load()
	if rs == nil {
		return nil
	}
	out := make([]ReplicaStatus, len(rs.list))
	for i, r := range rs.list {
		out[i] = ReplicaStatus{Name: r.name, Attached: true, Healthy: r.healthy.Load(), Lag: time.Duration(r.lag.Load()),
			Serving: r.serving.Load(), Reads: r.reads.Load(), Fallback: rs.fallback.Load()}
	}
	return out
}

// CheckReplica measures the replicas' lag now rather than at the next
// tick; tests use it.
func (s *Store) CheckReplica(ctx context.Context) {
	if rs := s.replicas.Load(); rs != nil {
		for _, r := range rs.list {
			s.check(ctx, r)
		}
	}
}

// check measures the replica's lag and decides whether it serves reads.
func (s *Store) check(ctx context.Context, r *replica) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lag, err := s.measureLag(ctx, r)
	if ctx.Err() != nil && err != nil && errors.Is(err, context.Canceled) {
		return // shutting down
	}
	healthy := err == nil
	r.healthy.Store(healthy)
	if healthy {
		r.lag.Store(int64(lag))
	} else {
		r.lag.Store(math.MaxInt64)
	}
	serving := healthy && lag <= r.cfg.MaxLag
	r.serving.Store(serving)
	state := "serving"
	switch {
	case !healthy:
		state = "down"
	case !serving:
		state = "lagging"
	}
	r.logMu.Lock()
	if state != r.lastLog {
		r.lastLog = state
		if serving {
			r.cfg.Logger.Info("read replica serves reads", "lag", lag)
		} else {
			r.cfg.Logger.Warn("read replica not used; reads go to the primary", "state", state, "lag", lag, "err", err)
		}
	}
	r.logMu.Unlock()
}

func (s *Store) measureLag(ctx context.Context, r *replica) (time.Duration, error) {
	var primaryText string
	// The insert position, not the write position: with asynchronous
	// commit a committed transaction may not be written (let alone sent)
	// yet, and the replica does not have it.
	now := time.Now()
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&primaryText); err != nil {
		return 0, fmt.Errorf("read primary WAL position: %w", err)
	}
	primary, err := parseLSN(primaryText)
	if err != nil {
		return 0, err
	}
	// The positions of earlier checks bound this one's lag; this one's is
	// kept whether the replica answers or not, so that one back from an
	// outage is measured against recent positions.
	r.samplesMu.Lock()
	earlier := slices.Clone(r.samples)
	r.samplesMu.Unlock()
	r.remember(now, primary)
	var (
		recovering bool
		replayText *string  // the WAL position replayed
		age        *float64 // seconds since the last replayed commit
	)
	err = r.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
			extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8`).Scan(&recovering, &replayText, &age)
	if err != nil {
		return 0, err
	}
	if !recovering {
		// Not a standby: the URL names a primary (or a pooler in front of
		// one); its data is current.
		return 0, nil
	}
	if replayText == nil {
		return math.MaxInt64, nil // replaying nothing yet
	}
	replay, err := parseLSN(*replayText)
	if err != nil {
		return 0, err
	}
	bySamples, known := lagBySamples(earlier, now, replay)
	lag := time.Duration(math.MaxInt64)
	switch {
	case replay >= primary:
		return 0, nil
	case known:
		lag = bySamples
	}
	if age != nil {
		// Behind every kept position, the replica lags at least as long
		// ago as the oldest; the age of its last commit may say less
		// only when it is ahead of that one.
		byAge := time.Duration(*age * float64(time.Second))
		if known || byAge >= bySamples {
			lag = min(lag, byAge)
		} else {
			lag = bySamples
		}
	}
	return lag, nil
}

// read runs fn on a replica when replicaOK, one serves reads and ctx does
// not ask for the primary; on the primary otherwise, and when fn fails on
// the replica for a reason of the replica.
func (s *Store) read(ctx context.Context, replicaOK bool, fn func(db dbtx) error) error {
	rs := s.replicas.Load()
	if rs == nil || !replicaOK || store.PrimaryOnly(ctx) {
		return fn(s.pool)
	}
	if r := rs.pick(); r != nil {
		err := fn(r.pool)
		if err == nil || !replicaFault(err) || ctx.Err() != nil {
			r.reads.Add(1)
			return err
		}
		r.serving.Store(false)
		r.healthy.Store(false)
	}
	rs.fallback.Add(1)
	return fn(s.pool)
}

// replicaFault reports an error that says the replica, not the query,
// failed: no connection, the server shutting down or refusing, or a query
// canceled by a conflict with recovery.
func replicaFault(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch pgErr.Code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	return pgErr.Code == "40001" // canceling statement due to conflict with recovery
}

// readRows runs a listing query as read does, collecting its rows with
// scan: on a replica when one serves reads, falling back to the primary
// when the replica fails — while the query is sent or while its rows are
// read, which is where a replica shutting down shows.
func readRows[T any](ctx context.Context, s *Store, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	err := s.read(ctx, true, func(db dbtx) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	return out, err
}
