package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gocloud.dev/blob"
)

// The blob sink writes records as files to object storage: a directory on
// this server (file://) or an S3-compatible bucket (s3://: AWS S3,
// Cloudflare R2, MinIO), in NDJSON, CSV or Parquet.
//
// # Files, roll-over and at-least-once
//
// Two goals pull apart here. A delivery is acknowledged only once its
// records are durable, and a delivery carries one committed batch, often a
// few dozen records; yet a busy pipeline must not leave thousands of tiny
// files. Holding batches in memory until a file is full would acknowledge
// records that a crash then loses, and blocking a delivery until its file
// rolls would stall the sink (it serves one delivery at a time). So the
// sink writes in two steps:
//
//  1. Staging. Deliver writes the batch as one staging object (our own
//     NDJSON envelope: a header line with the delivery id, pipeline name
//     and fields, then one line per record) and returns nil only when that
//     write succeeded. The key is a function of the roll window, the sink
//     instance and the delivery id, so a retried delivery overwrites its
//     own object:
//     <prefix>/_tributary/<pipeline id>/<sink>/<window start>/<instance>/<delivery id>.<n>.json
//     (Hive, Spark, Athena and Trino ignore paths starting with "_".)
//  2. Compaction. In the background, the staging objects of a window are
//     read back, written as files of the chosen format, and only then
//     deleted:
//     <prefix>/<pipeline>/2006/01/02/15/<sink>-<window start>-<set hash>-<nnn>.ndjson.gz
//     A window is compacted when it ends (roll, default 15m) or early, when
//     its staged data reaches max_bytes; max_bytes also caps each output
//     file. The file name is derived from the set of staging objects it was
//     made from, so compacting the same set twice (a retry after a failure
//     or a crash between writing the file and deleting the staging
//     objects) rewrites the same file rather than adding one.
//
// Each sink instance (one per process and configuration) compacts only its
// own staging objects, so nodes never race each other for a window. Staging
// objects that no live instance owns any more, because their process
// crashed or their compaction kept failing, are adopted by any instance of
// the same sink once their window ended more than adoptAfter ago; an
// instance finds them once it has seen a delivery (the staging path uses
// the pipeline id and sink name, which only a Batch carries). Close
// compacts the instance's pending windows, so a clean stop or
// reconfiguration leaves nothing behind.
//
// A record is therefore durable when Deliver returns nil, and appears in a
// final file at most one roll interval (plus a compaction tick) later. Data
// can be duplicated, never lost: a delivery retried after its staging
// object was compacted is written again into a later file, and so are the
// records of a crashed compaction whose staging objects were only partly
// deleted. Consumers that need exactly-once dedupe downstream.
//
// Records that the chosen format cannot hold (a value that does not fit
// its field's declared type in Parquet) are refused by Deliver with a
// permanent error, before anything is written, so compaction never meets
// a record it cannot write.
//
// # Security
//
// file:// URLs are confined to BlobConfig.FileRoot, each team in a
// directory of its own; a URL path cannot leave it (no "..", no empty or
// "." segments). s3:// requests go through Deps.HTTPClient, the SSRF-safe
// client, whatever the endpoint; credentials come only from team secrets,
// never from the server's own AWS configuration (environment, instance
// role), which a tenant must not be able to borrow.

// BlobConfig configures the blob kind.
type BlobConfig struct {
	// FileRoot is the directory under which file:// URLs are written, each
	// team in its own subdirectory: file:///archive/weather of team T is
	// FileRoot/T/archive/weather. Empty refuses file:// URLs.
	FileRoot string
	// Logger receives the errors of background compaction, which no
	// delivery reports. Nil discards them.
	Logger *slog.Logger

	// Tests override these; zero values take the defaults.
	now        func() time.Time
	tick       time.Duration // how often the background loop runs
	adoptAfter time.Duration // a window's staging objects are orphans this long after it ends
	sweepEvery time.Duration // how often orphans are looked for
	manual     bool          // no background loop: tests call maintain
}

// Blob settings defaults and limits.
const (
	blobDefaultRoll     = 15 * time.Minute
	blobMinRoll         = time.Minute
	blobMaxRoll         = 24 * time.Hour
	blobDefaultMaxBytes = 64 << 20
	blobMinMaxBytes     = 1 << 20
	blobMaxMaxBytes     = 1 << 30
	// blobPieceBytes bounds one staging object, so that reading it back
	// stays well within the SSRF-safe client's response size limit.
	blobPieceBytes = 8 << 20
	// blobMaxPieces bounds the staging objects one compaction reads.
	blobMaxPieces = 10000
	// blobCloseTimeout bounds the compaction Close does.
	blobCloseTimeout = 30 * time.Second
	// blobCompactTimeout bounds one background round.
	blobCompactTimeout = 10 * time.Minute
	blobParallel       = 8
	stagingDir         = "_tributary/"
	windowLayout       = "20060102T150405Z"
)

// blobNotes says where a file:// URL is written: not at its path on the
// server, but under the sink root, in the team's own directory.
func blobNotes(settings json.RawMessage) []string {
	var s struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(settings, &s) != nil || !strings.HasPrefix(s.URL, "file://") {
		return nil
	}
	return []string{"file:// URLs are not paths of the server's file system: " + s.URL + " is written under the server's sink root " +
		"(TRIBUTARY_DATA_DIR/sinks unless configured otherwise), in the team's own directory, at <sink root>/<team id>" +
		strings.TrimPrefix(s.URL, "file://") + "."}
}

// BlobKind returns the "blob" kind. Settings:
//
//	url:         file:///path or s3://bucket/prefix?region=…&endpoint=…&use_path_style=true
//	format:      ndjson (default), csv or parquet
//	compression: gzip (default for ndjson and csv) or none; Parquet files
//	             are compressed inside (zstd)
//	roll:        how long records collect before they are written as files
//	             (default 15m, 1m to 24h)
//	max_bytes:   the most record data (as JSON) in one file, which also
//	             rolls a window early when that much is staged: a number
//	             of bytes or a string like "64MiB" (default 64MiB, 1MiB to
//	             1GiB); files are smaller, CSV and Parquet and gzip more so
//	access_key_id_secret, secret_access_key_secret:
//	             names of the team secrets holding the S3 credentials
//	             (required for s3://)
func BlobKind(cfg BlobConfig) Kind {
	return Kind{
		Name:    "blob",
		Summary: "writes records as NDJSON, CSV or Parquet files to a directory or an S3-compatible bucket",
		Description: "Records collect for `roll` (or until `max_bytes`) and are then written as one file per window, " +
			"under `file://` or `s3://bucket/prefix` " +
			"(`?region=`, `?endpoint=` and `?path_style=true` select an S3-compatible service). " +
			"`format` is ndjson, csv or parquet, optionally gzip-compressed; S3 credentials are team secrets. " +
			"A `file://` URL is not a path of the server's file system: `file:///archive/x` is written to " +
			"`<sink root>/<team id>/archive/x`, where the sink root is `TRIBUTARY_DATA_DIR/sinks`; the sink's `notes` in the API say so.",
		Notes:       blobNotes,
		NewSettings: func() any { return new(blobSettings) },
		Secrets: func(v any) []SecretRef {
			s := v.(*blobSettings)
			var out []SecretRef
			if s.AccessKeyIDSecret != "" {
				out = append(out, SecretRef{Path: "access_key_id_secret", Name: s.AccessKeyIDSecret})
			}
			if s.SecretAccessKeySecret != "" {
				out = append(out, SecretRef{Path: "secret_access_key_secret", Name: s.SecretAccessKeySecret})
			}
			return out
		},
		Example: `{"url":"s3://bucket/weather?region=eu-central-1","format":"parquet","roll":"15m","max_bytes":"64MiB",` +
			`"access_key_id_secret":"s3-key-id","secret_access_key_secret":"s3-secret-key"}`,
		MaxBatch: 10000,
		Validate: func(settings json.RawMessage, deps Deps) ([]string, error) {
			p, err := parseBlobSettings(settings, cfg, deps)
			if err != nil {
				return nil, err
			}
			return p.secrets(), nil
		},
		Open: func(ctx context.Context, teamID uuid.UUID, settings json.RawMessage, deps Deps) (Sink, error) {
			p, err := parseBlobSettings(settings, cfg, deps)
			if err != nil {
				return nil, Permanent(err)
			}
			return openBlob(ctx, teamID, p, cfg, deps)
		},
	}
}

// blobSink is an open blob sink; see the comment at the top of this file.
type blobSink struct {
	p        blobParams
	bucket   *blob.Bucket
	fileDir  string // the team's directory, for file://; "" for s3
	instance string
	log      *slog.Logger
	now      func() time.Time
	tick     time.Duration
	adopt    time.Duration
	sweepGap time.Duration
	manual   bool

	mu        sync.Mutex
	own       map[string]*ownWindow // by window directory
	scopes    map[string]bool       // staging directories of the (pipeline, sink)s seen
	lastSweep time.Time
	started   bool
	closed    bool
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	bgCancel  context.CancelFunc
	bgCtx     context.Context

	// compactMu serializes compaction between the background loop and
	// Close.
	compactMu sync.Mutex
}

// ownWindow is what this instance staged in one window and has not yet
// compacted.
type ownWindow struct {
	start  time.Time
	pieces map[string]int64 // staging object key → size
}

// size is how much this instance staged in the window.
func (w *ownWindow) size() int64 {
	var n int64
	for _, b := range w.pieces {
		n += b
	}
	return n
}

var _ Sink = (*blobSink)(nil)

// run is the background loop: it compacts due windows every tick, or at
// once when Deliver says a window is full, until Close.
func (s *blobSink) run() {
	defer close(s.done)
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
		}
		ctx, cancel := context.WithTimeout(s.bgCtx, blobCompactTimeout)
		if err := s.maintain(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Error("blob sink: compaction failed; staged records are kept and retried", "err", err)
		}
		cancel()
	}
}

// Close compacts what this instance staged, so a clean stop leaves no
// staging objects, and releases the bucket.
func (s *blobSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	s.bgCancel()
	if started {
		close(s.stop)
		<-s.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), blobCloseTimeout)
	defer cancel()
	err := s.maintain(ctx, true)
	if err != nil {
		err = fmt.Errorf("blob: compact on close (the staged records stay and are adopted later): %w", err)
	}
	return errors.Join(err, s.bucket.Close())
}

func blobInstanceID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
