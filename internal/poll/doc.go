// Package poll schedules and runs the polls of polling pipelines on River:
// the job arguments (args.go), the workers that run a poll and the
// periodic check (worker.go), the schedule (schedule.go) and the preview
// of a spec's source (preview.go). Service.Register adds the poll queue,
// the workers and the periodic check to a River configuration.
//
// # Schedule
//
// Each poll is an Args job, unique per pipeline and due time, so that any
// number of nodes inserting the same poll insert it once. The schedule's
// truth is a row per pipeline (store.Polls): the due time of its next poll
// and, while a poll runs, a lease. A job runs its poll only when its due
// time is the schedule's and it holds the lease, then — in one
// transaction — moves the schedule to the next due time and inserts that
// poll's job. Everything a node needs to go on is in the database: a job of
// a stopped node is retried by River and takes its own lease over, and a
// chain whose job was lost (a node killed mid-poll, a job deleted by hand)
// is found overdue by the periodic CheckArgs job and armed again.
//
// # Runs
//
// A poll is a run of the engine. The records, the run row and the new
// incremental state of a poll commit in one batch (engine.RunBatch). The
// state also records the due time of the poll that produced it and the
// count of consecutive failures, so a job retried after its batch
// committed knows its poll is done and only schedules the next one: a
// period is never polled twice. A failed poll is a failed run of the
// engine (engine.RecordFailure): a run row with the error and the previous
// state, committed on the same path as every other run, so the next poll
// asks for the same range again.
package poll
