package orchestrator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"gocloud.dev/blob"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/blobstore"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/source/upload"
	"github.com/tributary-dev/tributary/internal/store"
)

// ErrUploadRead wraps a failure to read an upload from its sender; the
// transport's own read errors (such as its size limit) are wrapped inside
// it.
var ErrUploadRead = errors.New("reading the upload failed")

// errUploadWrite marks a failure of object storage while a file is saved.
var errUploadWrite = errors.New("writing the upload to object storage failed")

// UploadInput is one file to upload and what its request said of it.
type UploadInput struct {
	Body io.Reader
	// Filename, ContentType and Format (an explicit csv, json or ndjson)
	// tell the format, else the first bytes do.
	Filename, ContentType, Format string
}

var errNoUploads = newError(ErrUnavailable, "Uploads are not enabled on this server.")

// UploadTarget returns the pipeline a file may be uploaded to (editor): a
// paused pipeline takes no records.
func (s *Service) UploadTarget(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, error) {
	p, _, err := s.load(ctx, who, id, auth.Editor)
	if err != nil {
		return p, err
	}
	if p.Status == core.StatusPaused {
		return p, newError(ErrConflict, "This pipeline is paused; it takes no records until it is resumed.")
	}
	return p, nil
}

// CreateUpload stores a file in object storage and records it with the
// job that processes it, in one transaction (editor). Nothing is kept when
// it fails.
func (s *Service) CreateUpload(ctx context.Context, who Caller, id uuid.UUID, in UploadInput) (core.Upload, error) {
	up, ok := s.st.(store.Uploads)
	if !ok || s.blobs == nil {
		return core.Upload{}, errNoUploads
	}
	p, err := s.UploadTarget(ctx, who, id)
	if err != nil {
		return core.Upload{}, err
	}
	br := bufio.NewReaderSize(in.Body, 64<<10)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return core.Upload{}, fmt.Errorf("%w: %w", ErrUploadRead, err)
	}
	if len(head) == 0 {
		return core.Upload{}, newError(ErrMalformed, "The upload is empty; send a CSV, JSON or NDJSON file.")
	}
	format, err := upload.Detect(in.Format, in.ContentType, in.Filename, head)
	if err != nil {
		return core.Upload{}, newError(ErrInvalid, "The format parameter must be csv, json or ndjson.")
	}

	uid := core.NewID()
	key := upload.BlobKey(p.TeamID, p.ID, uid, format)
	size, err := s.saveUpload(ctx, key, format, br)
	switch {
	case errors.Is(err, ErrUploadRead):
		return core.Upload{}, err
	case err != nil:
		s.log.ErrorContext(ctx, "store upload", "pipeline", p.ID, "err", err)
		return core.Upload{}, newError(ErrUnavailable, "The file could not be stored; nothing was kept. Try again shortly.")
	}
	rec, err := up.CreateUpload(ctx, p.TeamID, p.ID, store.NewUpload{ID: uid, Filename: in.Filename, Format: format, Size: size, BlobKey: key},
		[]river.InsertManyParams{{Args: upload.ProcessArgs{TeamID: p.TeamID, PipelineID: p.ID, UploadID: uid}}})
	if err != nil {
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.log.WarnContext(ctx, "delete unrecorded upload", "key", key, "err", derr)
		}
		if errors.Is(err, core.ErrNotFound) {
			return core.Upload{}, errNoPipeline
		}
		s.log.ErrorContext(ctx, "record upload", "pipeline", p.ID, "err", err)
		return core.Upload{}, newError(ErrUnavailable, "The upload could not be recorded; nothing was kept. Try again shortly.")
	}
	return rec, nil
}

// saveUpload streams the file into the bucket and returns its size.
// Nothing is left in the bucket when it fails; a failure to read r is
// ErrUploadRead.
func (s *Service) saveUpload(ctx context.Context, key string, format core.UploadFormat, r io.Reader) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw, err := s.blobs.NewWriter(wctx, key, &blob.WriterOptions{ContentType: upload.ContentType(format)})
	if err != nil {
		return 0, fmt.Errorf("open blob writer: %w", err)
	}
	n, err := io.Copy(markWrite{bw}, readerOnly{r})
	if err != nil {
		cancel() // a writer whose context ends before Close discards what it has
		_ = bw.Close()
		if errors.Is(err, errUploadWrite) {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %w", ErrUploadRead, err)
	}
	if err := bw.Close(); err != nil {
		return 0, fmt.Errorf("store blob: %w", err)
	}
	return n, nil
}

// readerOnly hides WriterTo, so that io.Copy reads through Read.
type readerOnly struct{ io.Reader }

// markWrite marks the writer's errors, to tell them from the sender's.
type markWrite struct{ w io.Writer }

func (m markWrite) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %w", errUploadWrite, err)
	}
	return n, err
}

// Uploads lists a pipeline's uploads, newest first (viewer).
func (s *Service) Uploads(ctx context.Context, who Caller, id uuid.UUID, limit int) ([]core.Upload, error) {
	up, ok := s.st.(store.Uploads)
	if !ok {
		return nil, errNoUploads
	}
	p, _, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return nil, err
	}
	list, err := up.Uploads(ctx, p.TeamID, p.ID, store.UploadQuery{Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("list uploads of pipeline %s: %w", p.ID, err)
	}
	return list, nil
}

var errNoUpload = newError(ErrNotFound, "There is no such upload of the pipeline.")

// Upload returns an upload of a pipeline with its progress (viewer).
func (s *Service) Upload(ctx context.Context, who Caller, id, uploadID uuid.UUID) (core.Upload, error) {
	up, ok := s.st.(store.Uploads)
	if !ok {
		return core.Upload{}, errNoUploads
	}
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return core.Upload{}, err
	}
	rec, err := up.Upload(ctx, team, id, uploadID)
	if errors.Is(err, core.ErrNotFound) {
		return rec, errNoUpload
	}
	if err != nil {
		return rec, fmt.Errorf("load upload %s: %w", uploadID, err)
	}
	return rec, nil
}

// ErrGone: the thing asked for existed but is no longer kept.
var ErrGone = errors.New("no longer kept")

// UploadFile opens the stored file of an upload (viewer). Files are kept
// after a failure for inspection and deleted once their upload is done
// (ErrGone).
func (s *Service) UploadFile(ctx context.Context, who Caller, id, uploadID uuid.UUID) (core.Upload, io.ReadCloser, error) {
	up, ok := s.st.(store.Uploads)
	if !ok || s.blobs == nil {
		return core.Upload{}, nil, errNoUploads
	}
	p, _, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return core.Upload{}, nil, err
	}
	rec, err := up.Upload(ctx, p.TeamID, p.ID, uploadID)
	if errors.Is(err, core.ErrNotFound) {
		return rec, nil, errNoUpload
	}
	if err != nil {
		s.log.ErrorContext(ctx, "load upload", "err", err)
		return rec, nil, newError(ErrUnavailable, "The upload cannot be loaded right now; try again shortly.")
	}
	r, err := s.blobs.NewReader(ctx, rec.BlobKey, nil)
	if blobstore.IsNotFound(err) {
		return rec, nil, newError(ErrGone, "The file is no longer stored: files are deleted once their upload is done.")
	}
	if err != nil {
		s.log.ErrorContext(ctx, "open upload file", "err", err)
		return rec, nil, newError(ErrUnavailable, "The file cannot be read right now; try again shortly.")
	}
	return rec, r, nil
}
