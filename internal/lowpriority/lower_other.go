//go:build !linux

package lowpriority

// lowers reports whether this platform lowers a thread's priority: outside
// Linux a thread's priority is its process's, so Run runs work in the
// caller's goroutine.
const lowers = false

func lower() {}
