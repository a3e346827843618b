package lowpriority

import (
	"runtime"
	"sync"
)

// pool holds the idle workers.
var pool struct {
	mu   sync.Mutex
	idle []*worker
}

// worker is a goroutine locked to a thread of low priority.
type worker struct{ work chan func() }

// maxIdle is how many idle workers are kept: each holds a thread.
func maxIdle() int { return runtime.GOMAXPROCS(0) }

// Run runs f on a low-priority thread and returns when f has returned. A
// panic of f is raised again in the caller's goroutine. f must not
// assume it runs in the caller's goroutine (runtime.LockOSThread, the
// goroutine's identity).
func Run(f func()) {
	w := take()
	var panicked any
	done := make(chan struct{})
	w.work <- func() {
		defer close(done)
		defer func() { panicked = recover() }()
		f()
	}
	<-done
	put(w)
	if panicked != nil {
		panic(panicked)
	}
}

func take() *worker {
	pool.mu.Lock()
	if n := len(pool.idle); n > 0 {
		w := pool.idle[n-1]
		pool.idle = pool.idle[:n-1]
		pool.mu.Unlock()
		return w
	}
	pool.mu.Unlock()
	w := &worker{work: make(chan func())}
	go w.run()
	return w
}

// put keeps w for the next Run, or ends it (and its thread) when enough
// workers are idle.
func put(w *worker) {
	pool.mu.Lock()
	if len(pool.idle) < maxIdle() {
		pool.idle = append(pool.idle, w)
		pool.mu.Unlock()
		return
	}
	pool.mu.Unlock()
	close(w.work)
}

func (w *worker) run() {
	// Never unlocked: the thread, its priority lowered, ends with this
	// goroutine rather than going back to the runtime's threads.
	runtime.LockOSThread()
	lower()
	for f := range w.work {
		f()
	}
}
