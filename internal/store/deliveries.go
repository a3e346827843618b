package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// Sink deliveries.
//
// Every delivery of a batch to a sink is a River job and a row of the
// deliveries table, written in the same transaction: the row exists if and
// only if the job was enqueued, so a listing shows pending deliveries too.
// Jobs whose arguments implement DeliveryJob get their row from the store
// itself wherever the store inserts jobs (WriteBatch, RetryDelivery,
// AdvanceReplay), so the engine and the jobs it enqueues know nothing of
// the table.
//
// A running delivery job may carry other deliveries of its sink
// (ClaimDeliveries): their own jobs are deleted, their rows' job_id points
// at the carrying job, and their payload keeps their own job's arguments
// while they are carried (and after, if they die).

// NewDelivery is a delivery row as it is created, pending.
type NewDelivery struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	Key        string // the idempotency id
	RunID      uuid.UUID
	ReplayID   uuid.UUID
	Records    int
	From, To   time.Time
	CreatedAt  time.Time
}

// WithoutKeys returns params without the delivery jobs whose idempotency
// key is in have: AdvanceReplay drops those its replay already enqueued.
func WithoutKeys(params []river.InsertManyParams, have map[string]bool) []river.InsertManyParams {
	if len(have) == 0 {
		return params
	}
	out := params[:0:0]
	for _, p := range params {
		if dj, ok := p.Args.(DeliveryJob); ok && have[dj.DeliveryRow().Key] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// DeliveryKeys returns the idempotency keys of the delivery jobs among
// params.
func DeliveryKeys(params []river.InsertManyParams) []string {
	var out []string
	for _, p := range params {
		if dj, ok := p.Args.(DeliveryJob); ok {
			out = append(out, dj.DeliveryRow().Key)
		}
	}
	return out
}

// DeliveryJob is implemented by job arguments that are deliveries: when the
// store inserts such a job, it inserts the job's delivery row in the same
// transaction.
type DeliveryJob interface {
	river.JobArgs
	DeliveryRow() NewDelivery
}

// DeliveryRows returns the delivery rows of the jobs among params, with
// the index in params of each row's job.
func DeliveryRows(params []river.InsertManyParams) ([]NewDelivery, []int) {
	var rows []NewDelivery
	var idx []int
	for i, p := range params {
		if d, ok := p.Args.(DeliveryJob); ok {
			rows = append(rows, d.DeliveryRow())
			idx = append(idx, i)
		}
	}
	return rows, idx
}

// StuckDelivery is a delivery StuckDeliveries found.
type StuckDelivery struct {
	TeamID, PipelineID uuid.UUID
	Sink               string
	ID                 uuid.UUID
	Status             core.DeliveryStatus
	Records            int
	// JobState is the River job's state ("completed", "discarded",
	// "cancelled"), or "" when the job is gone.
	JobState string
	// Args are the job's encoded arguments; nil when the job is gone.
	Args json.RawMessage
}

// DeliveryOutcome is the result of one attempt of a delivery.
type DeliveryOutcome struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	ID         uuid.UUID // the delivery
	// Status is what the delivery becomes: delivered, retrying or dead.
	Status core.DeliveryStatus
	// Attempt is how many attempts of the delivery sent its records to
	// the destination, this one included when it did (attempts that
	// failed before sending, such as a sink held back while it is probed,
	// do not count); the row keeps the highest it saw.
	Attempt  int
	At       time.Time // when the attempt ended
	Duration time.Duration
	// Records is how many records were acknowledged (delivered only).
	Records int
	// Error says why the attempt failed (retrying and dead).
	Error string
	// NextAttemptAt is when the next attempt is due (retrying only).
	NextAttemptAt *time.Time
	// Payload is what RetryDelivery needs to enqueue the delivery again:
	// the job's arguments. Kept for dead deliveries only.
	Payload json.RawMessage
	// FailingAfter is how many failed attempts in a row make the sink
	// failing; 0 never does.
	FailingAfter int
}

// SinkCounts is what one outcome adds to the counters of its sink's state.
type SinkCounts struct {
	Delivered, Records, LatencyUS int64
	Failed, Dead                  int64
	// LastSuccessAt and LastFailureAt replace the sink's when not nil.
	LastSuccessAt, LastFailureAt *time.Time
}

// Counts returns what o adds to its sink's counters; latencyUS is the
// delivery's latency in microseconds (delivered only).
func (o DeliveryOutcome) Counts(latencyUS int64) SinkCounts {
	at := o.At
	if o.Status == core.DeliveryDelivered {
		return SinkCounts{Delivered: 1, Records: int64(o.Records), LatencyUS: latencyUS, LastSuccessAt: &at}
	}
	c := SinkCounts{Failed: 1, LastFailureAt: &at}
	if o.Status == core.DeliveryDead {
		c.Dead = 1
	}
	return c
}

// Add returns the sum of c and d; the later times win.
func (c SinkCounts) Add(d SinkCounts) SinkCounts {
	c.Delivered += d.Delivered
	c.Records += d.Records
	c.LatencyUS += d.LatencyUS
	c.Failed += d.Failed
	c.Dead += d.Dead
	if d.LastSuccessAt != nil {
		c.LastSuccessAt = d.LastSuccessAt
	}
	if d.LastFailureAt != nil {
		c.LastFailureAt = d.LastFailureAt
	}
	return c
}

// DeliveryQuery selects deliveries of one pipeline, newest first.
type DeliveryQuery struct {
	Sink     string              // "" for every sink
	Status   core.DeliveryStatus // "" for every status
	ReplayID uuid.UUID           // Nil for every delivery
	Limit    int
	// BeforeID continues a listing: deliveries older than this one (ids
	// are time-ordered).
	BeforeID uuid.UUID
}

// NewReplay is what CreateReplay needs.
type NewReplay struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	From, To   time.Time
}

// ReplayStep is the progress one step of a replay made: the records it
// handed to deliveries (newest first, so Cursor is the oldest of them), or
// the end of the replay.
type ReplayStep struct {
	TeamID   uuid.UUID
	ID       uuid.UUID
	Enqueued int // records handed to the step's jobs
	// CursorTS and CursorID are the oldest record handed so far.
	CursorTS time.Time
	CursorID int64
	// Status ends the replay when done or failed.
	Status core.ReplayStatus
	Error  string
}

// ReplayCursor is where a replay goes on from.
type ReplayCursor struct {
	TS time.Time // zero before the first step
	ID int64
}

// DeliveryClaim asks ClaimDeliveries for the deliveries one running
// delivery job carries.
type DeliveryClaim struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Sink       string
	// Carrier is the River job that carries the deliveries, Own the
	// delivery it was enqueued for (never claimed).
	Carrier int64
	Own     uuid.UUID
	// Limit bounds how many deliveries are newly claimed (0: none, only
	// those carried already are returned), MaxRecords their records (the
	// first is claimed whatever its size).
	Limit      int
	MaxRecords int
}

// CarriedDelivery is a delivery that another delivery's job carries.
type CarriedDelivery struct {
	ID       uuid.UUID
	Status   core.DeliveryStatus // pending or retrying
	Attempts int
	// Args are the arguments of the delivery's own job, which the claim
	// deleted; the row keeps them (its payload) while it is carried.
	Args json.RawMessage
	// Claimed says the delivery was claimed by this call (false: the
	// carrier carried it already).
	Claimed bool
}

// DeliveryCleanup says which finished deliveries to delete.
type DeliveryCleanup struct {
	DeliveredBefore time.Time
	DeadBefore      time.Time
	Limit           int // rows per call, at most
}

// Deliveries stores sink deliveries, the state of sinks, and replays.
type Deliveries interface {
	// RecordDelivery writes the outcome of an attempt to the delivery's
	// row and to its sink's state, in one transaction, and returns the
	// sink's state after it. An attempt of a delivery already delivered
	// (a rescued job that had succeeded) does not count twice.
	RecordDelivery(ctx context.Context, o DeliveryOutcome) (core.SinkState, error)
	// RecordDeliveries is RecordDelivery for outcomes of one sink, in
	// order, in one transaction. Outcomes of deliveries that are gone
	// (deleted with their pipeline) are skipped.
	RecordDeliveries(ctx context.Context, os []DeliveryOutcome) (core.SinkState, error)
	// ClaimDeliveries returns the deliveries job c.Carrier carries: those
	// it carried already (a job run again after a crash or a failed
	// attempt) and, up to c.Limit, the sink's pending deliveries, oldest
	// first, whose own job is waiting to start (available). It claims
	// those in one transaction: their jobs are deleted, their rows point
	// at the carrier and keep their jobs' arguments, so a claim is never
	// lost and never taken twice. Other deliveries of the sink (running,
	// scheduled for a retry, carried by another job) are left alone.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]CarriedDelivery, error)
	// Delivery returns one delivery of the team.
	Delivery(ctx context.Context, teamID, id uuid.UUID) (core.Delivery, error)
	// Deliveries lists a pipeline's deliveries, newest first.
	Deliveries(ctx context.Context, teamID, pipelineID uuid.UUID, q DeliveryQuery) ([]core.Delivery, error)
	// RetryDelivery makes a dead delivery pending again and enqueues the
	// job that job builds from the payload kept at its death, in one
	// transaction. A delivery that is not dead gives core.ErrConflict.
	RetryDelivery(ctx context.Context, teamID, id uuid.UUID, job func(payload json.RawMessage) (river.InsertManyParams, error)) (core.Delivery, error)
	// SinkStates lists the states of a pipeline's sinks that have one
	// (a sink gets one at its first attempt or status change), by name.
	SinkStates(ctx context.Context, teamID, pipelineID uuid.UUID) ([]core.SinkState, error)
	// SetSinkStatus sets a sink's status and reason; active also clears
	// its run of failures.
	SetSinkStatus(ctx context.Context, teamID, pipelineID uuid.UUID, sink string, status core.SinkStatus, reason string) (core.SinkState, error)
	// DeleteSinkState forgets a sink's state and counters (the sink was
	// removed). Its deliveries stay until cleaned up.
	DeleteSinkState(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) error
	// CreateReplay adds a running replay, counts the records of its range,
	// and enqueues job, in one transaction.
	CreateReplay(ctx context.Context, r NewReplay, job river.InsertManyParams) (core.Replay, error)
	// Replay returns a replay with its deliveries counted.
	Replay(ctx context.Context, teamID, id uuid.UUID) (core.Replay, error)
	// Replays lists a pipeline's replays to a sink, newest first (at most
	// 100).
	Replays(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) ([]core.Replay, error)
	// ReplayCursor returns where a running replay goes on from, or
	// core.ErrNotFound when it is not running any more.
	ReplayCursor(ctx context.Context, teamID, id uuid.UUID) (ReplayCursor, error)
	// AdvanceReplay records a step of a replay and enqueues its delivery
	// jobs (with their rows), in one transaction, so that a replay that
	// stops half-way goes on where its last step ended.
	AdvanceReplay(ctx context.Context, step ReplayStep, jobs []river.InsertManyParams) error
	// StuckDeliveries lists up to limit deliveries, across all teams, that
	// are still pending or retrying, were last updated before before, and
	// whose River job is gone or finished (completed, discarded,
	// cancelled): a crash during their last attempt left them without an
	// outcome, and no job will give them one. It is maintenance (the
	// delivery reconciler).
	StuckDeliveries(ctx context.Context, before time.Time, limit int) ([]StuckDelivery, error)
	// DeleteDeliveries removes finished deliveries older than the bounds
	// and returns how many. It is maintenance: it spans every team.
	DeleteDeliveries(ctx context.Context, c DeliveryCleanup) (int, error)
}
