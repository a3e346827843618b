package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"gocloud.dev/blob"

	"github.com/tributary-dev/tributary/internal/blobstore"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source/upload"
	"github.com/tributary-dev/tributary/internal/store"
)

// Defaults of UploadWorker.
const (
	DefaultUploadChunkRows = 1000
	// DefaultUploadTimeout bounds one upload attempt; a long upload
	// hands over to the next attempt after two thirds of it. It stays
	// well below DefaultRescueAfter, so that a running attempt is never
	// rescued into a second one running beside it.
	DefaultUploadTimeout = 10 * time.Minute
)

// UploadStore is what the upload worker needs of the store.
type UploadStore interface {
	Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error)
	Upload(ctx context.Context, teamID, pipelineID, id uuid.UUID) (core.Upload, error)
	StartUpload(ctx context.Context, teamID, id uuid.UUID, rowsTotal int64) error
}

// UploadEngine is what the upload worker needs of the engine.
type UploadEngine interface {
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	RunUploadChunk(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, chunk store.UploadChunk) (engine.Result, error)
}

// UploadWorker processes a stored upload:
//
//  1. it reads the whole file once to check it and count its rows; a file
//     that is not valid in its format fails here, as a failed run naming
//     the row and column (CSV) or the line, column and offset (JSON,
//     NDJSON), before any of it is stored; the file is kept for inspection;
//  2. it reads the file again and commits it in chunks of ChunkRows rows,
//     each a run of its own whose transaction also advances the upload
//     (engine.RunUploadChunk), so the progress an API client sees is
//     exactly what is stored;
//  3. after the last chunk it deletes the file.
//
// A job that stops part way (a killed node, a failed commit) is retried
// by River and goes on after the last chunk committed: it skips the rows
// of the committed chunks, and a chunk that committed just before the
// stop is refused by the store rather than stored twice. The same makes
// long uploads take several attempts: after two thirds of JobTimeout an
// attempt snoozes (which costs no attempt) and the next one goes on, and
// an attempt stopped by a shutdown snoozes to go on at the next start.
type UploadWorker struct {
	river.WorkerDefaults[upload.ProcessArgs]
	Store  UploadStore
	Engine UploadEngine
	Bucket *blob.Bucket
	// ChunkRows is how many rows one chunk (one run) holds. Default 1000.
	ChunkRows int
	// JobTimeout bounds one attempt. Default DefaultUploadTimeout; keep
	// it below River's RescueStuckJobsAfter.
	JobTimeout time.Duration
	Log        *slog.Logger
}

// Timeout implements river.Worker: an upload may take much longer than
// River's default minute.
func (w *UploadWorker) Timeout(*river.Job[upload.ProcessArgs]) time.Duration {
	if w.JobTimeout > 0 {
		return w.JobTimeout
	}
	return DefaultUploadTimeout
}

// budget is how long an attempt commits chunks before it hands over to
// the next one.
func (w *UploadWorker) budget() time.Duration { return w.Timeout(nil) * 2 / 3 }

// Work implements river.Worker.
func (w *UploadWorker) Work(ctx context.Context, job *river.Job[upload.ProcessArgs]) error {
	err := w.work(ctx, job.Args, time.Now())
	if err != nil && ctx.Err() != nil {
		// Stopped (a shutdown, the attempt's timeout): the next attempt goes
		// on from the last committed chunk, without counting as a failure.
		return river.JobSnooze(0)
	}
	return err
}

func (w *UploadWorker) work(ctx context.Context, a upload.ProcessArgs, started time.Time) error {
	log := w.Log.With("pipeline", a.PipelineID, "upload", a.UploadID)
	u, err := w.Store.Upload(ctx, a.TeamID, a.PipelineID, a.UploadID)
	if errors.Is(err, core.ErrNotFound) {
		log.InfoContext(ctx, "upload: the upload or its pipeline was deleted")
		return nil
	}
	if err != nil {
		return fmt.Errorf("upload: load upload %s: %w", a.UploadID, err)
	}
	if u.Status == core.UploadDone || u.Status == core.UploadFailed {
		return nil
	}
	p, err := w.Store.Pipeline(ctx, a.TeamID, a.PipelineID)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("upload: load pipeline %s: %w", a.PipelineID, err)
	}
	c, err := w.Engine.Compiled(p)
	if err != nil {
		// A saved spec compiles; one that stopped compiling cannot take the file.
		return w.fail(ctx, p, nil, u, "the pipeline's spec does not compile; fix the pipeline and upload the file again")
	}
	if u.RowsTotal == nil {
		total, err := w.check(ctx, u)
		var fe *upload.FormatError
		switch {
		case errors.As(err, &fe):
			return w.fail(ctx, p, c, u, fe.Error())
		case blobstore.IsNotFound(err):
			return w.fail(ctx, p, c, u, "the uploaded file is missing from object storage; upload it again")
		case err != nil:
			return fmt.Errorf("upload: check file: %w", err)
		}
		if err := w.Store.StartUpload(ctx, u.TeamID, u.ID, total); err != nil {
			return err
		}
		u.RowsTotal, u.Status = &total, core.UploadProcessing
		log.InfoContext(ctx, "upload: file checked", "rows", total, "format", u.Format)
	}
	return w.process(ctx, log, p, c, u, started)
}

// check reads the whole file and counts its rows.
func (w *UploadWorker) check(ctx context.Context, u core.Upload) (int64, error) {
	r, err := w.Bucket.NewReader(ctx, u.BlobKey, nil)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := upload.Count(u.Format, r)
	var fe *upload.FormatError
	if errors.As(err, &fe) {
		if lerr := w.locate(ctx, u, fe); lerr != nil {
			return 0, lerr
		}
	}
	return n, err
}

// locate reads the file again to say where a JSON error is.
func (w *UploadWorker) locate(ctx context.Context, u core.Upload, fe *upload.FormatError) error {
	r, err := w.Bucket.NewReader(ctx, u.BlobKey, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	return fe.Locate(r)
}

// process commits the rows after the last committed chunk, chunk by
// chunk.
func (w *UploadWorker) process(ctx context.Context, log *slog.Logger, p core.Pipeline, c *pipeline.Compiled, u core.Upload, started time.Time) error {
	size := w.ChunkRows
	if size <= 0 {
		size = DefaultUploadChunkRows
	}
	r, err := w.Bucket.NewReader(ctx, u.BlobKey, nil)
	if blobstore.IsNotFound(err) {
		return w.fail(ctx, p, c, u, "the uploaded file is missing from object storage; upload it again")
	}
	if err != nil {
		return fmt.Errorf("upload: open file: %w", err)
	}
	defer r.Close()
	rd, err := upload.NewReader(u.Format, r)
	if err != nil {
		return w.failRead(ctx, p, c, u, err)
	}
	if u.RowsDone > 0 {
		log.InfoContext(ctx, "upload: resuming", "chunks_done", u.Chunks, "rows_done", u.RowsDone)
		if err := rd.Skip(u.RowsDone); err != nil {
			return w.failRead(ctx, p, c, u, err)
		}
	}
	total, done := *u.RowsTotal, u.RowsDone
	for seq := u.Chunks + 1; ; seq++ {
		inputs := make([]any, 0, min(int64(size), max(total-done, 0)))
		eof := false
		for len(inputs) < size {
			v, err := rd.Next()
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				u.Chunks, u.RowsDone = seq-1, done
				return w.failRead(ctx, p, c, u, err)
			}
			inputs = append(inputs, v)
		}
		done += int64(len(inputs))
		final := eof || done >= total
		res, err := w.Engine.RunUploadChunk(ctx, p, c, inputs, store.UploadChunk{UploadID: u.ID, Seq: seq, Rows: len(inputs), Final: final})
		if err != nil {
			return fmt.Errorf("upload: commit chunk %d: %w", seq, err)
		}
		log.DebugContext(ctx, "upload: chunk committed", "chunk", seq, "rows_done", done, "rows_total", total,
			"accepted", res.Accepted, "rejected", res.Rejected)
		if final {
			break
		}
		if time.Since(started) > w.budget() {
			log.InfoContext(ctx, "upload: attempt's time is up; the next attempt goes on", "chunks_done", seq, "rows_done", done)
			return river.JobSnooze(0)
		}
	}
	log.InfoContext(ctx, "upload: done", "rows", done)
	if err := w.Bucket.Delete(context.WithoutCancel(ctx), u.BlobKey); err != nil && !blobstore.IsNotFound(err) {
		log.WarnContext(ctx, "upload: delete processed file", "err", err)
	}
	return nil
}

// failRead fails the upload on a format error met while processing (the
// check found none, so the file changed), or returns err to retry.
func (w *UploadWorker) failRead(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, u core.Upload, err error) error {
	var fe *upload.FormatError
	if !errors.As(err, &fe) {
		return fmt.Errorf("upload: read file: %w", err)
	}
	if lerr := w.locate(ctx, u, fe); lerr != nil {
		return lerr
	}
	return w.fail(ctx, p, c, u, fe.Error())
}

// fail commits a failed run that ends the upload with reason.
func (w *UploadWorker) fail(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, u core.Upload, reason string) error {
	if c == nil {
		c = &pipeline.Compiled{Persist: true} // no records to process
	}
	_, err := w.Engine.RunUploadChunk(ctx, p, c, nil, store.UploadChunk{UploadID: u.ID, Seq: u.Chunks + 1, Error: reason})
	if err != nil {
		return fmt.Errorf("upload: record failure: %w", err)
	}
	w.Log.InfoContext(ctx, "upload: failed", "pipeline", p.ID, "upload", u.ID, "reason", reason)
	return nil
}

func addUploadWorkers(workers *river.Workers, cfg Config, d Deps) {
	if d.Engine == nil || d.Blobs == nil {
		return
	}
	river.AddWorker(workers, &UploadWorker{Store: d.Store, Engine: d.Engine, Bucket: d.Blobs, ChunkRows: d.UploadChunkRows,
		Log: cfg.Logger.With("component", "upload")})
}
