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
	perKey int
	held   map[uuid.UUID]int // slots held, by key
	queues map[uuid.UUID][]*waiter
	ring   []uuid.UUID // keys with waiters, served in turn
	next   int         // index in ring of the next key to serve
}

type waiter struct {
	ch      chan struct{} // closed when granted
	granted bool
}

// New returns a Share of n slots (at least 1) of which one key holds at
// most perKey at a time (at least 1; 0 or less means n). With perKey
// below n, a key that floods leaves slots for the others: another key's
// request takes a free slot at once rather than waiting for the flooding
// key's slice to end (or for its thread, which the operating system may
// have descheduled, to run again).
func New(n, perKey int) *Share {
	n = max(n, 1)
	if perKey <= 0 || perKey > n {
		perKey = n
	}
	return &Share{free: n, perKey: perKey, held: make(map[uuid.UUID]int), queues: make(map[uuid.UUID][]*waiter)}
}

// Acquire takes a slot for key, waiting for one in key's turn. It returns
// ctx's error, holding nothing, when ctx ends first. Every successful
// Acquire must be followed by one Release(key).
func (s *Share) Acquire(ctx context.Context, key uuid.UUID) error {
	s.mu.Lock()
	if s.free > 0 && s.held[key] < s.perKey && len(s.queues[key]) == 0 {
		s.free--
		s.held[key]++
		s.mu.Unlock()
		return nil
	}
	w := s.enqueue(key, false)
	s.mu.Unlock()

	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.granted {
		s.mu.Unlock()
		s.Release(key) // granted meanwhile: pass it on
		return ctx.Err()
	}
	s.remove(key, w)
	s.mu.Unlock()
	return ctx.Err()
}

// enqueue adds a waiter for key, at the back of key's queue or at its
// head. Called with s.mu held.
func (s *Share) enqueue(key uuid.UUID, head bool) *waiter {
	w := &waiter{ch: make(chan struct{})}
	q, ok := s.queues[key]
	if !ok {
		s.ring = append(s.ring, key)
	}
	if head {
		s.queues[key] = append([]*waiter{w}, q...)
	} else {
		s.queues[key] = append(q, w)
	}
	return w
}

// Release gives key's slot back: to the next waiting key in turn that
// holds fewer than its share of slots, if any.
func (s *Share) Release(key uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(key)
	if !s.grantNext(uuid.Nil, false) {
		s.free++
	}
}

// drop counts one slot of key as given up. Called with s.mu held.
func (s *Share) drop(key uuid.UUID) {
	if s.held[key] <= 1 {
		delete(s.held, key)
	} else {
		s.held[key]--
	}
}

// Yield is called by a holder of key's slot between two slices of its
// work. When another key waits (and may take a slot), it hands the slot
// to the next such key in turn and waits for key's next turn (at the head
// of key's queue, so that the key's work in progress finishes before its
// queued work starts); it reports whether it did. When only key's own
// requests wait, or none, it keeps the slot: yielding among one key's
// requests would only delay them all. The wait for the next turn does not
// end with a context: it lasts at most one slice of each key that waits.
func (s *Share) Yield(key uuid.UUID) bool {
	s.mu.Lock()
	s.drop(key)
	if !s.grantNext(key, true) {
		s.held[key]++
		s.mu.Unlock()
		return false
	}
	w := s.enqueue(key, true)
	if s.free > 0 && s.held[key] < s.perKey {
		// A slot is free for key too (one was released while others
		// could not take it): take it back at once.
		s.grant(key)
	}
	s.mu.Unlock()
	<-w.ch
	return true
}

// grantNext gives a slot to the first waiter of the next key in turn that
// holds fewer than perKey slots, passing over skip when skipping (a key
// yielding its slot). It reports whether there was one. Called with s.mu
// held, with the slot to give not counted in free.
func (s *Share) grantNext(skip uuid.UUID, skipping bool) bool {
	for range len(s.ring) {
		if s.next >= len(s.ring) {
			s.next = 0
		}
		key := s.ring[s.next]
		if skipping && key == skip || s.held[key] >= s.perKey {
			s.next++
			continue
		}
		s.grantFirst(key)
		return true
	}
	return false
}

// grant gives a free slot to key's first waiter. Called with s.mu held.
func (s *Share) grant(key uuid.UUID) {
	for i, k := range s.ring {
		if k == key {
			s.free--
			s.next = i
			s.grantFirst(key)
			return
		}
	}
}

// grantFirst grants key's first waiter, key being s.ring[s.next], and
// moves the turn on. Called with s.mu held.
func (s *Share) grantFirst(key uuid.UUID) {
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
	s.held[key]++
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

// Reserve counts one of key's slots as taken without taking one of the n:
// while it lasts, key's own Acquire calls find one slot fewer for key, and
// the other keys are not affected. It is for work of key's that runs
// elsewhere (a database backend writing key's huge batch) and should
// count against key's share without holding a slot that other keys'
// requests might need. Every Reserve must be followed by one Unreserve.
func (s *Share) Reserve(key uuid.UUID) {
	s.mu.Lock()
	s.held[key]++
	s.mu.Unlock()
}

// Unreserve ends a Reserve of key: a free slot goes to the next waiting
// key in turn that may now take one, key's own waiters included.
func (s *Share) Unreserve(key uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(key)
	if s.free > 0 && s.grantNext(uuid.Nil, false) {
		s.free--
	}
}
