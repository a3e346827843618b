package lowpriority

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Run runs its function on a thread of the lowest priority, with the
// caller waiting; beyond maxWorkers at once, the rest run in their
// callers' goroutines, and every one runs.
func TestRun(t *testing.T) {
	var prio int
	var err error
	Run(func() {
		// Getpriority's raw value is 20 - nice on Linux.
		var p int
		p, err = syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		prio = 20 - p
	})
	if err != nil || prio != Niceness {
		t.Fatalf("niceness in Run: %d (err %v), want %d", prio, err, Niceness)
	}
	if p, _ := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid()); 20-p == Niceness {
		t.Fatal("the caller's thread was lowered too")
	}

	n := maxWorkers() + 5
	var ran, lowered atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Go(func() {
			Run(func() {
				if p, _ := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid()); 20-p == Niceness {
					lowered.Add(1)
				}
				ran.Add(1)
				<-release // all at once
			})
		})
	}
	for ran.Load() < int64(n) {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if got := lowered.Load(); got != int64(maxWorkers()) {
		t.Fatalf("%d of %d ran at low priority, want %d (maxWorkers)", got, n, maxWorkers())
	}
	pool.mu.Lock()
	idle, busy := len(pool.idle), pool.busy
	pool.mu.Unlock()
	if idle > maxWorkers() || busy != 0 {
		t.Fatalf("%d idle and %d busy workers, want at most %d and 0", idle, busy, maxWorkers())
	}
}
