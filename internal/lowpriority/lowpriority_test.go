package lowpriority

import (
	"runtime"
	"sync"
	"testing"
)

// A panic in the work reaches the caller, and a worker goes on serving.
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

// runtime.Goexit in the work (t.FailNow) ends the caller's goroutine, and
// the worker it ended is not handed out again.
func TestRunGoexit(t *testing.T) {
	var wg sync.WaitGroup
	after := false
	wg.Go(func() {
		Run(runtime.Goexit)
		after = true
	})
	wg.Wait()
	if after {
		t.Fatal("the caller went on after the work called runtime.Goexit")
	}
	for range 2 * maxWorkers() {
		ran := false
		Run(func() { ran = true }) // a dead worker handed out would block here
		if !ran {
			t.Fatal("Run did not run its work")
		}
	}
}
