// Package poll schedules and runs the polls of polling pipelines: the
// scheduler that claims due polls and runs them (scheduler.go), one poll
// (worker.go), the schedule (schedule.go), the periodic check (a River
// job, args.go) and the preview of a spec's source (preview.go).
//
// # Schedule
//
// The schedule's truth is a row per pipeline (store.Polls): the due time
// of its next poll and, while a poll runs, a lease (the due time it is
// for, the node holding it, and when it ends if that node dies). Each node
// runs a scheduler (Start, Stop): every FetchInterval, or as soon as
// workers are free while polls wait, it claims the due rows whose lease is
// free — as many as it has free workers — in one statement
// (store.Polls.ClaimDuePolls: FOR UPDATE SKIP LOCKED on PostgreSQL, the one
// writer on SQLite), which leases them to the node, and runs each poll in
// a goroutine of its own. A row is leased to one node at a time, so a due
// time is polled once across nodes.
//
// The poll's batch moves the row to the next due time in its own
// transaction (store.Batch.Finish), which frees the lease: a poll costs
// its share of a claim statement and its batch, nothing more — no job to
// insert, fetch and complete. Arming a row again (resume, "run now", a
// changed spec: Schedule) replaces its due time; a poll still running for
// the old one then only frees the lease, and the new due time is claimed
// after it. A paused pipeline's claimed poll deletes the row; resuming
// arms it again.
//
// A node that dies leaves its leases behind: they end after RunTimeout
// and 30 seconds (a poll never runs longer), and any node claims the
// polls then; with Config.OwnerExpiry (set by the server to the cluster
// listing's expiry, 30 s) a lease is free as soon as its owner's
// heartbeat has expired. A node restarted on the same data directory slot frees its
// dead process's leases at once (Config.Node), and a node stopping frees
// those of the polls it cancelled. A poll whose commit failed keeps its
// lease for RetryAfter and is claimed again. The periodic CheckArgs job
// arms polling pipelines that have no row (created on another path).
//
// # Runs
//
// A poll is a run of the engine. The records, the run row, the new
// incremental state of a poll and the schedule's move commit in one batch
// (engine.RunPoll). The state also records the due time of the poll that
// produced it and the count of consecutive failures, so a poll claimed
// again after its batch committed (a lost answer) knows it is done and
// only moves the schedule: a period is never polled twice. A failed poll
// is a failed run of the engine (engine.RecordFailure): a run row with the
// error and the previous state, committed on the same path as every other
// run, so the next poll asks for the same range again.
package poll
