package core

import (
	"time"

	"github.com/google/uuid"
)

// DeliveryStatus is where one delivery of a batch to a sink is.
type DeliveryStatus string

// Delivery statuses. A delivery goes pending → delivered, or pending →
// retrying → … → delivered or dead. A dead delivery can be retried by
// hand, which makes it pending again.
const (
	// DeliveryPending: committed with its batch, not attempted yet.
	DeliveryPending DeliveryStatus = "pending"
	// DeliveryRetrying: at least one attempt failed; another is scheduled.
	DeliveryRetrying DeliveryStatus = "retrying"
	// DeliveryDelivered: the destination acknowledged every record.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryDead: the last attempt failed, or the failure was one no
	// retry can fix; LastError says why.
	DeliveryDead DeliveryStatus = "dead"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryRetrying, DeliveryDelivered, DeliveryDead:
		return true
	}
	return false
}

// Delivery is one batch of a pipeline's records on its way to one sink.
type Delivery struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	// Key is the idempotency id the destination sees (webhook-id for HTTP
	// sinks): the same for every attempt and replay of the same records.
	Key string
	// RunID is the run that committed the batch; Nil for replays.
	RunID uuid.UUID
	// ReplayID is the replay that made the delivery; Nil otherwise.
	ReplayID uuid.UUID
	// Records is how many records the delivery carries.
	Records int
	// From and To bound the records' event times.
	From, To time.Time
	Status   DeliveryStatus
	Attempts int
	// LastError is the error of the last failed attempt; empty once
	// delivered.
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time // when retrying
	DeliveredAt   *time.Time
	// Duration is how long the last attempt took.
	Duration time.Duration
	// Latency is from the batch's commit to the destination's
	// acknowledgement; set once delivered.
	Latency time.Duration
}

// SinkStatus is the health of a sink.
type SinkStatus string

// Sink statuses.
const (
	// SinkActive: the last attempt succeeded, or too few failed in a row
	// to call the sink failing.
	SinkActive SinkStatus = "active"
	// SinkFailing: several attempts in a row failed; deliveries keep being
	// retried, and other sinks and ingest are not affected.
	SinkFailing SinkStatus = "failing"
	// SinkDisabled: the sink is switched off (enabled: false), by a user or
	// because the destination answered that it is gone (HTTP 410).
	SinkDisabled SinkStatus = "disabled"
)

// SinkState is the health and the counters of one sink of a pipeline.
type SinkState struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	Status     SinkStatus
	// Reason says why the sink is failing or disabled.
	Reason              string
	ConsecutiveFailures int
	// Delivered counts the deliveries acknowledged, Records their records.
	Delivered int64
	Records   int64
	// Failed counts failed attempts; Dead the deliveries that died.
	Failed int64
	Dead   int64
	// LatencyTotal sums the latencies of the Delivered deliveries.
	LatencyTotal  time.Duration
	LastSuccessAt *time.Time
	LastFailureAt *time.Time
	UpdatedAt     time.Time
}

// ReplayStatus is where a replay is.
type ReplayStatus string

// Replay statuses.
const (
	// ReplayRunning: records are being read and handed to deliveries.
	ReplayRunning ReplayStatus = "running"
	// ReplayDone: every record of the range was handed to a delivery;
	// the deliveries themselves may still be on their way.
	ReplayDone ReplayStatus = "done"
	// ReplayFailed: the replay stopped; Error says why.
	ReplayFailed ReplayStatus = "failed"
)

// Replay re-delivers the stored records of a time range to one sink.
type Replay struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	// From (inclusive) and To (exclusive) bound the records' event times.
	From, To time.Time
	Status   ReplayStatus
	// Total is how many records the range held when the replay started;
	// Enqueued how many were handed to deliveries so far.
	Total    int64
	Enqueued int64
	// Deliveries counts the replay's deliveries by status, and
	// RecordsDelivered the records of those delivered.
	Deliveries       map[DeliveryStatus]int
	RecordsDelivered int64
	Error            string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	FinishedAt       *time.Time
}
