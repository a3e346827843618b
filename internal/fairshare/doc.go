// Package fairshare shares a fixed number of slots (CPU slots: as many as
// GOMAXPROCS) between keys (teams) with fair queuing: while slots are
// scarce, a freed slot goes to the next key in turn among those waiting,
// not to the oldest waiter. A key that queues a thousand requests waits
// behind its own queue; another key's one request waits at most for one
// slot to free up. The engine holds a slot while it maps a small chunk of
// records, so that one team's costly mappings cannot starve another
// team's ingest of CPU.
package fairshare
