// Package p2p carries the committed batches of a pipeline to the p2p
// pipelines that read from it ("downstream" pipelines). It owns the link
// index, the engine fan-out, the River job arguments (RunArgs,
// DispatchArgs) and their workers, which Workers.Register adds to River.
//
// # Flow
//
// A p2p pipeline names its upstream in its spec (source.pipeline.upstream,
// a name or an id of the same team). When it is saved, the API resolves
// the name to an id and the store writes the link (store.P2P) in the same
// transaction as the pipeline, refusing links across teams and links that
// would close a cycle. When a batch of the upstream commits, the engine
// calls Fanout inside the batch's transaction; Fanout finds the upstream's
// downstream pipelines in an in-memory Index (no query while the
// transaction holds its locks) and returns one RunArgs job per downstream
// (and per thousand records), inserted by the store in that same
// transaction. So a downstream run is enqueued if and only if the upstream
// batch committed: chaining is at least once. The jobs' worker
// (RunWorker) runs the downstream's own mapping, validation,
// persistence and sinks with engine.RunBatch (trigger p2p), and the
// downstream's batch fans out again to its own downstreams: A → B → C.
//
// Records travel by id when the upstream persists them (the worker reads
// them back with store.P2P.RecordsByID, bounded by their event times so a
// partitioned table is pruned), and inline in the job when it does not
// (persist: false). Each record reaches the downstream as its mapped data
// with "ts" set to the upstream event time when the data has no "ts" of
// its own, so a downstream without a mapping keeps the upstream's event
// times; a downstream whose mapping builds its own fields keeps them with
// "timestamp": {"path": "ts"}.
//
// A downstream run is one run of the downstream (trigger p2p) per job,
// with the downstream's own counts, rejected records and sinks. As every
// River job, a job may run again after a crash between the downstream's
// commit and the job's completion: the downstream then stores that batch
// twice. That is the at-least-once of chaining; exactly-once would need
// the job's completion in the downstream batch's transaction.
//
// # The index across nodes
//
// Every node keeps its own Index: loaded at start (serving waits for it),
// reloaded every RefreshInterval, and reloaded at once on the node that
// saves or deletes a pipeline (Index.Changed), which also tells the other
// nodes through the pub/sub broker. Consequences:
//
//   - A new link takes effect at once on the node that saved it and, on
//     other nodes, when they hear of it from the broker or at their next
//     reload (RefreshInterval, 2s by default). Upstream batches committed
//     on another node in that window do not reach the new downstream. A
//     p2p pipeline therefore receives the batches committed after it was
//     created, give or take that window; it never receives older ones.
//   - A removed or moved link may still be in a stale index: the worker
//     checks the link in the store before it runs and drops a job whose
//     link no longer holds.
//   - When a node cannot reload its index for StaleAfter (30s by
//     default), its index is no longer trusted: Fanout then enqueues one
//     DispatchArgs job per batch instead, still in the batch's
//     transaction, and that job's worker looks the downstreams up in the
//     store after the commit. A broken reload costs a job per batch; it
//     never loses a batch.
//
// # Paused downstreams
//
// A paused pipeline takes no records (its webhook answers 409, it is not
// polled); a paused p2p pipeline likewise skips the upstream batches whose
// jobs run while it is paused. They are not held for later: holding would
// pile up jobs (and, for a persist=false upstream, their records) without
// bound for as long as the pipeline stays paused.
//
// # Loops and depth
//
// Cycles are refused when pipelines are saved. As a second line of
// defence, a job carries its depth in the chain and Fanout stops
// fanning out past MaxDepth hops, logging an error.
package p2p
