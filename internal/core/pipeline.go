package core

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// PipelineKind says where a pipeline's records come from.
type PipelineKind string

// Pipeline kinds.
const (
	KindPolling PipelineKind = "polling" // an API polled on an interval
	KindWebhook PipelineKind = "webhook" // records POSTed to /hooks/{token}
	KindP2P     PipelineKind = "p2p"     // another pipeline's output
)

// Valid reports whether k is a known kind.
func (k PipelineKind) Valid() bool {
	return k == KindPolling || k == KindWebhook || k == KindP2P
}

// PipelineStatus is whether a pipeline takes records.
type PipelineStatus string

// Pipeline statuses.
const (
	StatusActive  PipelineStatus = "active"
	StatusPaused  PipelineStatus = "paused"
	StatusFailing PipelineStatus = "failing" // still runs; recent runs failed
)

// Valid reports whether s is a known status.
func (s PipelineStatus) Valid() bool {
	return s == StatusActive || s == StatusPaused || s == StatusFailing
}

// Pipeline is a team's source + mapping + validation + persistence + sinks,
// stored as a versioned spec document.
type Pipeline struct {
	ID     uuid.UUID
	TeamID uuid.UUID
	Name   string
	Kind   PipelineKind
	Status PipelineStatus
	// Version starts at 1 and grows with every change of Spec. Records,
	// rejected records and runs remember the version that produced them.
	Version int
	// Spec is the pipeline document (JSON) as last saved.
	Spec json.RawMessage
	// HookToken is the unguessable path token of a webhook pipeline's
	// ingest URL (/hooks/{token}). The store keeps only its hash
	// (HookTokenHash), so it is set only on the pipeline that creating the
	// pipeline or rotating its token returns; empty otherwise.
	HookToken string
	// HookTokenPrefix is the first HookTokenPrefixLen characters of the
	// token, kept to tell ingest URLs apart; empty for other kinds.
	HookTokenPrefix string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Stats           PipelineStats
}

// PipelineStats are counters kept in the batch transaction.
type PipelineStats struct {
	RecordCount   int64
	RejectedCount int64
	StoredBytes   int64
	LastRecordAt  *time.Time // newest event time stored
	LastRunAt     *time.Time
}

// Record is one stored JSON object with its event time.
type Record struct {
	ID         int64 // 0 when the pipeline does not persist
	PipelineID uuid.UUID
	TS         time.Time
	Version    int
	Data       json.RawMessage // the mapped record, encoded once
}

// Rejected is a record that failed mapping or validation, kept with its
// raw input and the reason.
type Rejected struct {
	ID         int64
	PipelineID uuid.UUID
	RunID      uuid.UUID
	Version    int
	ReceivedAt time.Time
	Raw        json.RawMessage
	Reason     string
}

// RunTrigger says what started a run.
type RunTrigger string

// Run triggers.
const (
	TriggerWebhook RunTrigger = "webhook"
	TriggerPoll    RunTrigger = "poll"
	TriggerUpload  RunTrigger = "upload"
	TriggerP2P     RunTrigger = "p2p"
	TriggerManual  RunTrigger = "manual"
)

// Run is one execution of a pipeline: a poll, a group-committed batch of
// webhook requests, an upload.
type Run struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Version    int
	Trigger    RunTrigger
	StartedAt  time.Time
	Duration   time.Duration
	Fetched    int // records received (stored + rejected + dropped as duplicates by a poll's dedup)
	Stored     int // records accepted (persisted, or passed on when persist is off)
	Rejected   int
	Bytes      int64 // encoded size of the stored records
	Error      string
}

// Secret is a team's named credential. The value is sealed; only the
// secrets package opens it, and no API returns it.
type Secret struct {
	ID        uuid.UUID
	TeamID    uuid.UUID
	Name      string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time // last rotation
}

// HookTokenPrefixLen is how many characters of a webhook token the store
// keeps in clear (Pipeline.HookTokenPrefix): 24 of its 192 random bits.
const HookTokenPrefixLen = 4

// HookTokenHash is the SHA-256 of a webhook ingest token, as the store
// keeps it and looks it up. The token is 192 random bits, so a fast
// unsalted hash is enough: it cannot be reversed or guessed.
func HookTokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// HookTokenPrefixOf returns the prefix of token the store keeps.
func HookTokenPrefixOf(token string) string {
	if len(token) <= HookTokenPrefixLen {
		return ""
	}
	return token[:HookTokenPrefixLen]
}
