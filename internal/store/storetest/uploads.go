package storetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["Uploads"] = testUploads
	extra["UploadChunksOnce"] = testUploadChunksOnce
	extra["UploadFails"] = testUploadFails
}

type uploadJobArgs struct {
	Upload uuid.UUID `json:"upload"`
}

func (uploadJobArgs) Kind() string { return "storetest_upload" }

func newUpload(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID) core.Upload {
	t.Helper()
	id := core.NewID()
	return must[core.Upload](t)(s.CreateUpload(ctx(t), teamID, pipelineID, store.NewUpload{
		ID: id, Filename: "data.csv", Format: core.FormatCSV, Size: 123, BlobKey: "uploads/" + id.String(),
	}, []river.InsertManyParams{{Args: uploadJobArgs{Upload: id}}}))
}

// chunkBatch is a batch of n accepted and rej rejected records carrying an
// upload chunk.
func chunkBatch(teamID, pipelineID uuid.UUID, chunk store.UploadChunk, n, rej int) *store.Batch {
	b := &store.Batch{TeamID: teamID, PipelineID: pipelineID, Version: 1, Persist: true, Upload: &chunk,
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerUpload, StartedAt: core.Now(), Fetched: n + rej, Stored: n, Rejected: rej, Error: chunk.Error}}
	for i := range n {
		b.Records = append(b.Records, core.Record{TS: core.Now(), Data: json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`)})
	}
	for range rej {
		b.Rejected = append(b.Rejected, core.Rejected{ReceivedAt: core.Now(), Raw: json.RawMessage(`{}`), Reason: "validation: no"})
	}
	return b
}

func testUploads(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "uploads")
	u := newUpload(t, s, team.ID, p.ID)
	if u.Status != core.UploadPending || u.TeamID != team.ID || u.PipelineID != p.ID || u.Format != core.FormatCSV ||
		u.Size != 123 || u.Filename != "data.csv" || u.RowsTotal != nil || u.CreatedAt.IsZero() || u.FinishedAt != nil {
		t.Fatalf("created upload = %+v", u)
	}
	got := must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID))
	if got.ID != u.ID || got.BlobKey != u.BlobKey || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("Upload = %+v, want %+v", got, u)
	}
	second := newUpload(t, s, team.ID, p.ID)
	list := must[[]core.Upload](t)(s.Uploads(c, team.ID, p.ID, store.UploadQuery{}))
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != u.ID {
		t.Fatalf("Uploads = %+v, want newest first", list)
	}
	if err := s.StartUpload(c, team.ID, u.ID, 5); err != nil {
		t.Fatal(err)
	}
	got = must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID))
	if got.Status != core.UploadProcessing || got.RowsTotal == nil || *got.RowsTotal != 5 {
		t.Fatalf("started upload = %+v", got)
	}

	// Another team sees none of it and cannot add to it.
	other, _ := newTeam(t, s)
	if _, err := s.Upload(c, other.ID, p.ID, u.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upload through another team: err = %v", err)
	}
	if l := must[[]core.Upload](t)(s.Uploads(c, other.ID, p.ID, store.UploadQuery{})); len(l) != 0 {
		t.Fatalf("another team lists %d uploads", len(l))
	}
	if _, err := s.CreateUpload(c, other.ID, p.ID, store.NewUpload{ID: core.NewID(), Format: core.FormatJSON, BlobKey: "x"}, nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upload into another team's pipeline: err = %v", err)
	}
	if err := s.WriteBatch(c, chunkBatch(other.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 1, Rows: 1}, 1, 0)); err == nil {
		t.Fatal("another team advanced the upload")
	}
	// Deleting the pipeline deletes its uploads.
	if err := s.DeletePipeline(c, team.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(c, team.ID, p.ID, u.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("upload of a deleted pipeline: err = %v", err)
	}
}

func testUploadChunksOnce(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "chunks")
	u := newUpload(t, s, team.ID, p.ID)
	must[struct{}](t)(struct{}{}, s.StartUpload(c, team.ID, u.ID, 5))

	if err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 1, Rows: 3}, 2, 1)); err != nil {
		t.Fatal(err)
	}
	got := must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID))
	if got.Chunks != 1 || got.RowsDone != 3 || got.Accepted != 2 || got.Rejected != 1 || got.Status != core.UploadProcessing {
		t.Fatalf("after chunk 1: %+v", got)
	}
	// The same chunk again (a retried job) keeps nothing.
	err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 1, Rows: 3}, 2, 1))
	if !errors.Is(err, store.ErrChunkCommitted) || !errors.Is(err, core.ErrConflict) {
		t.Fatalf("chunk 1 twice: err = %v, want ErrChunkCommitted", err)
	}
	// So does a chunk from the future.
	if err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 3, Rows: 1}, 1, 0)); !errors.Is(err, store.ErrChunkCommitted) {
		t.Fatalf("chunk 3 before 2: err = %v, want ErrChunkCommitted", err)
	}
	if recs := must[[]core.Record](t)(s.Records(c, team.ID, p.ID, store.RecordQuery{})); len(recs) != 2 {
		t.Fatalf("%d records after refused chunks, want 2", len(recs))
	}
	if runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{})); len(runs) != 1 {
		t.Fatalf("%d runs after refused chunks, want 1", len(runs))
	}
	if err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 2, Rows: 2, Final: true}, 2, 0)); err != nil {
		t.Fatal(err)
	}
	got = must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID))
	if got.Chunks != 2 || got.RowsDone != 5 || got.Accepted != 4 || got.Rejected != 1 || got.Status != core.UploadDone || got.FinishedAt == nil || got.Error != "" {
		t.Fatalf("after the final chunk: %+v", got)
	}
	// A finished upload takes no more chunks, and StartUpload leaves it be.
	if err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 3, Rows: 1}, 1, 0)); !errors.Is(err, store.ErrChunkCommitted) {
		t.Fatalf("chunk after done: err = %v, want ErrChunkCommitted", err)
	}
	must[struct{}](t)(struct{}{}, s.StartUpload(c, team.ID, u.ID, 99))
	if got := must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID)); got.Status != core.UploadDone || *got.RowsTotal != 5 {
		t.Fatalf("StartUpload changed a finished upload: %+v", got)
	}
}

func testUploadFails(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "fails")
	u := newUpload(t, s, team.ID, p.ID)
	reason := "CSV row 3, column 2: extraneous \" in field"
	if err := s.WriteBatch(c, chunkBatch(team.ID, p.ID, store.UploadChunk{UploadID: u.ID, Seq: 1, Error: reason}, 0, 0)); err != nil {
		t.Fatal(err)
	}
	got := must[core.Upload](t)(s.Upload(c, team.ID, p.ID, u.ID))
	if got.Status != core.UploadFailed || got.Error != reason || got.FinishedAt == nil || got.Chunks != 1 {
		t.Fatalf("failed upload = %+v", got)
	}
	runs := must[[]core.Run](t)(s.Runs(c, team.ID, p.ID, store.RunQuery{}))
	if len(runs) != 1 || runs[0].Error != reason || runs[0].Trigger != core.TriggerUpload {
		t.Fatalf("runs = %+v, want one failed upload run", runs)
	}
}
