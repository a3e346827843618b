package lowpriority

import (
	"runtime"
	"sync"
)

// pool holds the idle workers and counts the busy ones.
var pool struct {
	mu   sync.Mutex
	idle []*worker
	busy int
}

// worker is a goroutine locked to a thread of low priority.
type worker struct{ work chan func() }

// maxWorkers bounds the workers, busy or idle: each holds a thread, and
// some work waits for the network on its thread (a streamed body). Work
// beyond it runs in the caller's goroutine, at normal priority.
func maxWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// Run runs f on a low-priority thread and returns when f has returned;
// where no thread's priority can be lowered (outside Linux), or when
// maxWorkers are busy, it runs f in the caller's goroutine. A panic of f
// is raised again in the caller's goroutine, and a runtime.Goexit of f
// (t.FailNow) ends the caller's goroutine. f must not assume it runs in
// the caller's goroutine (runtime.LockOSThread, the goroutine's identity).
func Run(f func()) {
	if !lowers {
		f()
		return
	}
	w := take()
	if w == nil {
		f()
		return
	}
	var (
		panicked any
		returned bool
	)
	done := make(chan struct{})
	w.work <- func() {
		defer close(done)
		defer func() {
			if !returned {
				panicked = recover()
			}
		}()
		f()
		returned = true
	}
	<-done
	switch {
	case returned:
		put(w)
	case panicked != nil:
		put(w)
		panic(panicked)
	default:
		// f called runtime.Goexit, which ended the worker's goroutine
		// and its thread: it is not put back, and the caller exits too.
		drop()
		runtime.Goexit()
	}
}

// take returns an idle worker, or a new one, or nil when maxWorkers are
// busy.
func take() *worker {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if n := len(pool.idle); n > 0 {
		w := pool.idle[n-1]
		pool.idle = pool.idle[:n-1]
		pool.busy++
		return w
	}
	if pool.busy >= maxWorkers() {
		return nil
	}
	pool.busy++
	w := &worker{work: make(chan func())}
	go w.run()
	return w
}

// put keeps w for the next Run.
func put(w *worker) {
	pool.mu.Lock()
	pool.busy--
	pool.idle = append(pool.idle, w)
	pool.mu.Unlock()
}

// drop counts a busy worker as gone.
func drop() {
	pool.mu.Lock()
	pool.busy--
	pool.mu.Unlock()
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
