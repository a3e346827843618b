package sink

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// blobClock is a settable clock.
type blobClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *blobClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *blobClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// blobSetup is what a blob test needs.
type blobSetup struct {
	root  string // the file root
	clock *blobClock
	cfg   BlobConfig
	kind  Kind
	team  uuid.UUID
}

func newBlobSetup(t *testing.T) *blobSetup {
	t.Helper()
	s := &blobSetup{
		root:  t.TempDir(),
		clock: &blobClock{t: time.Date(2026, 11, 28, 13, 2, 0, 0, time.UTC)},
		team:  uuid.MustParse("00000000-0000-0000-0000-0000000000aa"),
	}
	s.cfg = BlobConfig{
		FileRoot:   s.root,
		now:        s.clock.now,
		tick:       time.Hour, // tests call maintain themselves
		adoptAfter: 10 * time.Minute,
		sweepEvery: time.Nanosecond,
		manual:     true,
	}
	s.kind = BlobKind(s.cfg)
	return s
}

// open opens a blob sink with these settings.
func (s *blobSetup) open(t *testing.T, settings string, deps Deps) *blobSink {
	t.Helper()
	if _, err := s.kind.Validate(json.RawMessage(settings), deps); err != nil {
		t.Fatalf("validate %s: %v", settings, err)
	}
	sk, err := s.kind.Open(t.Context(), s.team, json.RawMessage(settings), deps)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return sk.(*blobSink)
}

// listFiles lists the files under dir, relative, with slashes.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// gunzipLines returns the lines of a gzipped file.
func gunzipLines(t *testing.T, data []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(plain))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// abandonBlob stops a sink as a crash would: no compaction, staged data left.
func abandonBlob(s *blobSink) {
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.mu.Unlock()
	s.bgCancel()
	if started {
		close(s.stop)
		<-s.done
	}
}

func TestBlobValidate(t *testing.T) {
	t.Parallel()
	deps := destDeps(t, false, nil)
	kind := BlobKind(BlobConfig{FileRoot: t.TempDir()})
	noFiles := BlobKind(BlobConfig{})
	good := []struct {
		settings string
		secrets  []string
	}{
		{`{"url":"file:///archive/weather"}`, nil},
		{`{"url":"file:///","format":"csv","compression":"none","roll":"1h","max_bytes":"10MiB"}`, nil},
		{`{"url":"file://localhost/a","format":"parquet","max_bytes":2097152}`, nil},
		{`{"url":"s3://my-bucket/weather?region=eu-west-1","access_key_id_secret":"kid","secret_access_key_secret":"key"}`, []string{"kid", "key"}},
		{`{"url":"s3://my-bucket?endpoint=https://s3.example.com&use_path_style=true","access_key_id_secret":"a","secret_access_key_secret":"b"}`, []string{"a", "b"}},
	}
	for _, tc := range good {
		got, err := kind.Validate(json.RawMessage(tc.settings), deps)
		if err != nil {
			t.Errorf("%s: %v", tc.settings, err)
			continue
		}
		if !slices.Equal(got, tc.secrets) {
			t.Errorf("%s: secrets %v, want %v", tc.settings, got, tc.secrets)
		}
	}
	s3 := `"access_key_id_secret":"a","secret_access_key_secret":"b"`
	bad := []struct{ settings, want string }{
		{`{}`, "url is required"},
		{`{"url":"http://x/y"}`, "must start with file:// or s3://"},
		{`{"url":"file:///a/../../etc"}`, `".." segments`},
		{`{"url":"file:///a/%2e%2e/b"}`, `".." segments`},
		{`{"url":"file:///a//b"}`, "empty segment"},
		{`{"url":"file:///a../b"}`, "end with a dot"},
		{`{"url":"file://server/share"}`, "has no host"},
		{`{"url":"file:///a?x=1"}`, "path only"},
		{`{"url":"file:///a","format":"xml"}`, "format must be"},
		{`{"url":"file:///a","format":"parquet","compression":"gzip"}`, "does not apply to parquet"},
		{`{"url":"file:///a","roll":"10s"}`, "roll must be between"},
		{`{"url":"file:///a","roll":"soon"}`, "not a duration"},
		{`{"url":"file:///a","max_bytes":"lots"}`, "max_bytes"},
		{`{"url":"file:///a","max_bytes":10}`, "max_bytes must be between"},
		{`{"url":"file:///a","rol":"1m"}`, `unknown setting "rol"`},
		{`{"url":5}`, `"url" must be a string`},
		{`{"url":"file:///a","access_key_id_secret":"a"}`, "apply to s3:// URLs only"},
		{`{"url":"s3://my-bucket/x"}`, "needs access_key_id_secret"},
		{`{"url":"s3://My_Bucket/x",` + s3 + `}`, "not a bucket name"},
		{`{"url":"s3://my-bucket/x?acl=public",` + s3 + `}`, `unknown URL parameter "acl"`},
		{`{"url":"s3://key:secret@my-bucket/x",` + s3 + `}`, "credentials do not belong in the URL"},
		{`{"url":"s3://my-bucket/x?endpoint=ftp://h",` + s3 + `}`, "endpoint must be a URL"},
		{`{"url":"s3://my-bucket/x?endpoint=http://169.254.169.254",` + s3 + `}`, "metadata"},
		{`{"url":"s3://my-bucket/x?endpoint=http://127.0.0.1:9000",` + s3 + `}`, "loopback"},
	}
	for _, tc := range bad {
		_, err := kind.Validate(json.RawMessage(tc.settings), deps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.settings, err, tc.want)
		}
	}
	if _, err := noFiles.Validate(json.RawMessage(`{"url":"file:///a"}`), deps); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Errorf("file:// without a file root: %v", err)
	}
}

func TestBlobFileNDJSON(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///archive/weather"}`, destDeps(t, false, nil))
	defer sk.Close()
	ctx := t.Context()

	b1, b2 := destBatch("del-1", 3), destBatch("del-2", 2)
	for _, b := range []Batch{b1, b2, b1} { // b1 redelivered
		if err := sk.Deliver(ctx, b); err != nil {
			t.Fatalf("deliver: %v", err)
		}
	}
	teamDir := filepath.Join(s.root, s.team.String())
	// Acknowledged means durable: the staged batches are files already.
	staged := listFiles(t, teamDir)
	if len(staged) != 2 {
		t.Fatalf("staged files %v, want one per delivery", staged)
	}
	for _, f := range staged {
		if !strings.HasPrefix(f, "archive/weather/_tributary/"+b1.PipelineID.String()+"/archive/20261128T130000Z/") {
			t.Errorf("staged file %s is not in the window's staging directory", f)
		}
	}

	// Not yet due: nothing happens.
	if err := sk.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, teamDir); !slices.Equal(got, staged) {
		t.Fatalf("compacted before the window ended: %v", got)
	}

	s.clock.add(15 * time.Minute) // 13:17: the 13:00 window ended
	if err := sk.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, teamDir)
	if len(got) != 1 || !regexp.MustCompile(`^archive/weather/weather/2026/11/28/13/archive-20261128T130000Z-[0-9a-f]{12}-000\.ndjson\.gz$`).MatchString(got[0]) {
		t.Fatalf("files after compaction: %v", got)
	}
	if _, err := os.Stat(filepath.Join(teamDir, "archive/weather/_tributary", b1.PipelineID.String(), "archive", "20261128T130000Z")); !os.IsNotExist(err) {
		t.Errorf("the emptied staging directory is left: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(teamDir, got[0]))
	if err != nil {
		t.Fatal(err)
	}
	lines := gunzipLines(t, data)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5 (3 + 2, the redelivery not repeated):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["ts"] != "2026-11-28T13:00:00Z" || first["station"] != "s0" {
		t.Errorf("first line %s", lines[0])
	}

	// A later window gets a file of its own.
	if err := sk.Deliver(ctx, destBatch("del-3", 1)); err != nil {
		t.Fatal(err)
	}
	if err := sk.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	got = listFiles(t, teamDir)
	if len(got) != 2 || !strings.Contains(got[1], "/13/archive-20261128T131500Z-") {
		t.Fatalf("files after close: %v", got)
	}
	if err := sk.Deliver(ctx, destBatch("del-4", 1)); err == nil {
		t.Error("deliver after close succeeded")
	}
}

func TestBlobRollBySize(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///big","format":"csv","compression":"none","max_bytes":"1MiB"}`, destDeps(t, false, nil))
	defer sk.Close()
	ctx := t.Context()
	// About 65 bytes of JSON per record: 20 batches of 1000 are over 1 MiB.
	for i := range 20 {
		b := destBatch("big-"+string(rune('a'+i)), 1000)
		if err := sk.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sk.wake:
	default:
		t.Fatal("a full window did not wake the compactor")
	}
	if err := sk.maintain(ctx, false); err != nil { // the window is still open
		t.Fatal(err)
	}
	got := listFiles(t, filepath.Join(s.root, s.team.String(), "big"))
	if len(got) < 2 {
		t.Fatalf("files %v: a window over max_bytes should be split", got)
	}
	rows := 0
	for _, f := range got {
		if strings.Contains(f, "_tributary") {
			t.Fatalf("staging left after a size roll: %v", got)
		}
		data, err := os.ReadFile(filepath.Join(s.root, s.team.String(), "big", f))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 1<<20+4096 {
			t.Errorf("%s has %d bytes, more than max_bytes and a record", f, len(data))
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], ",") != "ts,station,temp,count,tags" {
			t.Errorf("%s header %v", f, recs[0])
		}
		rows += len(recs) - 1
	}
	if rows != 20000 {
		t.Errorf("%d rows in the files, want 20000", rows)
	}
}

func TestBlobParquetAndBadRecord(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///pq","format":"parquet"}`, destDeps(t, false, nil))
	ctx := t.Context()
	b := destBatch("pq-1", 10)
	if err := sk.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	bad := destBatch("pq-2", 2)
	bad.Records[1].Data = json.RawMessage(`{"count":"many"}`)
	err := sk.Deliver(ctx, bad)
	if !IsPermanent(err) || !strings.Contains(err.Error(), `record 1`) || !strings.Contains(err.Error(), `"count"`) {
		t.Fatalf("a record that does not fit parquet: %v, want a permanent error naming it", err)
	}
	if err := sk.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.root, s.team.String(), "pq")
	got := listFiles(t, dir)
	if len(got) != 1 || !strings.HasSuffix(got[0], "-000.parquet") {
		t.Fatalf("files %v", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, got[0]))
	rows, _ := readParquetRows(t, data)
	if len(rows) != 10 || rows[9]["count"] != int64(9) {
		t.Fatalf("rows %v", rows)
	}
}

// TestBlobAdoptsOrphans shows that a crashed instance's staged batches are
// not lost: another instance of the sink writes them once their window is
// old enough.
func TestBlobAdoptsOrphans(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	deps := destDeps(t, false, nil)
	const settings = `{"url":"file:///x"}`
	ctx := t.Context()

	crashed := s.open(t, settings, deps)
	for _, id := range []string{"o-1", "o-2"} {
		if err := crashed.Deliver(ctx, destBatch(id, 2)); err != nil {
			t.Fatal(err)
		}
	}
	abandonBlob(crashed)

	next := s.open(t, settings, deps)
	defer next.Close()
	if err := next.Deliver(ctx, destBatch("n-1", 1)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.root, s.team.String(), "x")
	s.clock.add(20 * time.Minute) // the window ended, but less than adoptAfter ago
	if err := next.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, dir)
	if len(got) != 3 { // next's own file, and crashed's two staged batches
		t.Fatalf("files %v: orphans adopted too early", got)
	}
	s.clock.add(10 * time.Minute)
	if err := next.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	got = listFiles(t, dir)
	if len(got) != 2 {
		t.Fatalf("files %v: want next's file and the adopted file", got)
	}
	total := 0
	for _, f := range got {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		total += len(gunzipLines(t, data))
	}
	if total != 5 {
		t.Errorf("%d records in files, want 5", total)
	}
	// Adopting again finds nothing: the staged objects are gone.
	if err := next.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if again := listFiles(t, dir); !slices.Equal(again, got) {
		t.Errorf("files changed on a second sweep: %v", again)
	}
}

// TestBlobCompactIdempotent shows that compacting the same staged set twice
// (a crash after writing the file, before deleting what it was made of)
// rewrites one file instead of adding another.
func TestBlobCompactIdempotent(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///i"}`, destDeps(t, false, nil))
	defer sk.Close()
	ctx := t.Context()
	if err := sk.Deliver(ctx, destBatch("i-1", 4)); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, w := range sk.own {
		for k := range w.pieces {
			keys = append(keys, k)
		}
	}
	start := windowStart(s.clock.now(), sk.p.roll)
	// Write the file but keep the staged objects, as a crash would.
	bucket := sk.bucket
	copies := map[string][]byte{}
	for _, k := range keys {
		copies[k], _ = bucket.ReadAll(ctx, k)
	}
	if err := sk.compact(ctx, start, keys); err != nil {
		t.Fatal(err)
	}
	for k, v := range copies {
		if err := bucket.WriteAll(ctx, k, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sk.compact(ctx, start, keys); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, filepath.Join(s.root, s.team.String(), "i"))
	if len(got) != 1 {
		t.Fatalf("files %v, want one", got)
	}
}

func TestBlobTeamsAreSeparate(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	deps := destDeps(t, false, nil)
	const settings = `{"url":"file:///shared"}`
	other := uuid.MustParse("00000000-0000-0000-0000-0000000000cc")
	a := s.open(t, settings, deps)
	sk, err := s.kind.Open(t.Context(), other, json.RawMessage(settings), deps)
	if err != nil {
		t.Fatal(err)
	}
	b := sk.(*blobSink)
	for _, x := range []*blobSink{a, b} {
		if err := x.Deliver(t.Context(), destBatch("t", 1)); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, team := range []uuid.UUID{s.team, other} {
		if got := listFiles(t, filepath.Join(s.root, team.String(), "shared")); len(got) != 1 {
			t.Errorf("team %s files %v", team, got)
		}
	}
}

// newFakeS3 starts an in-process S3 with one bucket and returns its URL
// and a bucket handle that bypasses the sink, to look at what it wrote.
func newFakeS3(t *testing.T, bucket string) (string, *blob.Bucket) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	view, err := BlobKind(BlobConfig{}).Open(t.Context(), uuid.New(),
		json.RawMessage(`{"url":"s3://`+bucket+`?endpoint=`+srv.URL+`&use_path_style=true","access_key_id_secret":"a","secret_access_key_secret":"b"}`),
		destDeps(t, true, map[string]string{"a": "x", "b": "y"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { view.(*blobSink).bucket.Close() })
	return srv.URL, view.(*blobSink).bucket
}

func listBlobKeys(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func TestBlobS3(t *testing.T) {
	t.Parallel()
	endpoint, view := newFakeS3(t, "lake")
	s := newBlobSetup(t)
	secrets := map[string]string{"s3-id": "AKIDEXAMPLE", "s3-key": "secret"}
	settings := `{"url":"s3://lake/raw/weather?region=eu-central-1&endpoint=` + endpoint + `&use_path_style=true",
		"access_key_id_secret":"s3-id","secret_access_key_secret":"s3-key","roll":"5m"}`
	sk := s.open(t, settings, destDeps(t, true, secrets))
	ctx := t.Context()
	for _, id := range []string{"s-1", "s-2", "s-1"} {
		if err := sk.Deliver(ctx, destBatch(id, 3)); err != nil {
			t.Fatalf("deliver: %v", err)
		}
	}
	if got := listBlobKeys(t, view, "raw/weather/_tributary/"); len(got) != 2 {
		t.Fatalf("staged %v, want 2 objects", got)
	}
	s.clock.add(5 * time.Minute)
	if err := sk.maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := listBlobKeys(t, view, "raw/")
	if len(got) != 1 || !regexp.MustCompile(`^raw/weather/weather/2026/11/28/13/archive-20261128T130000Z-[0-9a-f]{12}-000\.ndjson\.gz$`).MatchString(got[0]) {
		t.Fatalf("objects after compaction: %v", got)
	}
	data, err := view.ReadAll(ctx, got[0])
	if err != nil {
		t.Fatal(err)
	}
	if lines := gunzipLines(t, data); len(lines) != 6 {
		t.Fatalf("%d records, want 6", len(lines))
	}
	if err := sk.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBlobS3Failures(t *testing.T) {
	t.Parallel()
	endpoint, _ := newFakeS3(t, "lake")
	s := newBlobSetup(t)
	ctx := t.Context()
	open := func(url string, deps Deps) *blobSink {
		sk, err := s.kind.Open(ctx, s.team, json.RawMessage(`{"url":"`+url+`","access_key_id_secret":"id","secret_access_key_secret":"key"}`), deps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sk.Close() })
		return sk.(*blobSink)
	}
	secrets := map[string]string{"id": "a", "key": "b"}

	t.Run("endpoint refused by the SSRF guard", func(t *testing.T) {
		deps := destDeps(t, false, secrets)
		settings := json.RawMessage(`{"url":"s3://lake/x?endpoint=` + endpoint + `&use_path_style=true","access_key_id_secret":"id","secret_access_key_secret":"key"}`)
		// Refused at save and at open, where the address is literal...
		if _, err := s.kind.Open(ctx, s.team, settings, deps); !IsPermanent(err) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("open with a loopback endpoint: %v, want a permanent refusal", err)
		}
		// ...and at dial time, where a name could hide it.
		deps.CheckURL = nil
		sk := open("s3://lake/x?endpoint="+endpoint+"&use_path_style=true", deps)
		err := sk.Deliver(ctx, destBatch("f-1", 1))
		if !IsPermanent(err) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("deliver through a refused endpoint: %v, want a permanent refusal", err)
		}
	})
	t.Run("no such bucket", func(t *testing.T) {
		sk := open("s3://nope/x?endpoint="+endpoint+"&use_path_style=true", destDeps(t, true, secrets))
		err := sk.Deliver(ctx, destBatch("f-2", 1))
		if !IsPermanent(err) {
			t.Fatalf("deliver to a missing bucket: %v, want permanent", err)
		}
	})
	t.Run("missing secret", func(t *testing.T) {
		sk := open("s3://lake/x?endpoint="+endpoint+"&use_path_style=true", destDeps(t, true, nil))
		err := sk.Deliver(ctx, destBatch("f-3", 1))
		if !IsPermanent(err) || !strings.Contains(err.Error(), `"id" does not exist`) {
			t.Fatalf("deliver without the secret: %v, want a permanent error naming it", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(nil)
		url := srv.URL
		srv.Close()
		sk := open("s3://lake/x?endpoint="+url+"&use_path_style=true", destDeps(t, true, secrets))
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := sk.Deliver(dctx, destBatch("f-4", 1))
		if err == nil || IsPermanent(err) {
			t.Fatalf("deliver to a server that is down: %v, want a retryable error", err)
		}
	})
}

// TestBlobKeysStayInRoot checks that the keys a sink writes map to paths
// inside the team's directory whatever the names in the batch.
func TestBlobKeysStayInRoot(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///a"}`, destDeps(t, false, nil))
	b := destBatch("../../../etc/passwd", 1)
	b.Pipeline, b.Sink = "../..", "/etc/x"
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := sk.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(s.root)
	if len(entries) != 1 || entries[0].Name() != s.team.String() {
		t.Fatalf("root holds %v, want only the team's directory", entries)
	}
	for _, f := range listFiles(t, filepath.Join(s.root, s.team.String())) {
		if !strings.HasPrefix(f, "a/") || strings.Contains(f, "..") {
			t.Errorf("file %s escapes the sink's directory", f)
		}
	}
	// fileblob agrees that the keys are plain.
	fb, err := fileblob.OpenBucket(filepath.Join(s.root, s.team.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if _, err := fb.Attributes(t.Context(), "a/nothing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Fatal(err)
	}
}

// TestBlobBackgroundLoop runs the real loop: a window that ends is written
// out without anyone calling maintain.
func TestBlobBackgroundLoop(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	s.cfg.manual = false
	s.cfg.tick = 10 * time.Millisecond
	s.kind = BlobKind(s.cfg)
	sk := s.open(t, `{"url":"file:///loop"}`, destDeps(t, false, nil))
	defer sk.Close()
	if err := sk.Deliver(t.Context(), destBatch("l-1", 2)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.root, s.team.String(), "loop")
	s.clock.add(15 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := listFiles(t, dir)
		if len(got) == 1 && strings.HasSuffix(got[0], ".ndjson.gz") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("files %v: the loop did not compact the ended window", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBlobVanishedPiece: a tracked staging object that is gone (compacted
// by a racing round) is dropped from tracking instead of blocking its
// window for good.
func TestBlobVanishedPiece(t *testing.T) {
	t.Parallel()
	s := newBlobSetup(t)
	sk := s.open(t, `{"url":"file:///v"}`, destDeps(t, false, nil))
	defer sk.Close()
	ctx := t.Context()
	if err := sk.Deliver(ctx, destBatch("v-1", 2)); err != nil {
		t.Fatal(err)
	}
	for dir, w := range sk.own {
		w.pieces[dir+sk.instance+"/gone.0.json"] = 10
	}
	s.clock.add(15 * time.Minute)
	if err := sk.maintain(ctx, false); err == nil || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("first round: %v, want the vanished object reported", err)
	}
	if err := sk.maintain(ctx, false); err != nil {
		t.Fatalf("second round: %v", err)
	}
	got := listFiles(t, filepath.Join(s.root, s.team.String(), "v"))
	if len(got) != 1 || strings.Contains(got[0], "_tributary") {
		t.Fatalf("files %v, want the window's file only", got)
	}
}
