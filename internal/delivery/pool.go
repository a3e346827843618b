package delivery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/sink"
)

// errBusy means the sink carries as many deliveries as it may; errProbing
// that it failed last and one delivery is finding out whether it is back.
var (
	errBusy    = errors.New("delivery: the sink is busy")
	errProbing = errors.New("not attempted: the sink is failing and another delivery is finding out whether it is back")
)

// pool keeps the sinks this process opened, one per pipeline sink and
// configuration, and bounds the deliveries each carries at once: its
// kind's Concurrency while it succeeds, one (a probe) after a failure, so
// that a failing or hanging destination holds at most one worker per node.
type pool struct {
	mu     sync.Mutex
	open   map[poolKey]*instance
	closed bool
}

type poolKey struct {
	pipeline uuid.UUID
	sink     string
}

// instance is one open sink.
type instance struct {
	sink    sink.Sink
	version [32]byte // hash of the kind and settings it was opened with
	limit   int      // the kind's concurrency

	// guarded by pool.mu
	inflight int
	failing  bool
	lastErr  string // of the last failed delivery
	retired  bool   // replaced or closed: close once idle
	lastUsed time.Time
	wake     chan struct{} // closed and replaced at every release

	closeOnce sync.Once
	closeErr  error
}

// shut closes the sink once.
func (i *instance) shut() error {
	i.closeOnce.Do(func() { i.closeErr = i.sink.Close() })
	return i.closeErr
}

func newPool() *pool { return &pool{open: map[poolKey]*instance{}} }

func settingsHash(kind string, settings []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(settings)
	return [32]byte(h.Sum(nil))
}

// acquire returns the open sink for key with these settings, opening it
// if need be, and reserves one delivery on it; release must be called
// with the delivery's outcome. It waits up to wait for room, then returns
// errBusy; it returns an error wrapping errProbing at once while a failing
// sink is probed.
func (p *pool) acquire(ctx context.Context, key poolKey, kind sink.Kind, settings []byte, wait time.Duration,
	open func(ctx context.Context) (sink.Sink, error)) (*instance, error) {
	version := settingsHash(kind.Name, settings)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("delivery: stopping")
		}
		inst := p.open[key]
		if inst != nil && inst.version != version {
			// The sink was reconfigured: the old instance closes once
			// its deliveries are done.
			p.retire(key, inst)
			inst = nil
		}
		if inst == nil {
			p.mu.Unlock()
			s, err := open(ctx)
			if err != nil {
				return nil, err
			}
			limit := max(kind.Concurrency, 1)
			p.mu.Lock()
			if cur := p.open[key]; cur != nil && cur.version == version || p.closed {
				// Another delivery opened it meanwhile (or we stop).
				p.mu.Unlock()
				_ = s.Close()
				continue
			}
			inst = &instance{sink: s, version: version, limit: limit, wake: make(chan struct{})}
			p.open[key] = inst
		}
		limit := inst.limit
		if inst.failing {
			limit = 1
		}
		if inst.failing && inst.inflight >= limit {
			// Waiting would hold a worker for as long as the probe
			// takes (for a hanging destination, its timeout), and
			// putting the job back would cost a write every few seconds
			// per waiting delivery: the attempt fails at once and the
			// delivery follows its retry schedule.
			lastErr := inst.lastErr
			p.mu.Unlock()
			return nil, fmt.Errorf("%w; the last error: %s", errProbing, lastErr)
		}
		if inst.inflight < limit {
			inst.inflight++
			inst.lastUsed = time.Now()
			p.mu.Unlock()
			return inst, nil
		}
		wake := inst.wake
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, errBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release ends a delivery on inst with its error, nil when it succeeded.
func (p *pool) release(inst *instance, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst.inflight--
	inst.failing = err != nil
	if err != nil {
		inst.lastErr = err.Error()
	}
	inst.lastUsed = time.Now()
	close(inst.wake)
	inst.wake = make(chan struct{})
	if inst.retired && inst.inflight == 0 {
		go func() { _ = inst.shut() }()
	}
}

// retire removes inst from the pool; it is closed now if idle, else by
// its last release. p.mu is held.
func (p *pool) retire(key poolKey, inst *instance) {
	if p.open[key] == inst {
		delete(p.open, key)
	}
	if inst.retired {
		return
	}
	inst.retired = true
	if inst.inflight == 0 {
		go func() { _ = inst.shut() }()
	}
}

// forget closes the pipeline's open sink of that name, if any (the sink
// was changed or removed).
func (p *pool) forget(key poolKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if inst := p.open[key]; inst != nil {
		p.retire(key, inst)
	}
}

// closeIdle closes the sinks unused since before.
func (p *pool) closeIdle(before time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, inst := range p.open {
		if inst.inflight == 0 && inst.lastUsed.Before(before) {
			p.retire(key, inst)
		}
	}
}

// close closes every open sink, waiting for ctx at most.
func (p *pool) close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	insts := make([]*instance, 0, len(p.open))
	for key, inst := range p.open {
		delete(p.open, key)
		inst.retired = true
		insts = append(insts, inst)
	}
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, inst := range insts {
			errs = append(errs, inst.shut())
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
