package pubsub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer sizes of subscriptions.
const (
	// DefaultBuffer is a subscription's buffer when neither Subscribe nor
	// Config asks for one: 64 batches.
	DefaultBuffer = 64
	// MaxBuffer bounds a subscription's buffer, and so its memory.
	MaxBuffer = 1 << 16
)

// Lag markers wait for room in a full buffer. Publish checks for room on
// every call; when nothing is published a timer checks, backing off while
// the reader stays stuck so a dead reader costs a wake-up a second.
const (
	lagRetryMin = 5 * time.Millisecond
	lagRetryMax = time.Second
)

// Config configures a Memory broker.
type Config struct {
	// Buffer is the buffer of subscriptions that ask for 0. Zero means
	// DefaultBuffer.
	Buffer int
}

// Memory is the in-process Broker. Publishing takes one map lookup under
// a read lock and, for a topic with subscribers, one mutex per topic held
// while it tries a non-blocking send to each; it never allocates.
type Memory struct {
	buffer int

	mu     sync.RWMutex
	topics map[string]*topic
	closed bool
}

var _ Broker = (*Memory)(nil)

// topic holds the subscriptions of one topic. Its mutex orders publishes,
// so every subscription sees one order, and guards the lag state of its
// subscriptions.
type topic struct {
	name string
	mu   sync.Mutex
	subs []*Subscription
}

// NewMemory returns a Memory broker for cfg.
func NewMemory(cfg Config) (*Memory, error) {
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Buffer < 0 || cfg.Buffer > MaxBuffer {
		return nil, fmt.Errorf("pubsub: buffer %d is outside 1..%d", cfg.Buffer, MaxBuffer)
	}
	return &Memory{buffer: cfg.Buffer, topics: make(map[string]*topic)}, nil
}

// Publish implements Broker.
func (m *Memory) Publish(ctx context.Context, topicName string, msg Message) error {
	if msg.Kind != KindRecords && msg.Kind != KindControl {
		return fmt.Errorf("pubsub: cannot publish a message of kind %s", msg.Kind)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	t := m.topics[topicName]
	m.mu.RUnlock()
	if t == nil {
		return nil
	}
	msg.Topic = topicName
	msg.Dropped = 0
	t.mu.Lock()
	for _, s := range t.subs {
		s.deliver(msg)
	}
	t.mu.Unlock()
	return nil
}

// Subscribe implements Broker.
func (m *Memory) Subscribe(ctx context.Context, topicName string, buffer int) (*Subscription, error) {
	if buffer <= 0 {
		buffer = m.buffer
	}
	if buffer > MaxBuffer {
		return nil, fmt.Errorf("pubsub: buffer %d is over the maximum of %d", buffer, MaxBuffer)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Subscription{
		m:     m,
		ch:    make(chan Message, buffer),
		delay: lagRetryMin,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	t := m.topics[topicName]
	if t == nil {
		t = &topic{name: topicName}
		m.topics[topicName] = t
	}
	s.t = t
	t.mu.Lock()
	t.subs = append(t.subs, s)
	t.mu.Unlock()
	// Assigned under m.mu, which Close takes too: a Close run by AfterFunc
	// for an already finished ctx waits for it.
	s.stopCtx = context.AfterFunc(ctx, s.Close)
	return s, nil
}

// Close implements Broker. It closes every subscription's channel.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var stops []func() bool
	for _, t := range m.topics {
		t.mu.Lock()
		for _, s := range t.subs {
			s.shut()
			stops = append(stops, s.stopCtx)
		}
		t.subs = nil
		t.mu.Unlock()
	}
	m.topics = nil
	m.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	return nil
}

// Topics returns the number of topics with at least one subscription.
func (m *Memory) Topics() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.topics)
}

// Subscription is one subscriber's view of a topic. Read messages from C;
// call Close (or end the context given to Subscribe) when done.
type Subscription struct {
	m       *Memory
	t       *topic
	ch      chan Message
	stopCtx func() bool // releases the context.AfterFunc; set under m.mu
	once    sync.Once
	dropped atomic.Uint64 // every message this subscription lost, for metrics

	// Guarded by t.mu.
	closed bool
	lost   int           // messages lost since the last marker was queued
	retry  *time.Timer   // queues the marker when nothing is published
	delay  time.Duration // the retry timer's next delay
}

// C returns the channel of messages. It is closed when the subscription
// ends; messages still buffered are received first.
func (s *Subscription) C() <-chan Message { return s.ch }

// Topic returns the topic subscribed to.
func (s *Subscription) Topic() string { return s.t.name }

// Dropped returns how many messages this subscription has lost in all.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel. It is idempotent
// and safe to call from any goroutine.
func (s *Subscription) Close() {
	s.once.Do(func() {
		m, t := s.m, s.t
		m.mu.Lock()
		t.mu.Lock()
		if !s.closed { // not already ended by the broker's Close
			for i, x := range t.subs {
				if x == s {
					last := len(t.subs) - 1
					t.subs[i] = t.subs[last]
					t.subs[last] = nil
					t.subs = t.subs[:last]
					break
				}
			}
			s.shut()
		}
		empty := len(t.subs) == 0
		t.mu.Unlock()
		if empty && m.topics[t.name] == t {
			delete(m.topics, t.name)
		}
		stop := s.stopCtx
		m.mu.Unlock()
		stop()
	})
}

// shut marks the subscription closed and closes its channel. Called with
// t.mu held.
func (s *Subscription) shut() {
	s.closed = true
	if s.retry != nil {
		s.retry.Stop()
	}
	close(s.ch)
}

// deliver offers msg to the subscription without blocking. While messages
// are lost and unreported, the lag marker must go first, so that the
// reader learns of the gap before it sees anything newer. Called with t.mu
// held.
func (s *Subscription) deliver(msg Message) {
	if s.lost > 0 && !s.flushLag() {
		s.lose()
		return
	}
	select {
	case s.ch <- msg:
	default:
		s.lose()
	}
}

// lose counts a dropped message and, when it opens a gap, arms the timer
// that reports the gap even if nothing else is published. Called with t.mu
// held.
func (s *Subscription) lose() {
	s.dropped.Add(1)
	s.lost++
	if s.lost > 1 {
		return // the timer is already armed
	}
	s.delay = lagRetryMin
	if s.retry == nil {
		s.retry = time.AfterFunc(s.delay, s.retryLag)
	} else {
		s.retry.Reset(s.delay)
	}
}

// flushLag tries to queue the marker for the messages lost so far and
// reports whether it did. Called with t.mu held.
func (s *Subscription) flushLag() bool {
	select {
	case s.ch <- Message{Topic: s.t.name, Kind: KindLagged, Dropped: s.lost}:
		s.lost = 0
		if s.retry != nil {
			s.retry.Stop()
		}
		return true
	default:
		return false
	}
}

// retryLag runs on the timer: it queues the pending marker if the reader
// has made room, or tries again later.
func (s *Subscription) retryLag() {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.closed || s.lost == 0 || s.flushLag() {
		return
	}
	s.delay = min(2*s.delay, lagRetryMax)
	s.retry.Reset(s.delay)
}

// Lost counts n messages of topic as lost for every current subscription
// of it, as if each had dropped them: each gets a KindLagged marker with
// the count before anything newer. A cluster broker calls it when it finds
// a gap in what another node sent.
func (m *Memory) Lost(topicName string, n int) {
	if n <= 0 {
		return
	}
	m.mu.RLock()
	t := m.topics[topicName]
	m.mu.RUnlock()
	if t != nil {
		t.lost(n)
	}
}

// LostAll counts n messages as lost on every topic with subscriptions; a
// cluster broker calls it after its link to the other nodes was down.
func (m *Memory) LostAll(n int) {
	if n <= 0 {
		return
	}
	m.mu.RLock()
	ts := make([]*topic, 0, len(m.topics))
	for _, t := range m.topics {
		ts = append(ts, t)
	}
	m.mu.RUnlock()
	for _, t := range ts {
		t.lost(n)
	}
}

// lost counts n lost messages for each subscription and tries to queue
// their markers at once.
func (t *topic) lost(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.subs {
		if s.closed {
			continue
		}
		s.dropped.Add(uint64(n))
		first := s.lost == 0
		s.lost += n
		if s.flushLag() || !first {
			continue
		}
		s.delay = lagRetryMin
		if s.retry == nil {
			s.retry = time.AfterFunc(s.delay, s.retryLag)
		} else {
			s.retry.Reset(s.delay)
		}
	}
}
