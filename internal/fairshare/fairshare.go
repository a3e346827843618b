package fairshare

import (
	"context"
	"sync"

	"github.com/google/uuid"
)

// Share is a set of slots shared fairly between keys. It is safe for
// concurrent use; the zero value is not usable (see New).
type Share struct {
	mu     sync.Mutex
	free   int
	queues map[uuid.UUID][]*waiter
	ring   []uuid.UUID // keys with waiters, served in turn
	next   int         // index in ring of the next key to serve
}

type waiter struct {
	ch      chan struct{} // closed when granted
	granted bool
}

// New returns a Share of n slots (at least 1).
func New(n int) *Share {
	return &Share{free: max(n, 1), queues: make(map[uuid.UUID][]*waiter)}
}

// Acquire takes a slot for key, waiting for one in key's turn. It returns
// ctx's error, holding nothing, when ctx ends first. Every successful
// Acquire must be followed by one Release.
func (s *Share) Acquire(ctx context.Context, key uuid.UUID) error {
	s.mu.Lock()
	if s.free > 0 && len(s.ring) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &waiter{ch: make(chan struct{})}
	if _, ok := s.queues[key]; !ok {
		s.ring = append(s.ring, key)
	}
	s.queues[key] = append(s.queues[key], w)
	s.mu.Unlock()

	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.granted {
		s.mu.Unlock()
		s.Release() // granted meanwhile: pass it on
		return ctx.Err()
	}
	s.remove(key, w)
	s.mu.Unlock()
	return ctx.Err()
}

// Release gives a slot back: to the next waiting key in turn, if any.
func (s *Share) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) == 0 {
		s.free++
		return
	}
	s.grantNext(uuid.Nil, false)
}

// Yield is called by a holder of key's slot between two slices of its
// work. When another key waits, it hands the slot to the next key in turn
// and waits for key's next turn (at the head of key's queue, so that the
// key's work in progress finishes before its queued work starts); it
// reports whether it did. When only key's own requests wait, or none, it
// keeps the slot: yielding among one key's requests would only delay them
// all. The wait for the next turn does not end with a context: it lasts
// at most one slice of each key that waits.
func (s *Share) Yield(key uuid.UUID) bool {
	s.mu.Lock()
	if len(s.ring) == 0 || len(s.ring) == 1 && s.ring[0] == key {
		s.mu.Unlock()
		return false
	}
	s.grantNext(key, true)
	w := &waiter{ch: make(chan struct{})}
	if q, ok := s.queues[key]; ok {
		s.queues[key] = append([]*waiter{w}, q...)
	} else {
		s.queues[key] = []*waiter{w}
		s.ring = append(s.ring, key)
	}
	s.mu.Unlock()
	<-w.ch
	return true
}

// grantNext gives a slot to the first waiter of the next key in turn,
// passing over skip when skipping (a key yielding its slot). Called with
// s.mu held and at least one waiter of a key other than skip.
func (s *Share) grantNext(skip uuid.UUID, skipping bool) {
	if s.next >= len(s.ring) {
		s.next = 0
	}
	if skipping && s.ring[s.next] == skip {
		s.next = (s.next + 1) % len(s.ring)
	}
	key := s.ring[s.next]
	q := s.queues[key]
	w := q[0]
	q[0] = nil
	if len(q) == 1 {
		delete(s.queues, key)
		s.ring = append(s.ring[:s.next], s.ring[s.next+1:]...) // the next key moves into s.next
	} else {
		s.queues[key] = q[1:]
		s.next++
	}
	w.granted = true
	close(w.ch)
}

// remove drops a waiter that gave up. Called with s.mu held.
func (s *Share) remove(key uuid.UUID, w *waiter) {
	q := s.queues[key]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		s.queues[key] = q
		return
	}
	delete(s.queues, key)
	for i, k := range s.ring {
		if k == key {
			s.ring = append(s.ring[:i], s.ring[i+1:]...)
			if i < s.next {
				s.next--
			}
			break
		}
	}
}

// Waiting returns how many Acquire calls wait.
func (s *Share) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queues {
		n += len(q)
	}
	return n
}
