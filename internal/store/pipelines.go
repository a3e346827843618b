package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
)

// NewPipeline is what CreatePipeline needs. The caller has validated and
// compiled Spec.
type NewPipeline struct {
	Name      string
	Kind      core.PipelineKind
	Spec      json.RawMessage
	HookToken string // webhook pipelines only
	// Upstream is the pipeline a p2p pipeline reads from (see P2P); Nil
	// for other kinds.
	Upstream uuid.UUID
	// Secrets names the team secrets the spec refers to. The store checks
	// in the write's transaction that each exists, and holds them against
	// a concurrent DeleteSecretIfUnused, so that a saved pipeline never
	// refers to a secret deleted meanwhile; a missing one gives an error
	// wrapping ErrSecretMissing.
	Secrets []string
}

// PipelineUpdate replaces a pipeline's spec; the version grows by one.
type PipelineUpdate struct {
	Name string
	Kind core.PipelineKind
	Spec json.RawMessage
	// IfVersion, when not 0, makes the update fail with core.ErrConflict
	// unless the pipeline is still at that version (optimistic locking).
	IfVersion int
	// Upstream replaces the pipeline's upstream link (see P2P); Nil
	// removes it.
	Upstream uuid.UUID
	// Secrets names the team secrets the new spec refers to; see
	// NewPipeline.Secrets.
	Secrets []string
}

// ErrSecretMissing is returned (wrapped, with the secret's name) by
// CreatePipeline, UpdatePipeline and UpdatePipelineSink when a secret of
// NewPipeline.Secrets or PipelineUpdate.Secrets does not exist (any more).
var ErrSecretMissing = fmt.Errorf("%w: the pipeline refers to a secret the team does not have", core.ErrInvalid)

// SinkChange changes the state of one sink of a pipeline in the
// transaction that saves the pipeline's new spec (UpdatePipelineSink).
type SinkChange struct {
	Sink string
	// Remove forgets the sink's state and counters (the sink was removed
	// from the spec); Status and Reason are then ignored.
	Remove bool
	// Status and Reason are the sink's new status; active also clears its
	// run of failures, other statuses keep it.
	Status core.SinkStatus
	Reason string
}

// Pipelines stores pipelines and their spec history.
type Pipelines interface {
	// CreatePipeline adds a pipeline at version 1, status active. A name
	// already used in the team gives core.ErrConflict.
	CreatePipeline(ctx context.Context, teamID uuid.UUID, p NewPipeline) (core.Pipeline, error)
	Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error)
	// Pipelines lists a team's pipelines by name.
	Pipelines(ctx context.Context, teamID uuid.UUID) ([]core.Pipeline, error)
	// PipelineByHookHash finds a webhook pipeline by the hash of its
	// ingest token (core.HookTokenHash). It is the one pipeline lookup
	// without a team id: the token is the credential. The store keeps
	// only the hash, so the pipeline's HookToken is empty.
	PipelineByHookHash(ctx context.Context, hash []byte) (core.Pipeline, error)
	// PipelineVersion returns the spec of an earlier version.
	PipelineVersion(ctx context.Context, teamID, id uuid.UUID, version int) (json.RawMessage, error)
	UpdatePipeline(ctx context.Context, teamID, id uuid.UUID, u PipelineUpdate) (core.Pipeline, error)
	SetPipelineStatus(ctx context.Context, teamID, id uuid.UUID, status core.PipelineStatus) (core.Pipeline, error)
	// RotateHookToken replaces a webhook pipeline's ingest token (it keeps
	// its hash and prefix); the pipeline returned holds the new token.
	RotateHookToken(ctx context.Context, teamID, id uuid.UUID, token string) (core.Pipeline, error)
	// DeletePipeline removes a pipeline with its records, rejected records
	// and runs.
	DeletePipeline(ctx context.Context, teamID, id uuid.UUID) error
	// UpdatePipelineSink is UpdatePipeline and a change of one sink's
	// state in one transaction: the state after the change is returned
	// (the zero state, with the sink's name, when it was removed).
	UpdatePipelineSink(ctx context.Context, teamID, id uuid.UUID, u PipelineUpdate, c SinkChange) (core.Pipeline, core.SinkState, error)
}

// Batch is everything one batch commits, atomically: the records, the
// rejected records, the run row, the pipeline's stats and the jobs that
// carry the batch further (sinks, downstream pipelines).
type Batch struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Version    int
	// Persist false keeps Records out of the records table; they still
	// count in the run and go to Jobs.
	Persist bool
	Run     core.Run
	// MergeRun makes Run a run that spans many batches (push traffic: see
	// docs/architecture.md, "Runs for push traffic"): when a run with
	// Run.ID exists, the batch adds its counts to it and extends its
	// duration to the end of this batch, instead of inserting a new run.
	MergeRun bool
	// RunStored, with MergeRun, tells that a committed batch has stored
	// the run already: this one only adds to it. A store may then skip
	// inserting the run (a hint: false is always correct).
	RunStored bool
	Records   []core.Record // TS and Data set; WriteBatch sets ID when persisted
	Rejected  []core.Rejected
	// Rollups aggregates the numeric fields of Records per minute: the
	// engine adds every persisted record to it (rollup.Set.Add or
	// AddNumbers) before the fields are encoded away. WriteBatch writes
	// it with the records; a batch whose Set saw fewer records than it
	// persists leaves the pipeline's rollups marked incomplete up to its
	// newest record, and charts of that range read the raw records.
	Rollups rollup.Set
	// Jobs, when set, is called once the records have their ids (before
	// the transaction or inside it: it must not read the database) and
	// returns the jobs that carry the
	// batch further; they are inserted in the same transaction (River's
	// transactional enqueue), so they exist if and only if the batch
	// committed.
	Jobs func(records []core.Record) ([]river.InsertManyParams, error)
	// State, when not nil, replaces the pipeline's incremental polling
	// state in the same transaction.
	State json.RawMessage
	// Upload, when not nil, advances a file upload by one chunk in the
	// same transaction (see UploadChunk).
	Upload *UploadChunk
	// WebhookIDs are the webhook-ids of the signed requests whose records
	// the batch holds. They are inserted in the same transaction; when one
	// of them is already stored for the pipeline and not expired at its
	// At, WriteBatch fails with an error wrapping core.ErrAlreadyReceived
	// and nothing of the batch is kept.
	WebhookIDs []WebhookID
	// Keys, when not empty, are remembered as the pipeline's dedup keys
	// until KeysExpire, in the same transaction (AddKeys).
	Keys       [][]byte
	KeysExpire time.Time
	// Finish, when not nil, ends the pipeline's poll in the same
	// transaction (FinishPoll): the next poll is scheduled if and only if
	// the batch committed.
	Finish *PollFinish
}

// RecordBatch is the id ranges of one persisted batch, as WriteBatch keeps
// them: the records a batch committed together, for replays that deliver
// them together again.
type RecordBatch struct {
	// Ranges are the batch's record ids, in runs of consecutive ids, in
	// the order the batch held the records.
	Ranges   []RecordIDRange
	Records  int
	From, To time.Time // the oldest and newest event time among them
}

// FirstID is the batch's smallest record id.
func (b RecordBatch) FirstID() int64 { return b.Ranges[0].First }

// RecordBatches finds the batches records were committed in.
type RecordBatches interface {
	// RecordBatches returns the batches of the pipeline that hold any of
	// ids, each once, by first id. Records stored before the store kept
	// batches (and those whose batch expired) have none.
	RecordBatches(ctx context.Context, teamID, pipelineID uuid.UUID, ids []int64) ([]RecordBatch, error)
}

// BatchOf returns the RecordBatch of a batch's persisted records, in the
// order they were given ids; ok is false when it persists none.
func BatchOf(b *Batch) (rb RecordBatch, ok bool) {
	if !b.Persist || len(b.Records) == 0 {
		return RecordBatch{}, false
	}
	ids := make([]int64, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		ids[i] = r.ID
		if i == 0 || r.TS.Before(rb.From) {
			rb.From = r.TS
		}
		if i == 0 || r.TS.After(rb.To) {
			rb.To = r.TS
		}
	}
	rb.Ranges, rb.Records = IDRanges(ids), len(ids)
	return rb, true
}

// WebhookID is a signed webhook request's id as a batch remembers it.
type WebhookID struct {
	// Hash is the SHA-256 of the webhook-id header (WebhookIDHash).
	Hash []byte
	// At is the request's arrival: an id stored before that expired at
	// At is replaced.
	At time.Time
	// Expires is when a replay of the request would fail the timestamp
	// check on its own: the id need not be kept longer.
	Expires time.Time
}

// WebhookIDHash is the form in which a webhook-id is stored: a fixed size,
// whatever the header holds.
func WebhookIDHash(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// WebhookIDs remembers the webhook-ids of signed requests per pipeline,
// for the signature's tolerance window (replay protection that survives a
// restart). Batches insert them (Batch.WebhookIDs).
type WebhookIDs interface {
	// WebhookIDSeen reports whether the pipeline stored a batch with the
	// webhook-id hash that has not expired at now.
	WebhookIDSeen(ctx context.Context, teamID, pipelineID uuid.UUID, hash []byte, now time.Time) (bool, error)
	// DeleteExpiredWebhookIDs forgets up to limit ids that expired before
	// now, across all pipelines, and returns how many.
	DeleteExpiredWebhookIDs(ctx context.Context, now time.Time, limit int) (int, error)
}

// RecordQuery selects records of one pipeline, newest first.
type RecordQuery struct {
	From, To time.Time // inclusive From, exclusive To; zero means open
	Limit    int       // 1..1000
	// Before continues a listing: records strictly older than (TS, ID).
	BeforeTS time.Time
	BeforeID int64
}

// RejectedQuery selects rejected records of one pipeline, newest first.
type RejectedQuery struct {
	Limit    int
	BeforeID int64 // 0 for the first page
}

// RunQuery selects runs of one pipeline, newest first.
type RunQuery struct {
	Limit    int
	BeforeAt time.Time
	BeforeID uuid.UUID
}

// Records stores what pipelines produce.
type Records interface {
	// WriteBatch commits a batch in one transaction and returns the
	// records with their ids. Nothing of a failed batch is kept.
	WriteBatch(ctx context.Context, b *Batch) error
	Records(ctx context.Context, teamID, pipelineID uuid.UUID, q RecordQuery) ([]core.Record, error)
	RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q RejectedQuery) ([]core.Rejected, error)
	Runs(ctx context.Context, teamID, pipelineID uuid.UUID, q RunQuery) ([]core.Run, error)
}

// Secrets stores teams' sealed credentials.
type Secrets interface {
	// CreateSecret adds a secret; a name already used in the team gives
	// core.ErrConflict. The id is chosen by the caller because the sealed
	// value is bound to it.
	CreateSecret(ctx context.Context, s core.Secret) (core.Secret, error)
	Secret(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error)
	Secrets(ctx context.Context, teamID uuid.UUID) ([]core.Secret, error)
	// RotateSecret replaces the sealed value.
	RotateSecret(ctx context.Context, teamID uuid.UUID, name string, sealed []byte) (core.Secret, error)
	DeleteSecret(ctx context.Context, teamID uuid.UUID, name string) error
	// DeleteSecretIfUnused deletes a secret unless a pipeline refers to
	// it, in one transaction: users gets the team's pipelines, read after
	// the secret was locked against pipeline saves that name it (see
	// NewPipeline.Secrets), and names those that refer to it. When it
	// names any, nothing is deleted and they are returned. An unknown
	// secret gives core.ErrNotFound.
	DeleteSecretIfUnused(ctx context.Context, teamID uuid.UUID, name string, users func([]core.Pipeline) []string) ([]string, error)
}
