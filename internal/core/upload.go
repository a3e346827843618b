package core

import (
	"time"

	"github.com/google/uuid"
)

// UploadFormat is the file format of an upload.
type UploadFormat string

// Upload formats.
const (
	// FormatCSV is comma-separated values with a header row naming the
	// fields (RFC 4180; ';' or tab when the header holds no comma).
	FormatCSV UploadFormat = "csv"
	// FormatJSON is one JSON document: an array of records, or one record.
	FormatJSON UploadFormat = "json"
	// FormatNDJSON is newline-delimited JSON: one record per line.
	FormatNDJSON UploadFormat = "ndjson"
)

// Valid reports whether f is a known format.
func (f UploadFormat) Valid() bool {
	return f == FormatCSV || f == FormatJSON || f == FormatNDJSON
}

// UploadStatus is where an upload is in its processing.
type UploadStatus string

// Upload statuses. An upload goes pending → processing → done or failed.
const (
	// UploadPending: the file is stored and its job is queued.
	UploadPending UploadStatus = "pending"
	// UploadProcessing: the file was checked and counted; chunks are being
	// committed.
	UploadProcessing UploadStatus = "processing"
	// UploadDone: every row was committed (accepted or rejected).
	UploadDone UploadStatus = "done"
	// UploadFailed: the file is not valid in its format, or could not be
	// read; Error says why and where. The file is kept for inspection.
	UploadFailed UploadStatus = "failed"
)

// Upload is a file POSTed to a pipeline, stored in object storage and
// processed as runs in chunks.
type Upload struct {
	ID         uuid.UUID
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	// Filename is the name the client gave, if any; informative only.
	Filename string
	Format   UploadFormat
	// Size is the file's size in bytes.
	Size int64
	// BlobKey is where the file lives in the object store.
	BlobKey string
	Status  UploadStatus
	// RowsTotal is the number of rows in the file, known once the file was
	// checked; nil before.
	RowsTotal *int64
	// RowsDone counts the rows committed so far (accepted or rejected).
	RowsDone int64
	Accepted int64
	Rejected int64
	// Chunks counts the chunks committed so far; a resumed upload goes on
	// with chunk Chunks+1.
	Chunks int
	// Error says why a failed upload failed, naming the row and column
	// (CSV) or the line, column and byte offset (JSON, NDJSON).
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}
