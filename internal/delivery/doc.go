// Package delivery carries committed batches to a pipeline's sinks, at
// least once, and keeps account of it: the deliveries a user lists, retries
// by hand and replays.
//
// # The flow of one delivery
//
//  1. Enqueue. Service is an engine.Fanout: inside every batch's
//     transaction it returns one DeliverArgs job per enabled sink of the
//     pipeline's spec (and per MaxJobRecords records). Persisted records
//     travel by id range, the records of a pipeline that does not persist
//     travel in the job. The store inserts each job's row in the
//     deliveries table in the same transaction (store.DeliveryJob), so a
//     delivery is pending if and only if its batch committed. The Fanout
//     touches no database: it reads the sinks from the pipeline it is
//     given, parsed once per version.
//  2. Deliver. A River worker on the "deliveries" queue loads the records,
//     opens the sink (kept open between deliveries, one per pipeline sink
//     and configuration, see pool), splits the records to the sink's
//     MaxBatch, and calls Sink.Deliver for each part. The idempotency id
//     (Batch.DeliveryID, webhook-id for HTTP) is a function of the pipeline,
//     the sink and the record ids, so every retry and replay of the same
//     records carries the same id; a split part adds ".n".
//     When the sink lags, one job carries many deliveries: on its first
//     attempt a delivery job claims the sink's later pending deliveries
//     whose jobs have not started (store.ClaimDeliveries, up to
//     Config.CarryMax deliveries and CarryRecords records; their jobs are
//     deleted and their rows point at the carrier), reads all their
//     records at once, and sends them in commit order, each delivery as
//     its own Sink.Deliver call with its own idempotency id, so a
//     receiver dedupes exactly as before. A permanent failure kills that
//     delivery and the job goes on; any other failure stops the job, which
//     retries the failed delivery and those after it (dying with them
//     after its last attempt). A job that has failed takes on no more,
//     and one that has worked Config.CarryFor pauses (a snooze) and goes
//     on at its next run.
//  3. Account. The outcomes of a job's deliveries are written to their
//     rows and their sink's state in one transaction (per 50 deliveries):
//     delivered (with the latency from commit to acknowledgement),
//     retrying (with the next attempt's time), or dead (with the error, and the job's arguments so that a
//     user can retry it by hand). FailingAfter failed attempts in a row
//     mark the sink failing; a success makes it active again.
//
// # Retries
//
// Failed attempts are retried on Config.Schedule (by default 5s, 5m, 30m,
// 2h, 5h, 10h, 10h: eight attempts over about 28 hours, with jitter), or
// after the destination's Retry-After (capped at MaxRetryAfter); after the
// last attempt, the delivery is dead. A sink.Permanent error kills the
// delivery at once; a sink.GoneError (HTTP 410) also disables the sink: its
// spec entry gets enabled: false (a new version of the pipeline), so later
// batches no longer enqueue for it, and its state says why.
//
// A failing or hanging sink holds little: after a failed delivery, one
// delivery at a time probes the sink, and the others fail their attempt at
// once (and follow their schedule) until a probe succeeds. A healthy sink
// carries up to its Kind.Concurrency deliveries at once per node; more
// wait briefly, then are put back (snoozed) without using up an attempt.
// Deliveries have a queue of their own, so none of this delays polls,
// uploads or p2p runs, and none of it touches ingest.
//
// # Crashes
//
// A process that dies mid-delivery leaves its job running; River rescues it
// once its attempt timeout and the client's rescue delay have passed, and
// it runs again. A job whose row already says delivered (the crash came
// between the row's update and River's completion) is not delivered again;
// others are (at least once: the destination may see a batch twice, with
// the same idempotency id).
//
// A rescued job finds the deliveries it carried by their rows (job_id),
// and delivers those not recorded delivered again. A carrying job that
// completes has recorded every delivery it carried; the reconciler kills
// a carried delivery left without outcome with its own job's arguments
// (kept in its row while it is carried), so that it can be retried by
// hand.
//
// A process killed during a delivery's last attempt leaves its row
// retrying while River discards the job: the reconciler
// (Service.Reconcile, a periodic job) settles such deliveries, delivered
// when their job completed, dead otherwise.
//
// A delivery's attempts count the times its records were sent to the
// destination; tries that failed before sending (the sink held back while
// probed, a sink that could not be opened) use up the schedule but are not
// counted.
//
// # Replays
//
// A replay re-delivers the stored records of a time range to one sink: a
// ReplayArgs job walks the range newest first a page at a time, and hands
// the original deliveries of each page to normal deliveries (with retries
// and dead state), recording its progress in the same transaction, so that
// a replay interrupted half-way goes on where it stopped. The store keeps
// the id ranges of every batch (store.RecordBatches), so a replay cuts
// them as the fanout did: one delivery per part of MaxJobRecords records
// of an original batch that has a record in the range, whole, with the
// original idempotency id. Records stored before batches were kept are
// delivered in pages of their own.
package delivery
