package ingest_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Regression tests of issue 11, defect 1: a small request must not become
// millions of records or gigabytes of memory.

// counting counts the bytes read from a request body.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// arrayBomb is about 9 KiB of gzip that holds `[{},{},…]`: 3.3 million
// records, just under the default body limit once decompressed.
func arrayBomb(t *testing.T) []byte {
	t.Helper()
	n := (pipeline.DefaultMaxBodyBytes - 2) / 3
	raw := make([]byte, 0, 3*n+2)
	raw = append(raw, '[')
	raw = append(raw, bytes.Repeat([]byte("{},"), n-1)...)
	raw = append(raw, "{}]"...)
	bomb := gzipBytes(t, raw)
	if len(bomb) > 12<<10 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	return bomb
}

// zeroBomb streams gzip of size zero bytes, never holding more than a
// small buffer of it. Its Close stops the writer and waits for it.
type zeroBomb struct {
	*io.PipeReader
	wg sync.WaitGroup
}

func newZeroBomb(size int64) *zeroBomb {
	pr, pw := io.Pipe()
	z := &zeroBomb{PipeReader: pr}
	z.wg.Add(1)
	go func() {
		defer z.wg.Done()
		w := gzip.NewWriter(pw)
		zeros := make([]byte, 64<<10)
		for written := int64(0); written < size; written += int64(len(zeros)) {
			if _, err := w.Write(zeros); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Close())
	}()
	return z
}

func (z *zeroBomb) Close() error {
	err := z.PipeReader.Close()
	z.wg.Wait()
	return err
}

func gzipHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Encoding", "gzip")
	return h
}

func TestAcceptRecordLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	def := b.pipeline(t, "default limit", `{}`)
	three := b.pipeline(t, "three", `{"max_records": 3}`)
	records := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"temperature": 1},`, n), ",") + "]"
	}
	lines := func(n int) string { return strings.Repeat("{\"temperature\": 1}\n", n) }

	// The default limit takes a full request.
	res, err := b.accept(t, def.HookToken, records(pipeline.DefaultMaxRecords))
	if err != nil || res.Accepted != pipeline.DefaultMaxRecords {
		t.Fatalf("%d records: result %+v, err %v", pipeline.DefaultMaxRecords, res, err)
	}
	for _, tc := range []struct {
		name   string
		token  string
		body   string
		header []string
		limit  int
	}{
		{"array over the default", def.HookToken, records(pipeline.DefaultMaxRecords + 1), nil, pipeline.DefaultMaxRecords},
		{"array", three.HookToken, records(4), nil, 3},
		{"ndjson", three.HookToken, lines(4), []string{"Content-Type", "application/x-ndjson"}, 3},
		{"detected ndjson", three.HookToken, lines(4), nil, 3},
		{"gzip", three.HookToken, string(gzipBytes(t, []byte(records(4)))), []string{"Content-Encoding", "gzip"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r0, j0 := b.stored(t, three.ID)
			res, err := b.accept(t, tc.token, tc.body, tc.header...)
			var e *ingest.TooManyRecordsError
			if !errors.As(err, &e) || e.Limit != tc.limit {
				t.Fatalf("result %+v, err %v; want a TooManyRecordsError of %d", res, err, tc.limit)
			}
			if r1, j1 := b.stored(t, three.ID); r1 != r0 || j1 != j0 {
				t.Fatalf("a refused request stored %d records and %d rejected", r1-r0, j1-j0)
			}
		})
	}
	// At the limit, all of it is taken.
	for _, body := range []string{records(3), lines(3)} {
		if res, err := b.accept(t, three.HookToken, body); err != nil || res.Accepted != 3 {
			t.Fatalf("3 records: result %+v, err %v", res, err)
		}
	}
}

func TestAcceptArrayBomb(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	p := b.pipeline(t, "bombed", `{}`)
	bomb := arrayBomb(t)
	body := &counting{r: bytes.NewReader(bomb)}
	res, err := b.svc.Accept(t.Context(), p.HookToken, gzipHeader(), body)
	var e *ingest.TooManyRecordsError
	if !errors.As(err, &e) || e.Limit != pipeline.DefaultMaxRecords {
		t.Fatalf("result %+v, err %v; want a TooManyRecordsError", res, err)
	}
	if rs, rj := b.stored(t, p.ID); rs+rj != 0 {
		t.Fatalf("the bomb stored %d records and %d rejected", rs, rj)
	}
	// Decoding stopped at the limit: 10,000 records are 30 KB of the
	// 10 MB the bomb decompresses to.
	if body.n > int64(len(bomb))/2 {
		t.Fatalf("read %d of the bomb's %d bytes", body.n, len(bomb))
	}
}

func TestAcceptZeroBomb(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{})
	for _, source := range []string{`{}`, `{"max_body_bytes": 104857600}`} {
		p := b.pipeline(t, "zero bomb "+source, source)
		bomb := newZeroBomb(1 << 30)
		body := &counting{r: bomb}
		res, err := b.svc.Accept(t.Context(), p.HookToken, gzipHeader(), body)
		if cerr := bomb.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		var e *ingest.TooLargeError
		if !errors.As(err, &e) || !e.Decompressed || e.Ratio != ingest.MaxGzipRatio {
			t.Fatalf("%s: result %+v, err %v; want a TooLargeError for the ratio", source, res, err)
		}
		// 1 GiB of zeros is about 1 MiB of gzip; the ratio stops it after
		// GzipRatioFloor decompressed bytes, a few KiB of it.
		if body.n > 64<<10 {
			t.Fatalf("%s: read %d bytes of the bomb", source, body.n)
		}
		if rs, rj := b.stored(t, p.ID); rs+rj != 0 {
			t.Fatalf("the bomb stored %d records and %d rejected", rs, rj)
		}
	}
}

// TestAcceptBombMemory is not parallel, so that the allocations it
// measures are its own.
func TestAcceptBombMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates allocations")
	}
	b := setup(t, ingest.Config{})
	p := b.pipeline(t, "memory", `{}`)
	bomb := arrayBomb(t)
	// Warm the token cache and the engine's compiled spec.
	if _, err := b.accept(t, p.HookToken, `{"temperature": 1}`); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := b.svc.Accept(t.Context(), p.HookToken, gzipHeader(), bytes.NewReader(bomb))
	zeros := newZeroBomb(1 << 30)
	_, zerr := b.svc.Accept(t.Context(), p.HookToken, gzipHeader(), zeros)
	runtime.ReadMemStats(&after)
	if cerr := zeros.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	if err == nil || zerr == nil {
		t.Fatalf("the bombs were accepted: %v, %v", err, zerr)
	}
	// Before the fix the array bomb alone allocated well over 1 GiB.
	const bound = 64 << 20
	if grew := after.TotalAlloc - before.TotalAlloc; grew > bound {
		t.Fatalf("handling the bombs allocated %d MiB, more than %d MiB", grew>>20, bound>>20)
	} else {
		t.Logf("handling the bombs allocated %.1f MiB", float64(grew)/(1<<20))
	}
}
