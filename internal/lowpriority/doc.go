// Package lowpriority runs CPU-heavy work on operating-system threads of
// the lowest scheduling priority (nice 19), so that the kernel runs
// everything else on the machine first: the requests of other teams, the
// database's backends, the HTTP server.
//
// Go schedules goroutines on threads of equal priority, and the kernel
// shares the cores between those threads and the database's processes
// evenly. One team's costly mappings, confined by the engine's fair share
// to some of the cores, still kept the kernel from running another
// team's commit at once whenever a core was needed (issue 11: another
// team's p99 rose 3× under such a flood, 1.3–1.5× with this package).
//
// Work runs on a pool of at most four goroutines per processor, each
// locked to its thread for life: a lowered priority cannot be raised
// again without privileges, so such a thread never runs other goroutines,
// and it ends with its goroutine. Work beyond the pool, and all work
// outside Linux (where a thread's priority is its process's), runs in the
// caller's goroutine at normal priority. Lowering a thread's priority is
// best effort; the work runs either way.
package lowpriority
