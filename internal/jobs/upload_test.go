package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source/upload"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// jobEnv is a store, an engine and a bucket on a fresh database.
type jobEnv struct {
	st     store.Store
	eng    *engine.Engine
	bucket *blob.Bucket
	team   core.Team
	log    *slog.Logger
}

func eachJobBackend(t *testing.T, fn func(t *testing.T, b *jobEnv)) {
	t.Helper()
	t.Parallel()
	for _, name := range storetest.Backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newJobEnv(t, name))
		})
	}
}

func newJobEnv(t *testing.T, backend string) *jobEnv {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, backend)
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &jobEnv{st: st, eng: eng, bucket: bucket, team: team, log: slog.New(slog.DiscardHandler)}
}

func (b *jobEnv) pipeline(t *testing.T, doc string, upstream uuid.UUID) core.Pipeline {
	t.Helper()
	c, err := compiler.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.st.CreatePipeline(context.Background(), b.team.ID, store.NewPipeline{Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: spec,
		HookToken: uuid.NewString(), Upstream: upstream})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storeUpload puts a file in the bucket and records its upload.
func (b *jobEnv) storeUpload(t *testing.T, p core.Pipeline, f core.UploadFormat, content []byte) core.Upload {
	t.Helper()
	ctx := context.Background()
	id := core.NewID()
	key := upload.BlobKey(p.TeamID, p.ID, id, f)
	if err := b.bucket.WriteAll(ctx, key, content, nil); err != nil {
		t.Fatal(err)
	}
	u, err := b.st.CreateUpload(ctx, p.TeamID, p.ID, store.NewUpload{ID: id, Format: f, Size: int64(len(content)), BlobKey: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (b *jobEnv) upload(t *testing.T, u core.Upload) core.Upload {
	t.Helper()
	got, err := b.st.Upload(context.Background(), u.TeamID, u.PipelineID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (b *jobEnv) count(t *testing.T, p core.Pipeline) (records, runs int) {
	t.Helper()
	ctx := context.Background()
	seen := map[int64]bool{}
	q := store.RecordQuery{Limit: store.MaxLimit}
	for {
		page, err := b.st.Records(ctx, p.TeamID, p.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			var v struct{ I int64 }
			if err := json.Unmarshal(r.Data, &v); err != nil {
				t.Fatal(err)
			}
			if seen[v.I] {
				t.Fatalf("row %d stored twice", v.I)
			}
			seen[v.I] = true
		}
		if len(page) < store.MaxLimit {
			break
		}
		last := page[len(page)-1]
		q.BeforeTS, q.BeforeID = last.TS, last.ID
	}
	rs, err := b.st.Runs(ctx, p.TeamID, p.ID, store.RunQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(seen), len(rs)
}

// crashingEngine is an engine whose node dies at one chunk: after the chunk's
// commit (afterCommit) or before it.
type crashingEngine struct {
	*engine.Engine
	at          int
	afterCommit bool
	n           int
}

var errNodeKilled = errors.New("node killed")

func (c *crashingEngine) RunUploadChunk(ctx context.Context, p core.Pipeline, comp *pipeline.Compiled, inputs []any, chunk store.UploadChunk) (engine.Result, error) {
	c.n++
	if c.n == c.at {
		if c.afterCommit {
			if _, err := c.Engine.RunUploadChunk(ctx, p, comp, inputs, chunk); err != nil {
				return engine.Result{}, err
			}
		}
		return engine.Result{}, errNodeKilled
	}
	return c.Engine.RunUploadChunk(ctx, p, comp, inputs, chunk)
}

func uploadJob(u core.Upload) *river.Job[upload.ProcessArgs] {
	return &river.Job[upload.ProcessArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1},
		Args: upload.ProcessArgs{TeamID: u.TeamID, PipelineID: u.PipelineID, UploadID: u.ID}}
}

// uploadRows makes a file of n rows {"i": k, "ts": …} in format f.
func uploadRows(f core.UploadFormat, n int) []byte {
	var b bytes.Buffer
	ts := func(i int) string {
		return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
	}
	switch f {
	case core.FormatCSV:
		b.WriteString("i,ts\n")
		for i := range n {
			fmt.Fprintf(&b, "%d,%s\n", i, ts(i))
		}
	case core.FormatJSON:
		b.WriteString("[\n")
		for i := range n {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `{"i":%d,"ts":%q}`, i, ts(i))
		}
		b.WriteString("\n]")
	case core.FormatNDJSON:
		for i := range n {
			fmt.Fprintf(&b, "{\"i\":%d,\"ts\":%q}\n", i, ts(i))
		}
	}
	return b.Bytes()
}

// TestUploadResumes kills the worker part way through an upload, before
// and after a chunk's commit, and checks that the retried job goes on
// from the last committed chunk: every row stored exactly once.
func TestUploadResumes(t *testing.T) {
	eachJobBackend(t, func(t *testing.T, b *jobEnv) {
		ctx := context.Background()
		for _, f := range []core.UploadFormat{core.FormatCSV, core.FormatJSON, core.FormatNDJSON} {
			for _, afterCommit := range []bool{false, true} {
				p := b.pipeline(t, fmt.Sprintf(`{"name":"resume-%s-%v","kind":"webhook"}`, f, afterCommit), uuid.Nil)
				u := b.storeUpload(t, p, f, uploadRows(f, 1050))
				w := &jobs.UploadWorker{Store: b.st, Engine: &crashingEngine{Engine: b.eng, at: 4, afterCommit: afterCommit}, Bucket: b.bucket, ChunkRows: 100, Log: b.log}
				if err := w.Work(ctx, uploadJob(u)); !errors.Is(err, errNodeKilled) {
					t.Fatalf("%s: first attempt: err = %v, want the crash", f, err)
				}
				// Progress shows exactly what is stored.
				mid := b.upload(t, u)
				wantChunks := 3
				if afterCommit {
					wantChunks = 4
				}
				if mid.Status != core.UploadProcessing || mid.RowsTotal == nil || *mid.RowsTotal != 1050 || mid.Chunks != wantChunks || mid.RowsDone != int64(wantChunks*100) {
					t.Fatalf("%s: after the crash: %+v, want %d chunks", f, mid, wantChunks)
				}
				if recs, _ := b.count(t, p); recs != wantChunks*100 {
					t.Fatalf("%s: %d records after the crash, want %d", f, recs, wantChunks*100)
				}
				// The retry, on a healthy node.
				w.Engine = b.eng
				if err := w.Work(ctx, uploadJob(u)); err != nil {
					t.Fatalf("%s: retry: %v", f, err)
				}
				done := b.upload(t, u)
				if done.Status != core.UploadDone || done.RowsDone != 1050 || done.Accepted != 1050 || done.Chunks != 11 || done.FinishedAt == nil {
					t.Fatalf("%s: after the retry: %+v", f, done)
				}
				if recs, runs := b.count(t, p); recs != 1050 || runs != 11 {
					t.Fatalf("%s: %d records in %d runs, want 1050 in 11", f, recs, runs)
				}
				if ok, _ := b.bucket.Exists(ctx, u.BlobKey); ok {
					t.Fatalf("%s: the processed file is still stored", f)
				}
				// A late duplicate of a chunk is refused whole.
				p2, _ := b.st.Pipeline(ctx, p.TeamID, p.ID)
				c, _ := b.eng.Compiled(p2)
				_, err := b.eng.RunUploadChunk(ctx, p2, c, []any{map[string]any{"i": 5000}}, store.UploadChunk{UploadID: u.ID, Seq: 4, Rows: 1})
				if !errors.Is(err, store.ErrChunkCommitted) {
					t.Fatalf("%s: duplicate chunk: err = %v", f, err)
				}
				// And a job that runs again does nothing.
				if err := w.Work(ctx, uploadJob(u)); err != nil {
					t.Fatal(err)
				}
				if recs, runs := b.count(t, p); recs != 1050 || runs != 11 {
					t.Fatalf("%s: after a duplicate job: %d records in %d runs", f, recs, runs)
				}
			}
		}
	})
}

func TestUploadFailures(t *testing.T) {
	eachJobBackend(t, func(t *testing.T, b *jobEnv) {
		ctx := context.Background()
		p := b.pipeline(t, `{"name":"fails","kind":"webhook"}`, uuid.Nil)
		w := &jobs.UploadWorker{Store: b.st, Engine: b.eng, Bucket: b.bucket, ChunkRows: 2, Log: b.log}

		// A broken file: nothing stored, the reason on the upload and a
		// failed run, the file kept.
		broken := []byte("i,ts\n1,2026-05-01T00:00:00Z\n2,2026-05-01T00:00:01Z\n3,2026-05-01T00:00:02Z\n4,x,y\n")
		u := b.storeUpload(t, p, core.FormatCSV, broken)
		if err := w.Work(ctx, uploadJob(u)); err != nil {
			t.Fatal(err)
		}
		got := b.upload(t, u)
		want := "CSV row 5 (line 5): has 3 fields but the header has 2: column 3 is extra"
		if got.Status != core.UploadFailed || got.Error != want || got.RowsDone != 0 || got.RowsTotal != nil {
			t.Fatalf("broken upload = %+v", got)
		}
		if recs, runs := b.count(t, p); recs != 0 || runs != 1 {
			t.Fatalf("%d records and %d runs after a broken file, want 0 and 1", recs, runs)
		}
		rs, _ := b.st.Runs(ctx, p.TeamID, p.ID, store.RunQuery{})
		if rs[0].Error != want || rs[0].Trigger != core.TriggerUpload {
			t.Fatalf("run = %+v", rs[0])
		}
		if kept, err := b.bucket.ReadAll(ctx, u.BlobKey); err != nil || !bytes.Equal(kept, broken) {
			t.Fatalf("kept file = %q, %v", kept, err)
		}

		// A JSON error is located by line and column.
		u = b.storeUpload(t, p, core.FormatJSON, []byte("[\n {\"i\":1},\n {\"i\":2 \"ts\":0}\n]"))
		if err := w.Work(ctx, uploadJob(u)); err != nil {
			t.Fatal(err)
		}
		if got := b.upload(t, u); got.Error != "JSON line 3, column 9 (byte offset 20): invalid character '\"' after object key:value pair" {
			t.Fatalf("broken JSON upload = %+v", got)
		}

		// The file is gone from storage.
		u = b.storeUpload(t, p, core.FormatNDJSON, []byte(`{"i":1}`))
		if err := b.bucket.Delete(ctx, u.BlobKey); err != nil {
			t.Fatal(err)
		}
		if err := w.Work(ctx, uploadJob(u)); err != nil {
			t.Fatal(err)
		}
		if got := b.upload(t, u); got.Status != core.UploadFailed || got.Error != "the uploaded file is missing from object storage; upload it again" {
			t.Fatalf("upload without its file = %+v", got)
		}

		// An empty array is an upload of nothing, done.
		u = b.storeUpload(t, p, core.FormatJSON, []byte(`[]`))
		if err := w.Work(ctx, uploadJob(u)); err != nil {
			t.Fatal(err)
		}
		if got := b.upload(t, u); got.Status != core.UploadDone || *got.RowsTotal != 0 {
			t.Fatalf("empty upload = %+v", got)
		}
	})
}

// TestUploadTakesSeveralAttempts: an attempt past its time budget snoozes
// after a chunk, and the next one goes on.
func TestUploadTakesSeveralAttempts(t *testing.T) {
	eachJobBackend(t, func(t *testing.T, e *jobEnv) {
		ctx := context.Background()
		p := e.pipeline(t, `{"name":"slow","kind":"webhook"}`, uuid.Nil)
		u := e.storeUpload(t, p, core.FormatNDJSON, uploadRows(core.FormatNDJSON, 250))
		w := &jobs.UploadWorker{Store: e.st, Engine: e.eng, Bucket: e.bucket, ChunkRows: 100, JobTimeout: time.Nanosecond, Log: e.log}
		attempts := 0
		for {
			attempts++
			err := w.Work(ctx, uploadJob(u))
			if err == nil {
				break
			}
			var snooze *rivertype.JobSnoozeError
			if !errors.As(err, &snooze) || attempts > 5 {
				t.Fatalf("attempt %d: err = %v, want a snooze", attempts, err)
			}
			if got := e.upload(t, u); got.Chunks != attempts || got.Status != core.UploadProcessing {
				t.Fatalf("after attempt %d: %+v", attempts, got)
			}
		}
		if got := e.upload(t, u); attempts != 3 || got.Status != core.UploadDone || got.RowsDone != 250 {
			t.Fatalf("after %d attempts: %+v", attempts, got)
		}
		if recs, runs := e.count(t, p); recs != 250 || runs != 3 {
			t.Fatalf("%d records in %d runs", recs, runs)
		}
		// A cancelled attempt (a shutdown) snoozes too.
		u = e.storeUpload(t, p, core.FormatNDJSON, uploadRows(core.FormatNDJSON, 10))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		var snooze *rivertype.JobSnoozeError
		if err := w.Work(cctx, uploadJob(u)); !errors.As(err, &snooze) {
			t.Fatalf("cancelled attempt: err = %v, want a snooze", err)
		}
	})
}
