package upload

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// ProcessArgs is the job that processes one stored upload.
type ProcessArgs struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id"`
	UploadID   uuid.UUID `json:"upload_id"`
}

// Kind implements river.JobArgs.
func (ProcessArgs) Kind() string { return "upload_process" }

// InsertOpts makes an upload's job unique: however often it is enqueued,
// one runs at a time.
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// BlobKey is where an upload's file is stored: by team, pipeline and
// upload, with the format's extension so the file opens in the right
// program when someone inspects it.
func BlobKey(teamID, pipelineID, uploadID uuid.UUID, f core.UploadFormat) string {
	return fmt.Sprintf("uploads/%s/%s/%s%s", teamID, pipelineID, uploadID, Extension(f))
}
