package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/store"
)

// Defaults of Config.
const (
	DefaultHeartbeat   = 5 * time.Second
	DefaultExpireAfter = 30 * time.Second
)

// ErrDraining is what Ready answers once the node was told to stop.
var ErrDraining = errors.New("the node is draining: it stops taking new work")

// Config tunes the membership.
type Config struct {
	// ID names the node; default NewID(). River's client id must be the
	// same for the listing to tell the leader.
	ID string
	// Version and Address are reported as they are.
	Version, Address string
	// Heartbeat is how often the node renews its row. Default
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// ExpireAfter is how long after its last heartbeat a node is no longer
	// listed and its row is deleted. Default DefaultExpireAfter; at least
	// twice Heartbeat.
	ExpireAfter time.Duration
	// Load reports the node's load with each heartbeat; nil reports the
	// process figures only.
	Load func() store.NodeLoad
	// Logger receives failed heartbeats; nil discards them.
	Logger *slog.Logger
}

// NewID returns a node id: the host name and a random suffix, short
// enough for River's client id.
func NewID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, host)
	if len(host) > 64 {
		host = host[:64]
	}
	if host == "" {
		host = "node"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// Membership is this node's place in the cluster. Build it with New,
// Start it, Drain it when told to stop, and Stop it last.
type Membership struct {
	cfg      Config
	st       store.Nodes
	started  time.Time
	draining atomic.Bool
	live     atomic.Int64 // live nodes at the last heartbeat
	beatMu   sync.Mutex   // one heartbeat at a time, so a drain's beat is the last word
	cancel   context.CancelFunc
	done     chan struct{}
}

// New builds the membership of this node.
func New(cfg Config, st store.Nodes) (*Membership, error) {
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.ExpireAfter <= 0 {
		cfg.ExpireAfter = DefaultExpireAfter
	}
	if cfg.ExpireAfter < 2*cfg.Heartbeat {
		return nil, fmt.Errorf("cluster: ExpireAfter (%v) must be at least twice Heartbeat (%v)", cfg.ExpireAfter, cfg.Heartbeat)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Membership{cfg: cfg, st: st, started: time.Now().UTC()}, nil
}

// ID is this node's id.
func (m *Membership) ID() string { return m.cfg.ID }

// Start registers the node, then renews its row every Heartbeat and
// deletes expired nodes, until Stop.
func (m *Membership) Start(ctx context.Context) error {
	if err := m.beat(ctx); err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	m.count(ctx)
	loop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-loop.Done():
				return
			case <-t.C:
			}
			if err := m.beat(loop); err != nil && loop.Err() == nil {
				m.cfg.Logger.Warn("node heartbeat failed", "node", m.cfg.ID, "err", err)
			}
			if _, err := m.st.DeleteStaleNodes(loop, time.Now().Add(-m.cfg.ExpireAfter)); err != nil && loop.Err() == nil {
				m.cfg.Logger.Warn("expiring stale nodes failed", "err", err)
			}
			m.count(loop)
		}
	}()
	return nil
}

func (m *Membership) beat(ctx context.Context) error {
	m.beatMu.Lock()
	defer m.beatMu.Unlock()
	return m.st.BeatNode(ctx, store.Node{
		ID: m.cfg.ID, Version: m.cfg.Version, Address: m.cfg.Address, StartedAt: m.started,
		HeartbeatAt: time.Now().UTC(), Draining: m.draining.Load(), Load: m.load(),
	})
}

func (m *Membership) load() store.NodeLoad {
	var l store.NodeLoad
	if m.cfg.Load != nil {
		l = m.cfg.Load()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	l.Goroutines, l.HeapBytes = runtime.NumGoroutine(), int64(ms.HeapAlloc)
	return l
}

// count refreshes the number of live nodes; on failure it keeps the last.
func (m *Membership) count(ctx context.Context) {
	nodes, err := m.st.ListNodes(ctx, time.Now().Add(-m.cfg.ExpireAfter))
	if err != nil {
		return
	}
	m.live.Store(int64(len(nodes)))
}

// Live returns the number of live nodes as the last heartbeat found them,
// at least 1 (this one): the share of a cluster-wide limit a node
// enforces on its own is 1/Live.
func (m *Membership) Live() int { return max(int(m.live.Load()), 1) }

// Drain marks the node as stopping: Ready answers ErrDraining from now
// on, and the node's row says so. It returns once the row is written (or
// ctx ends).
func (m *Membership) Drain(ctx context.Context) error {
	if m.draining.Swap(true) {
		return nil
	}
	if err := m.beat(ctx); err != nil {
		return fmt.Errorf("mark node draining: %w", err)
	}
	return nil
}

// Draining reports whether Drain was called.
func (m *Membership) Draining() bool { return m.draining.Load() }

// Ready answers ErrDraining once the node drains; nil before.
func (m *Membership) Ready(context.Context) error {
	if m.draining.Load() {
		return ErrDraining
	}
	return nil
}

// Stop ends the heartbeat and removes the node's row.
func (m *Membership) Stop(ctx context.Context) error {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	m.beatMu.Lock()
	defer m.beatMu.Unlock()
	if err := m.st.DeleteNode(ctx, m.cfg.ID); err != nil {
		return fmt.Errorf("unregister node: %w", err)
	}
	return nil
}

// NodeStatus is one node as Nodes lists it.
type NodeStatus struct {
	store.Node
	// HeartbeatAge is how long ago the node's last heartbeat was.
	HeartbeatAge time.Duration
	// Self is the node answering.
	Self bool
}

// Status is the cluster as Nodes lists it.
type Status struct {
	// Self is the id of the node answering.
	Self string
	// Heartbeat and ExpireAfter are the intervals of this node.
	Heartbeat, ExpireAfter time.Duration
	Nodes                  []NodeStatus
}

// Nodes lists the live nodes: instance administrators only
// (account.ErrForbidden otherwise, account.ErrUnauthenticated without a
// principal).
func (m *Membership) Nodes(ctx context.Context, p *account.Principal) (Status, error) {
	switch {
	case p == nil:
		return Status{}, account.ErrUnauthenticated
	case p.User == nil || !p.User.IsAdmin:
		return Status{}, fmt.Errorf("%w: the cluster is for instance administrators", account.ErrForbidden)
	}
	now := time.Now()
	nodes, err := m.st.ListNodes(ctx, now.Add(-m.cfg.ExpireAfter))
	if err != nil {
		return Status{}, err
	}
	out := Status{Self: m.cfg.ID, Heartbeat: m.cfg.Heartbeat, ExpireAfter: m.cfg.ExpireAfter, Nodes: make([]NodeStatus, len(nodes))}
	for i, n := range nodes {
		out.Nodes[i] = NodeStatus{Node: n, HeartbeatAge: max(now.Sub(n.HeartbeatAt), 0), Self: n.ID == m.cfg.ID}
	}
	return out, nil
}
