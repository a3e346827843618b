package lowpriority

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Run runs its function on a thread of the lowest priority (Linux), with
// the caller waiting; many Runs at once all run, and only GOMAXPROCS
// workers stay idle afterwards.
func TestRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are set on Linux only")
	}
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

	var ran atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			Run(func() {
				ran.Add(1)
				<-release // all 20 at once: workers beyond the idle ones start
			})
		})
	}
	for ran.Load() < 20 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	pool.mu.Lock()
	idle := len(pool.idle)
	pool.mu.Unlock()
	if idle > runtime.GOMAXPROCS(0) {
		t.Fatalf("%d idle workers kept, want at most %d", idle, runtime.GOMAXPROCS(0))
	}
}

// A panic in the work reaches the caller, and the worker goes on serving.
func TestRunPanics(t *testing.T) {
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		Run(func() { panic("boom") })
	}()
	done := false
	Run(func() { done = true })
	if !done {
		t.Fatal("Run after a panic did not run")
	}
}
