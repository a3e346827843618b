package fairshare_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/fairshare"
)

// waitFor polls cond until it holds, or fails the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling
	}
}

// A key with many waiters does not go ahead of another key's one waiter:
// freed slots go to the keys in turn.
func TestFairOrder(t *testing.T) {
	t.Parallel()
	s := fairshare.New(1, 0)
	ctx := context.Background()
	if err := s.Acquire(ctx, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	a, b := uuid.New(), uuid.New()
	granted := make(chan string, 10)
	enqueue := func(key uuid.UUID, name string, queued int) {
		go func() {
			if err := s.Acquire(ctx, key); err != nil {
				t.Error(err)
				return
			}
			granted <- name
		}()
		waitFor(t, name+" to queue", func() bool { return s.Waiting() == queued })
	}
	enqueue(a, "a1", 1)
	enqueue(a, "a2", 2)
	enqueue(a, "a3", 3)
	enqueue(b, "b1", 4)
	var order []string
	holder := uuid.Nil
	for range 4 {
		s.Release(holder)
		name := <-granted
		order = append(order, name)
		holder = map[byte]uuid.UUID{'a': a, 'b': b}[name[0]]
	}
	want := []string{"a1", "b1", "a2", "a3"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("grants in order %v, want %v", order, want)
		}
	}
	s.Release(holder)
	// All slots free again: an Acquire does not wait.
	if err := s.Acquire(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// A waiter whose context ends leaves the queue and holds nothing.
func TestAcquireCanceled(t *testing.T) {
	t.Parallel()
	s := fairshare.New(1, 0)
	if err := s.Acquire(context.Background(), uuid.Nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Acquire(ctx, uuid.New()) }()
	waitFor(t, "the waiter to queue", func() bool { return s.Waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if s.Waiting() != 0 {
		t.Fatal("the canceled waiter is still queued")
	}
	s.Release(uuid.Nil)
	if err := s.Acquire(context.Background(), uuid.New()); err != nil {
		t.Fatal(err)
	}
}

// Yield hands the slot to another key's waiter and takes it back in the
// key's next turn, ahead of the key's own queued requests; it keeps the
// slot when only the key's own requests wait.
func TestYield(t *testing.T) {
	t.Parallel()
	s := fairshare.New(1, 0)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	if err := s.Acquire(ctx, a); err != nil {
		t.Fatal(err)
	}
	if s.Yield(a) {
		t.Fatal("Yield passed the slot on with nobody waiting")
	}
	granted := make(chan string, 10)
	enqueue := func(key uuid.UUID, name string, queued int) {
		go func() {
			if err := s.Acquire(ctx, key); err != nil {
				t.Error(err)
				return
			}
			granted <- name
		}()
		waitFor(t, name+" to queue", func() bool { return s.Waiting() == queued })
	}
	enqueue(a, "a2", 1)
	if s.Yield(a) {
		t.Fatal("Yield passed the slot to the same key's request")
	}
	enqueue(b, "b1", 2)
	yielded := make(chan bool, 1)
	go func() { yielded <- s.Yield(a) }()
	if got := <-granted; got != "b1" {
		t.Fatalf("Yield gave the slot to %s, want b1", got)
	}
	select {
	case <-yielded:
		t.Fatal("Yield returned while b1 holds the only slot")
	default:
	}
	s.Release(b) // b1's
	if !<-yielded {
		t.Fatal("Yield reported that it kept the slot")
	}
	if s.Waiting() != 1 {
		t.Fatalf("%d waiting, want a2", s.Waiting())
	}
	s.Release(a) // the yielder's
	if got := <-granted; got != "a2" {
		t.Fatalf("granted %s, want a2", got)
	}
	s.Release(a)
}

// A key holds at most perKey slots: its next request waits although a
// slot is free, and another key's request takes that slot at once.
func TestPerKeyReservesSlots(t *testing.T) {
	t.Parallel()
	s := fairshare.New(2, 1)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	if err := s.Acquire(ctx, a); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- s.Acquire(ctx, a) }()
	waitFor(t, "a's second request to queue", func() bool { return s.Waiting() == 1 })
	if err := s.Acquire(ctx, b); err != nil { // the free slot, at once
		t.Fatal(err)
	}
	// b yields to nobody: a waits, but a holds its share.
	if s.Yield(b) {
		t.Fatal("b yielded its slot to a key at its share")
	}
	s.Release(b)
	select {
	case <-second:
		t.Fatal("a's second request got a slot while a held its share")
	default:
	}
	s.Release(a)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	s.Release(a)
	if s.Waiting() != 0 {
		t.Fatal("waiters left")
	}
}

// A reservation counts against its key's share only: the key's own
// Acquire waits for it to end, another key's takes a free slot at once,
// even with a single slot.
func TestReserve(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2} {
		s := fairshare.New(n, n-1)
		a, b := uuid.New(), uuid.New()
		s.Reserve(a)
		if s.Acquire(context.Background(), b) != nil {
			t.Fatalf("n=%d: another key could not take a slot during a reservation", n)
		}
		s.Release(b)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.Acquire(ctx, a)
		cancel()
		if err == nil {
			t.Fatalf("n=%d: the reserving key took a slot beyond its share", n)
		}
		got := make(chan error, 1)
		go func() { got <- s.Acquire(context.Background(), a) }()
		time.Sleep(10 * time.Millisecond)
		s.Unreserve(a)
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("n=%d: the key's waiter was not granted when its reservation ended", n)
		}
		s.Release(a)
		if s.Waiting() != 0 {
			t.Fatalf("n=%d: %d still waiting", n, s.Waiting())
		}
	}
}
