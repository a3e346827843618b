// Package cache keeps the most recent records of every pipeline in memory
// — the seed's ETS table of "the last 100 records per pipeline" — so live
// streams can start with what just happened and recent-records queries
// need not touch the store.
//
// The engine calls Add after each batch commits (before it publishes the
// batch), streams call Recent on connect and after a lag, and the records
// query calls Range, which also says whether the cache alone can answer.
//
// The cache is a view, not a source of truth: it holds only what this
// process added or loaded, and a pipeline's ring can always be rebuilt from
// the store with Warm. Has tells whether that happened since start.
//
// Guarantees:
//   - A ring holds the pipeline's newest records by event time, whatever
//     the order they arrive in: a backfill of older records does not
//     displace newer ones. Trim drops what retention removes.
//   - Memory is bounded by Size entries per pipeline; Forget a deleted
//     pipeline to drop its ring.
//   - Every method is safe for concurrent use. Pipelines are spread over
//     sharded maps and each ring has its own lock, so pipelines do not
//     contend with each other.
//   - Returned slices are fresh: later Adds never change them. Memory.Add
//     copies the Data it keeps into one buffer per call, so that a few
//     kept records do not keep alive the buffers of their whole batch;
//     the Data returned is shared with the ring: nobody may modify it.
//   - Range claims coverage only when it is sure: when no record of the
//     range could exist in the store without being in the cache, counting
//     every record this process added or loaded. In a cluster that holds
//     only if every node adds every committed batch.
//
// A cluster with Redis uses Redis instead: each pipeline's entries live in
// a sorted set shared by every node, with the same semantics as Memory
// (the same tests run on both), each Add, Warm and Trim one atomic round
// trip, and a node-local Memory that answers while Redis is down.
package cache
