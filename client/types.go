package client

import (
	"encoding/json"
	"time"
)

// User is a user account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
}

// Team is a team, with the caller's role in it.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Me is who the caller is: the user (signed in) or the token, and teams.
type Me struct {
	User  *User  `json:"user,omitempty"`
	Token *Token `json:"token,omitempty"`
	Teams []Team `json:"teams"`
}

// Member is a membership of a team.
type Member struct {
	User     User      `json:"user"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// Token is an API token without its secret.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Hint       string     `json:"hint"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreatedToken is a new API token with its secret, shown only once.
type CreatedToken struct {
	Token
	Secret string `json:"secret"`
}

// TokenRequest asks for a new API token.
type TokenRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Pipeline is a pipeline as the API shows it.
type Pipeline struct {
	ID      string `json:"id"`
	TeamID  string `json:"team_id"`
	Version int    `json:"version"`
	Status  string `json:"status"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	// Spec is the pipeline document as saved, with its defaults filled in.
	Spec json.RawMessage `json:"spec"`
	// IngestURL is where a webhook pipeline takes records: set only in the
	// answers of CreatePipeline and of rotating the token (editors only).
	IngestURL string `json:"ingest_url,omitempty"`
	// IngestTokenPrefix is the first characters of the ingest URL's token
	// (editors only).
	IngestTokenPrefix string        `json:"ingest_token_prefix,omitempty"`
	Stats             PipelineStats `json:"stats"`
	CreatedAt         time.Time     `json:"created_at"`
	UpdatedAt         time.Time     `json:"updated_at"`
}

// PipelineStats are a pipeline's counters.
type PipelineStats struct {
	RecordCount   int64       `json:"record_count"`
	RejectedCount int64       `json:"rejected_count"`
	StoredBytes   int64       `json:"stored_bytes"`
	LastRecordAt  *time.Time  `json:"last_record_at,omitempty"`
	LastRunAt     *time.Time  `json:"last_run_at,omitempty"`
	Sinks         []SinkStats `json:"sinks,omitempty"`
}

// SinkStats are a sink's delivery counters.
type SinkStats struct {
	Sink                string     `json:"sink,omitempty"`
	Delivered           int64      `json:"delivered"`
	Records             int64      `json:"records"`
	Failed              int64      `json:"failed"`
	Dead                int64      `json:"dead"`
	ConsecutiveFailures int64      `json:"consecutive_failures"`
	AvgLatencyMS        float64    `json:"avg_latency_ms"`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
}

// Record is a stored record.
type Record struct {
	// ID is the record's id; 0 for a pipeline that does not persist.
	ID   int64           `json:"id"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// RecordPage is a page of records, newest first.
type RecordPage struct {
	Records []Record `json:"records"`
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// RecordQuery selects records. Zero fields are left to the server.
type RecordQuery struct {
	From, To time.Time
	Limit    int
	Cursor   string
}

// Rejected is a record that failed mapping or validation.
type Rejected struct {
	ID         int64           `json:"id"`
	RunID      string          `json:"run_id"`
	Version    int             `json:"version"`
	ReceivedAt time.Time       `json:"received_at"`
	Raw        json.RawMessage `json:"raw"`
	Reason     string          `json:"reason"`
}

// RejectedPage is a page of rejected records.
type RejectedPage struct {
	Rejected   []Rejected `json:"rejected"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// Run is one run of a pipeline: a poll, a webhook batch, an upload chunk.
type Run struct {
	ID         string    `json:"id"`
	Version    int       `json:"version"`
	Trigger    string    `json:"trigger"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	Fetched    int64     `json:"fetched"`
	Stored     int64     `json:"stored"`
	Rejected   int64     `json:"rejected"`
	Bytes      int64     `json:"bytes"`
	Error      string    `json:"error,omitempty"`
}

// RunPage is a page of runs.
type RunPage struct {
	Runs       []Run  `json:"runs"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// PageQuery pages through a list.
type PageQuery struct {
	Limit  int
	Cursor string
}

// RunNow is the answer to RunPipeline.
type RunNow struct {
	Pipeline string    `json:"pipeline"`
	Due      time.Time `json:"due"`
}

// Schedule is a polling pipeline's schedule.
type Schedule struct {
	Pipeline string     `json:"pipeline"`
	Status   string     `json:"status"`
	Interval string     `json:"interval"`
	NextDue  *time.Time `json:"next_due,omitempty"`
	Running  bool       `json:"running"`
}

// Preview asks to try a spec without saving it.
type Preview struct {
	Spec     json.RawMessage `json:"spec"`
	Input    json.RawMessage `json:"input,omitempty"`
	State    map[string]any  `json:"state,omitempty"`
	Limit    int             `json:"limit,omitempty"`
	MaxPages int             `json:"max_pages,omitempty"`
}

// PreviewResult is what a preview found.
type PreviewResult struct {
	Fetched  int               `json:"fetched"`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Requests int               `json:"requests"`
	More     bool              `json:"more"`
	Raw      []json.RawMessage `json:"raw"`
	Records  []PreviewRecord   `json:"records"`
	Errors   []PreviewError    `json:"errors"`
	Error    string            `json:"error,omitempty"`
	Sample   string            `json:"sample,omitempty"`
	State    json.RawMessage   `json:"state,omitempty"`
}

// PreviewRecord is a mapped record of a preview.
type PreviewRecord struct {
	Index int             `json:"index"`
	TS    time.Time       `json:"ts"`
	Data  json.RawMessage `json:"data"`
}

// PreviewError is a record of a preview that failed.
type PreviewError struct {
	Index  int             `json:"index"`
	Reason string          `json:"reason"`
	Raw    json.RawMessage `json:"raw"`
}

// SeriesQuery asks for bucketed aggregates of a numeric field.
type SeriesQuery struct {
	Field    string
	From, To time.Time
	Bucket   string // "1m", "1h", "raw"…; empty lets the server choose
	Agg      string // avg (default), min, max, sum, count, first, last
	Source   string // auto (default), raw, 1m, 1h, 1d
}

// Series is the answer to a SeriesQuery.
type Series struct {
	Field            string        `json:"field"`
	Agg              string        `json:"agg"`
	Bucket           string        `json:"bucket"`
	From             time.Time     `json:"from"`
	To               time.Time     `json:"to"`
	Source           string        `json:"source"`
	EstimatedRecords int64         `json:"estimated_records"`
	Points           []SeriesPoint `json:"points"`
}

// SeriesPoint is one bucket of a Series.
type SeriesPoint struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
	N int64     `json:"n"`
}

// Storage is what a pipeline's records take.
type Storage struct {
	Records        int64      `json:"records"`
	StoredBytes    int64      `json:"stored_bytes"`
	DiskBytes      int64      `json:"disk_bytes"`
	OldestRecordAt *time.Time `json:"oldest_record_at,omitempty"`
	NewestRecordAt *time.Time `json:"newest_record_at,omitempty"`
}

// Sink is a destination of a pipeline.
type Sink struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Enabled bool   `json:"enabled"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	// Settings are the kind's settings; they name secrets, never hold them.
	Settings json.RawMessage `json:"settings,omitempty"`
	// Pipeline is the downstream pipeline of a sink of kind pipeline.
	Pipeline *PipelineRef `json:"pipeline,omitempty"`
	ReadOnly bool         `json:"read_only,omitempty"`
	Stats    SinkStats    `json:"stats"`
	// Notes say how the server reads settings that do not mean what they
	// seem to, such as a blob file:// URL (written under the server's sink
	// root, in the team's directory).
	Notes []string `json:"notes,omitempty"`
}

// PipelineRef names a pipeline.
type PipelineRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// SinkKind is a kind of sink the server offers.
type SinkKind struct {
	Name        string          `json:"name"`
	Summary     string          `json:"summary"`
	Doc         string          `json:"doc"`
	Description string          `json:"description"`
	MaxBatch    int             `json:"max_batch,omitempty"`
	Settings    json.RawMessage `json:"settings"` // JSON Schema of the settings
	Example     json.RawMessage `json:"example"`
}

// SourceKind is a part of a pipeline's source the server knows: a polled
// kind (http, graphql), webhook or pipeline.
type SourceKind struct {
	Name        string          `json:"name"`
	Pipeline    string          `json:"pipeline"` // polling, webhook or p2p
	Summary     string          `json:"summary"`
	Description string          `json:"description"`
	Settings    json.RawMessage `json:"settings"` // JSON Schema of the part
	Example     json.RawMessage `json:"example"`
}

// Delivery is one batch on its way to a sink.
type Delivery struct {
	ID            string     `json:"id"`
	Key           string     `json:"key"`
	Records       int64      `json:"records"`
	From          time.Time  `json:"from"`
	To            time.Time  `json:"to"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	DurationMS    float64    `json:"duration_ms"`
	LatencyMS     float64    `json:"latency_ms,omitempty"`
	RunID         string     `json:"run_id,omitempty"`
	ReplayID      string     `json:"replay_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// DeliveryPage is a page of deliveries.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// DeliveryQuery selects deliveries.
type DeliveryQuery struct {
	Status string // pending, delivered, failed, dead…; empty for all
	Limit  int
	Cursor string
}

// ReplayRequest asks to deliver a time range of records again.
type ReplayRequest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Replay is a replay of a time range to a sink.
type Replay struct {
	ID               string         `json:"id"`
	Sink             string         `json:"sink"`
	From             time.Time      `json:"from"`
	To               time.Time      `json:"to"`
	Status           string         `json:"status"`
	Total            int64          `json:"total"`
	Enqueued         int64          `json:"enqueued"`
	RecordsDelivered int64          `json:"records_delivered"`
	Deliveries       map[string]int `json:"deliveries"`
	Progress         float64        `json:"progress"`
	Error            string         `json:"error,omitempty"`
	CreatedAt        time.Time      `json:"created_at"`
	FinishedAt       *time.Time     `json:"finished_at,omitempty"`
}

// Secret is a team secret's metadata; its value is never shown.
type Secret struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at"`
}

// Upload is a file upload and its processing.
type Upload struct {
	ID         string     `json:"id"`
	PipelineID string     `json:"pipeline_id"`
	Filename   string     `json:"filename,omitempty"`
	Format     string     `json:"format"`
	Size       int64      `json:"size"`
	Status     string     `json:"status"`
	RowsTotal  *int64     `json:"rows_total"`
	RowsDone   int64      `json:"rows_done"`
	Accepted   int64      `json:"accepted"`
	Rejected   int64      `json:"rejected"`
	Progress   float64    `json:"progress"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Finished reports whether the upload's processing ended (done or failed).
func (u Upload) Finished() bool { return u.Status == "done" || u.Status == "failed" }

// Cluster is the answer of GET /api/v1/cluster: the live nodes.
type Cluster struct {
	Self               string  `json:"self"`
	HeartbeatSeconds   float64 `json:"heartbeat_seconds"`
	ExpireAfterSeconds float64 `json:"expire_after_seconds"`
	Nodes              []Node  `json:"nodes"`
}

// Node is one node of the cluster.
type Node struct {
	ID                  string    `json:"id"`
	Version             string    `json:"version"`
	Address             string    `json:"address"`
	StartedAt           time.Time `json:"started_at"`
	HeartbeatAt         time.Time `json:"heartbeat_at"`
	HeartbeatAgeSeconds float64   `json:"heartbeat_age_seconds"`
	Leader              bool      `json:"leader"`
	Draining            bool      `json:"draining"`
	Self                bool      `json:"self"`
	Load                NodeLoad  `json:"load"`
}

// NodeLoad is a node's load at its last heartbeat.
type NodeLoad struct {
	Requests   int64 `json:"requests"`
	Streams    int64 `json:"streams"`
	Goroutines int   `json:"goroutines"`
	HeapBytes  int64 `json:"heap_bytes"`
	// Replicas is how the node sees its read replicas.
	Replicas []NodeReplica `json:"replicas,omitempty"`
}

// NodeReplica is a node's view of one read replica at its last heartbeat.
type NodeReplica struct {
	Name       string   `json:"name"`
	LagSeconds *float64 `json:"lag_seconds"` // nil when the replica does not answer
	Serving    bool     `json:"serving"`
}
