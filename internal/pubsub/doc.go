// Package pubsub is Tributary's broker: it carries each committed batch of
// a pipeline to whoever watches it live — SSE streams, GraphQL
// subscriptions, dashboards.
//
// The engine publishes one KindRecords message per committed batch on the
// topic PipelineTopic(id); its Payload is the JSON encoding of a Batch, so
// a stream handler can forward it without decoding, and a cluster broker
// (PostgreSQL LISTEN/NOTIFY, Redis) can carry it unchanged.
//
// Guarantees of every Broker:
//   - Publish never waits for a subscriber. Each subscription has a bounded
//     buffer; a message that does not fit is dropped for that subscription
//     only.
//   - Drops are never silent. A subscription that lost messages receives
//     one KindLagged message, carrying the exact number lost, before any
//     newer message. It is queued as soon as the buffer has room: at the
//     next Publish, or — when nothing is published — by a timer that checks
//     after 5 ms, backing off to once a second while the reader stays
//     stuck. The reader then reloads from the recent-records cache.
//     Because the engine updates the cache before it publishes, everything
//     a subscription lost is in the cache by the time it reads the marker.
//   - Per topic, all subscriptions see messages in one order: the order
//     Publish calls returned in.
//   - Dashboards are best effort: delivery is at most once, and a
//     subscription sees only messages published after Subscribe returned.
//     Durable delivery is the job of sinks, not of this package.
//
// Memory is the in-process broker for one node. A cluster broker relays
// messages between nodes and delivers them locally through a Memory, so
// the buffering and lag rules live in one place.
package pubsub
