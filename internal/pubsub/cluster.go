package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Transport carries envelopes between the nodes of a cluster: Redis
// pub/sub (NewRedisTransport) or PostgreSQL LISTEN/NOTIFY
// (NewPostgresTransport). Every node receives every envelope, its own
// included, in the order each sender sent them.
type Transport interface {
	// Send sends envelopes, in order, to every node.
	Send(ctx context.Context, envs [][]byte) error
	// Listen receives envelopes until ctx ends, passing each to deliver,
	// one at a time and in order. It calls connected(true) once it first
	// receives, and connected(false) each time it receives again after
	// its connection was lost (envelopes sent meanwhile are gone). It
	// returns when ctx ends.
	Listen(ctx context.Context, deliver func([]byte), connected func(first bool))
	// MaxEnvelope is the largest envelope Send accepts, 0 for no limit.
	MaxEnvelope() int
	// Close releases the transport's connections.
	Close() error
}

// ClusterConfig configures a Cluster broker.
type ClusterConfig struct {
	// Node identifies this node in envelopes; it must differ between the
	// nodes and between runs of one node. Empty means a new random id.
	Node string
	// Buffer is the default buffer of subscriptions (see Config).
	Buffer int
	// Queue is how many envelopes may wait to be sent; beyond it messages
	// are not sent to other nodes, which count them as lost. Zero means
	// 4096.
	Queue int
	// Load reads a batch sent as a Pointer from the store and returns its
	// Batch JSON. Without it, such batches count as lost.
	Load func(ctx context.Context, p Pointer) ([]byte, error)
	// Observe, when set, sees every message received from another node
	// before local subscribers do (the recent-records cache fills itself
	// from it), and reset is called after the link to the other nodes was
	// lost, before subscribers are told to reload.
	Observe func(msg Message)
	// Reset is called after the link to the other nodes was down.
	Reset func()
	// Linger is how long the sender gathers messages after the first one
	// before it hands them to the transport together: over PostgreSQL a
	// send is a transaction, which costs the database as much as a
	// small batch of records, so one per committed batch would nearly
	// double the transactions of a busy node. Zero means DefaultLinger;
	// negative sends at once.
	Linger time.Duration
	// Logger receives transport errors. Nil discards them.
	Logger *slog.Logger
	// ConnectWait bounds how long NewCluster waits for the first
	// connection. Past it, NewCluster returns the broker degraded: it
	// delivers locally and keeps connecting; once connected, it behaves
	// as after a reconnect (Reset, then a lag marker for every local
	// subscription). Zero means wait until NewCluster's ctx ends.
	ConnectWait time.Duration
}

// DefaultLinger is ClusterConfig.Linger's default: a few milliseconds
// on a live stream that other nodes receive in tens of them.
const DefaultLinger = 5 * time.Millisecond

// Cluster is the Broker of a node in a cluster. It delivers a node's own
// messages to local subscribers at once (through a Memory) and sends them
// to the other nodes through a Transport; messages from other nodes are
// delivered locally as they arrive. A node ignores the echo of its own
// messages, so nothing is delivered twice.
//
// Every message a node sends on a topic carries a sequence number; a
// receiver that finds a gap (the sender's queue was full, its transport
// failed, or the receiver's connection dropped) gives the topic's local
// subscriptions a KindLagged marker with the number of messages missed.
// When the receiver's own connection was lost it cannot count: every
// local subscription gets a marker of one message, and the recent-records
// cache is reset through Reset.
type Cluster struct {
	local *Memory
	tr    Transport
	cfg   ClusterConfig
	log   *slog.Logger

	mu   sync.Mutex
	seq  map[string]uint64 // latest seq sent per topic
	gaps map[string]bool   // topics with messages that were not sent
	out  chan outgoing

	rmu  sync.Mutex
	last map[string]uint64 // latest seq received per origin and topic

	ready   chan struct{}
	late    bool // guarded by rmu: NewCluster returned before the first connection
	cancel  context.CancelFunc
	done    sync.WaitGroup
	closeMu sync.Once
}

var _ Broker = (*Cluster)(nil)

type outgoing struct {
	topic   string
	env     envelope
	pointer func() (Pointer, error) // Message.Pointer
}

// NewCluster returns a Cluster broker over tr and starts it; it returns
// once the node receives from the transport, after cfg.ConnectWait with
// the broker degraded (see ClusterConfig.ConnectWait), or with ctx's
// error.
func NewCluster(ctx context.Context, cfg ClusterConfig, tr Transport) (*Cluster, error) {
	if cfg.Node == "" {
		cfg.Node = uuid.NewString()
	}
	if cfg.Queue == 0 {
		cfg.Queue = 4096
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	local, err := NewMemory(Config{Buffer: cfg.Buffer})
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		local: local, tr: tr, cfg: cfg, log: log,
		seq: make(map[string]uint64), gaps: make(map[string]bool), out: make(chan outgoing, cfg.Queue),
		last: make(map[string]uint64), ready: make(chan struct{}),
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.done.Add(2)
	go func() { defer c.done.Done(); c.send(runCtx) }()
	go func() {
		defer c.done.Done()
		tr.Listen(runCtx, func(b []byte) { c.receive(runCtx, b) }, c.connected)
	}()
	var waited <-chan time.Time
	if cfg.ConnectWait > 0 {
		timer := time.NewTimer(cfg.ConnectWait)
		defer timer.Stop()
		waited = timer.C
	}
	select {
	case <-c.ready:
		return c, nil
	case <-waited:
		c.rmu.Lock()
		defer c.rmu.Unlock()
		select {
		case <-c.ready: // connected meanwhile
		default:
			c.late = true
			log.Warn("pubsub: not connected to the cluster yet; delivering locally until connected", "waited", cfg.ConnectWait)
		}
		return c, nil
	case <-ctx.Done():
		_ = c.Close()
		return nil, fmt.Errorf("pubsub: connect to the cluster: %w", ctx.Err())
	}
}

// Node returns the node id the broker sends with.
func (c *Cluster) Node() string { return c.cfg.Node }

// Publish implements Broker: local subscribers get msg at once, other
// nodes as soon as the transport carries it.
func (c *Cluster) Publish(ctx context.Context, topic string, msg Message) error {
	code := byte(codeRecords)
	switch msg.Kind {
	case KindRecords:
	case KindControl:
		code = codeControl
	default:
		return fmt.Errorf("pubsub: cannot publish a message of kind %s", msg.Kind)
	}
	// One lock orders local delivery and numbering, so every node sees a
	// topic's messages from this node in the order local subscribers did.
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.local.Publish(ctx, topic, msg); err != nil {
		return err
	}
	seq := c.seq[topic] + 1
	c.seq[topic] = seq
	select {
	case c.out <- outgoing{topic: topic, env: envelope{origin: c.cfg.Node, seq: seq, code: code, team: msg.Team, topic: topic, payload: msg.Payload}, pointer: msg.Pointer}:
	default:
		c.gaps[topic] = true // receivers learn of it from the next gap envelope
	}
	return nil
}

// Subscribe implements Broker.
func (c *Cluster) Subscribe(ctx context.Context, topic string, buffer int) (*Subscription, error) {
	return c.local.Subscribe(ctx, topic, buffer)
}

// Close implements Broker: it ends every subscription, stops sending and
// receiving and closes the transport.
func (c *Cluster) Close() error {
	var err error
	c.closeMu.Do(func() {
		err = c.local.Close()
		c.cancel()
		c.done.Wait()
		err = errors.Join(err, c.tr.Close())
	})
	return err
}

// send runs the sending side: it takes queued envelopes in order, sends
// them in groups, and after a failure tells the other nodes what was lost.
func (c *Cluster) send(ctx context.Context) {
	const maxGroup = 256
	backoff := 50 * time.Millisecond
	group := make([]outgoing, 0, maxGroup)
	envs := make([][]byte, 0, maxGroup)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		group, envs = group[:0], envs[:0]
		select {
		case <-ctx.Done():
			return
		case o := <-c.out:
			group = append(group, o)
		}
		var lingered <-chan time.Time
		if c.cfg.Linger > 0 {
			linger.Reset(c.cfg.Linger)
			lingered = linger.C
		}
	fill:
		for len(group) < maxGroup {
			select {
			case o := <-c.out:
				group = append(group, o)
				continue
			default:
			}
			if lingered == nil {
				break
			}
			select {
			case o := <-c.out:
				group = append(group, o)
			case <-lingered:
				lingered = nil
				break fill
			case <-ctx.Done():
				return
			}
		}
		if lingered != nil {
			linger.Stop()
		}
		for _, o := range group {
			if b, ok := c.wire(o); ok {
				envs = append(envs, b)
			}
		}
		envs = c.appendGaps(envs)
		if len(envs) == 0 {
			continue
		}
		if err := c.tr.Send(ctx, envs); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("pubsub: send to the cluster failed; other nodes will count the messages as lost", "messages", len(envs), "err", err)
			c.mu.Lock()
			for _, o := range group {
				c.gaps[o.topic] = true
			}
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// wire encodes a queued message, as a Pointer when it is too large for
// the transport. It reports false when the message cannot be sent at all
// (its topic then gets a gap envelope).
func (c *Cluster) wire(o outgoing) ([]byte, bool) {
	b := o.env.encode()
	max := c.tr.MaxEnvelope()
	if max == 0 || len(b) <= max {
		return b, true
	}
	if o.env.code == codeRecords {
		pointer := o.pointer
		if pointer == nil {
			pointer = func() (Pointer, error) { return pointerFor(o.env.team, o.env.payload) }
		}
		if p, err := pointer(); err == nil {
			if pb, err := jsonMarshal(p); err == nil {
				e := o.env
				e.code, e.payload = codePointer, pb
				if b = e.encode(); len(b) <= max {
					return b, true
				}
			}
		}
	}
	c.log.Warn("pubsub: message too large for the cluster transport; other nodes will count it as lost", "topic", o.topic, "bytes", len(b))
	c.mu.Lock()
	c.gaps[o.topic] = true
	c.mu.Unlock()
	return nil, false
}

// appendGaps appends a gap envelope for every topic with unsent messages.
// They go after the group, so they carry the newest seq of each topic.
func (c *Cluster) appendGaps(envs [][]byte) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic := range c.gaps {
		envs = append(envs, envelope{origin: c.cfg.Node, seq: c.seq[topic], code: codeGap, topic: topic}.encode())
		delete(c.gaps, topic)
	}
	return envs
}

// connected is the transport's callback on (re)connecting.
func (c *Cluster) connected(first bool) {
	if first {
		c.rmu.Lock()
		late := c.late
		select {
		case <-c.ready:
		default:
			close(c.ready)
		}
		c.rmu.Unlock()
		if !late {
			return
		}
		c.log.Info("pubsub: connected to the cluster; live subscribers reload")
	} else {
		c.log.Warn("pubsub: reconnected to the cluster; live subscribers reload")
	}
	c.rmu.Lock()
	clear(c.last)
	c.rmu.Unlock()
	if c.cfg.Reset != nil {
		c.cfg.Reset()
	}
	c.local.LostAll(1)
}

// receive handles one envelope from the transport.
func (c *Cluster) receive(ctx context.Context, b []byte) {
	e, err := decodeEnvelope(b)
	if err != nil {
		c.log.Warn("pubsub: ignoring an envelope", "err", err)
		return
	}
	if e.origin == c.cfg.Node {
		return // delivered locally when published
	}
	key := e.origin + " " + e.topic
	c.rmu.Lock()
	last := c.last[key]
	if e.seq > last {
		c.last[key] = e.seq
	}
	c.rmu.Unlock()
	switch {
	case e.code == codeGap:
		if last != 0 && e.seq > last {
			c.lost(e.topic, int(e.seq-last))
		}
		return
	case last != 0 && e.seq <= last:
		return // a repeat
	case last != 0 && e.seq > last+1:
		c.lost(e.topic, int(e.seq-last-1))
	}
	msg := Message{Topic: e.topic, Kind: KindRecords, Payload: e.payload, Team: e.team}
	switch e.code {
	case codeControl:
		msg.Kind = KindControl
	case codePointer:
		payload, err := c.load(ctx, e.payload)
		if err != nil {
			c.log.Warn("pubsub: cannot read a batch sent by pointer; subscribers reload", "topic", e.topic, "err", err)
			c.lost(e.topic, 1)
			return
		}
		msg.Payload = payload
	}
	if c.cfg.Observe != nil {
		c.cfg.Observe(msg)
	}
	if err := c.local.Publish(ctx, e.topic, msg); err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		c.log.Warn("pubsub: deliver a message from the cluster", "topic", e.topic, "err", err)
	}
}

// lost tells the topic's subscribers, and the cache, that n messages are
// missing.
func (c *Cluster) lost(topic string, n int) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(Message{Topic: topic, Kind: KindLagged, Dropped: n})
	}
	c.local.Lost(topic, n)
}

// load reads the batch a pointer stands for.
func (c *Cluster) load(ctx context.Context, payload []byte) ([]byte, error) {
	if c.cfg.Load == nil {
		return nil, errors.New("no loader configured")
	}
	var p Pointer
	if err := jsonUnmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("decode pointer: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.cfg.Load(ctx, p)
}
