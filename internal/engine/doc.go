// Package engine runs the flow of one batch (DESIGN.md §2): map →
// validate → write in one transaction → cache → broadcast.
//
// # Webhook requests: Process, then Submit
//
// A request handler decodes the body, gets the pipeline's compiled spec
// from Compiled (compiled once per pipeline version and cached), and calls
// Process in its own goroutine: it maps and validates every record and
// encodes each accepted record to JSON exactly once. Then it calls Submit,
// which hands the records to the pipeline's batcher and blocks until the
// transaction holding them has committed; only then does the handler
// answer 2xx.
//
//	c, err := eng.Compiled(p)
//	accepted, rejected := eng.Process(c, inputs, time.Now())
//	res, err := eng.Submit(ctx, p, c, accepted, rejected, core.TriggerWebhook)
//	// err == nil: res.Accepted and res.Rejected records are durable
//
// Concurrent submissions to one pipeline are grouped (group commit): a
// group is written as one store.Batch — records, rejected records, one run
// row, stats — when it holds Config.MaxBatchRecords records or
// Config.Linger after its first submission, so that a burst of
// single-record requests costs a few transactions, not one each. If a
// group's write fails, every submitter of the group gets an error and
// nothing of the group is kept; if the failure may be due to one
// submission's records (not a timeout or cancellation), each submission is
// retried in a transaction of its own so that the others still commit.
//
// # Other sources: RunBatch
//
// Polls, uploads and p2p runs bring many records at once: RunBatch
// processes and writes them as one batch in the caller's goroutine, with
// the pipeline's polling state in the same transaction.
//
// # After commit
//
// After a batch commits — and never before — its records are added to the
// recent-records cache, then the batch is published as one pubsub.Batch on
// pubsub.PipelineTopic(id). Publishing never blocks. Submitters are
// answered after that, so a client that got its 2xx finds its records in
// the cache. With persist off, records skip the records table (they have
// no id) but still go through the cache and the broadcast.
//
// Warm loads a pipeline's newest records into the cache and is ordered
// with the pipeline's commits, so that no batch appears twice in it.
//
// # Guarantees
//
//   - Nothing is dropped silently: every record of an input is either
//     accepted or rejected (with its raw input and a reason), and Submit
//     returns nil only when both kinds are committed.
//   - Each committed batch is added to the cache and published exactly
//     once; a failed one never is.
//   - Close writes what was submitted and waits for it.
package engine
