// Package fairshare shares a fixed number of slots (CPU slots: as many as
// GOMAXPROCS) between keys (teams) with fair queuing: while slots are
// scarce, a freed slot goes to the next key in turn among those waiting,
// not to the oldest waiter. A key holds at most perKey slots (the engine
// uses all but one), so that another key's request finds a free slot at
// once. A holder works in slices and calls Yield between them: when
// another key waits, the slot passes to it and the holder waits for its
// key's next turn. A key that queues a thousand requests waits behind its
// own queue; another key's request waits at most for one slice. The
// engine holds a slot while it maps a request's records, yielding every
// few thousand operations of the mapping's budget, so that one team's
// costly mappings cannot starve another team's ingest of CPU.
package fairshare
