package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// NewUpload is what CreateUpload needs: the file is already in object
// storage under BlobKey.
type NewUpload struct {
	ID       uuid.UUID // chosen by the caller: the blob key holds it
	Filename string
	Format   core.UploadFormat
	Size     int64
	BlobKey  string
}

// UploadChunk is the progress one batch makes on an upload. WriteBatch
// applies it in the batch's transaction (Batch.Upload), so an upload's
// progress and the records of its chunks are committed together: after a
// crash, processing resumes after the last chunk committed and no chunk is
// stored twice.
type UploadChunk struct {
	UploadID uuid.UUID
	// Seq is the chunk's number, from 1. WriteBatch fails with
	// ErrChunkCommitted, keeping nothing of the batch, unless the upload
	// has exactly Seq-1 chunks committed.
	Seq int
	// Rows is how many rows of the file the chunk consumed.
	Rows int
	// Final marks the last chunk: the upload becomes done.
	Final bool
	// Error, when set, makes the upload failed with this reason.
	Error string
}

// ErrChunkCommitted is returned (wrapped) by WriteBatch when the batch's
// upload chunk is not the next one: it was committed before (by an
// earlier attempt of the job), or the upload is finished. It matches
// core.ErrConflict.
var ErrChunkCommitted = fmt.Errorf("%w: the upload chunk was committed before or the upload is finished", core.ErrConflict)

// UploadQuery selects uploads of one pipeline, newest first.
type UploadQuery struct {
	Limit int
}

// Uploads stores file uploads and their progress.
type Uploads interface {
	// CreateUpload adds an upload, status pending, and inserts jobs (its
	// processing job) in the same transaction. An unknown pipeline gives
	// core.ErrNotFound.
	CreateUpload(ctx context.Context, teamID, pipelineID uuid.UUID, u NewUpload, jobs []river.InsertManyParams) (core.Upload, error)
	// Upload returns one upload of a pipeline.
	Upload(ctx context.Context, teamID, pipelineID, id uuid.UUID) (core.Upload, error)
	// Uploads lists a pipeline's uploads, newest first.
	Uploads(ctx context.Context, teamID, pipelineID uuid.UUID, q UploadQuery) ([]core.Upload, error)
	// StartUpload records the number of rows of a checked file and makes
	// the upload processing. It does nothing to a finished upload.
	StartUpload(ctx context.Context, teamID, id uuid.UUID, rowsTotal int64) error
}
