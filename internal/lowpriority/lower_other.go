//go:build !linux

package lowpriority

// lower does nothing: outside Linux a thread's priority is its process's.
func lower() {}
