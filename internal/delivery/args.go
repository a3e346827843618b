package delivery

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Queue is the River queue of deliveries and replays, apart from the
// default queue so that a backlog of deliveries never delays polls, p2p
// runs or uploads.
const Queue = "deliveries"

// Bounds of what one delivery job carries.
const (
	// MaxJobRecords is the most records one delivery job carries; a larger
	// batch becomes several deliveries.
	MaxJobRecords = 1000
	// MaxInlineBytes bounds the record data one job carries inline (from a
	// pipeline that does not persist).
	MaxInlineBytes = 1 << 20
)

// DeliverArgs is the job that delivers one batch, or part of one, to one
// sink: persisted records by id, or the records themselves.
type DeliverArgs struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id"`
	Sink       string    `json:"sink"`
	// Delivery is the id of the delivery's row.
	Delivery uuid.UUID `json:"delivery"`
	// Key is the idempotency id the destination sees.
	Key      string    `json:"key"`
	RunID    uuid.UUID `json:"run_id,omitzero"`
	ReplayID uuid.UUID `json:"replay_id,omitzero"`
	// Count is how many records the delivery carries; From and To bound
	// their event times (inclusive).
	Count int       `json:"count"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	// IDs are ranges [first, last] of persisted record ids.
	IDs [][2]int64 `json:"ids,omitempty"`
	// Records are the records of a pipeline that does not persist.
	Records []InlineRecord `json:"records,omitempty"`
}

// InlineRecord is one record a job carries.
type InlineRecord struct {
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "sink_delivery" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

// DeliveryRow implements store.DeliveryJob: the store writes the row with
// the job.
func (a DeliverArgs) DeliveryRow() store.NewDelivery {
	return store.NewDelivery{
		ID: a.Delivery, TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, Key: a.Key,
		RunID: a.RunID, ReplayID: a.ReplayID, Records: a.Count, From: a.From, To: a.To, CreatedAt: core.Now(),
	}
}

var _ store.DeliveryJob = DeliverArgs{}

// ReplayArgs is the job that walks a replay's range and hands its records
// to deliveries, a step at a time.
type ReplayArgs struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id"`
	Replay     uuid.UUID `json:"replay"`
	Sink       string    `json:"sink"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
}

// Kind implements river.JobArgs.
func (ReplayArgs) Kind() string { return "sink_replay" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ReplayArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

// CleanupArgs is the periodic job that deletes old finished deliveries.
type CleanupArgs struct{}

// Kind implements river.JobArgs.
func (CleanupArgs) Kind() string { return "delivery_cleanup" }

// InsertOpts makes the cleanup unique per period, across nodes.
func (CleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByPeriod: CleanupInterval}}
}

// CleanupInterval is how often old deliveries are deleted.
const CleanupInterval = time.Hour

// ReconcileArgs is the periodic job that gives an outcome to deliveries
// whose job ended without one (see Service.Reconcile).
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "delivery_reconcile" }

// InsertOpts makes the reconciler unique per period, across nodes.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByPeriod: ReconcileInterval}}
}

// ReconcileInterval is how often the reconciler runs, and ReconcileGrace
// how long a delivery must have been left alone before it looks at it.
const (
	ReconcileInterval = 5 * time.Minute
	ReconcileGrace    = time.Minute
)

// keyForIDs is the idempotency id of persisted records: a function of
// the pipeline, the sink and the records' ids only, so that every retry and
// every replay of the same records carries the same id.
func keyForIDs(pipelineID uuid.UUID, sinkName string, ids [][2]int64) string {
	var b strings.Builder
	b.WriteString(sinkName)
	b.WriteByte(0)
	for _, r := range ids {
		b.WriteString(strconv.FormatInt(r[0], 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(r[1], 10))
		b.WriteByte(',')
	}
	return "dlv_" + uuid.NewSHA1(pipelineID, []byte(b.String())).String()
}

// keyForRun is the idempotency id of records a pipeline did not persist:
// a function of the run that committed them, the sink and the part of the
// run's batch.
func keyForRun(pipelineID uuid.UUID, sinkName, runID string, part int) string {
	return "dlv_" + uuid.NewSHA1(pipelineID, []byte(sinkName+"\x00"+runID+"\x00"+strconv.Itoa(part))).String()
}

// idRanges compresses record ids, sorted, into ranges of consecutive ids.
func idRanges(ids []int64) [][2]int64 {
	slices.Sort(ids)
	var out [][2]int64
	for _, r := range store.IDRanges(ids) {
		out = append(out, [2]int64{r.First, r.Last})
	}
	return out
}
