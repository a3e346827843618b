package lowpriority

import "syscall"

// Niceness is the priority of the workers' threads: the lowest.
const Niceness = 19

// lowers reports whether this platform lowers a thread's priority.
const lowers = true

// lower sets the calling thread's niceness (on Linux, PRIO_PROCESS with a
// thread id sets that thread's alone). An unprivileged thread may lower
// its own priority, so this fails only under a seccomp policy refusing
// setpriority; the work then runs at normal priority.
func lower() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), Niceness)
}
