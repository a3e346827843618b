package sink

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/netguard"
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
			"under `file://` (a directory below the server's sink root) or `s3://bucket/prefix` " +
			"(`?region=`, `?endpoint=` and `?path_style=true` select an S3-compatible service). " +
			"`format` is ndjson, csv or parquet, optionally gzip-compressed; S3 credentials are team secrets.",
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

// blobSettings is the JSON form of the settings.
type blobSettings struct {
	URL                   string          `json:"url"`
	Format                string          `json:"format,omitempty"`
	Compression           string          `json:"compression,omitempty"`
	Roll                  string          `json:"roll,omitempty"`
	MaxBytes              json.RawMessage `json:"max_bytes,omitempty"`
	AccessKeyIDSecret     string          `json:"access_key_id_secret,omitempty"`
	SecretAccessKeySecret string          `json:"secret_access_key_secret,omitempty"`
}

// blobParams are valid settings.
type blobParams struct {
	scheme    string // "file" or "s3"
	bucket    string // s3 only
	prefix    string // key prefix: "" or ending in "/"
	region    string
	endpoint  string // "" for AWS's own
	pathStyle bool
	format    fileFormat
	gzip      bool
	roll      time.Duration
	maxBytes  int64
	keyID     string // secret names, s3 only
	secretKey string
}

func (p blobParams) secrets() []string {
	if p.scheme != "s3" {
		return nil
	}
	return []string{p.keyID, p.secretKey}
}

var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// parseBlobSettings checks the settings; its errors say which setting is
// wrong and what would be right.
func parseBlobSettings(raw json.RawMessage, cfg BlobConfig, deps Deps) (blobParams, error) {
	var s blobSettings
	if err := decodeStrict(raw, &s); err != nil {
		return blobParams{}, fmt.Errorf("blob: %w", err)
	}
	p := blobParams{format: formatNDJSON, roll: blobDefaultRoll, maxBytes: blobDefaultMaxBytes}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("blob: "+format, args...)) }

	if s.URL == "" {
		bad("url is required: file:///path or s3://bucket/prefix")
	} else if u, err := url.Parse(s.URL); err != nil {
		bad("url is not a valid URL")
	} else {
		switch u.Scheme {
		case "file":
			errs = append(errs, p.parseFileURL(u, cfg)...)
		case "s3":
			errs = append(errs, p.parseS3URL(u, deps)...)
		default:
			bad("url must start with file:// or s3://, not %q", u.Scheme+":")
		}
	}

	switch s.Format {
	case "", "ndjson":
	case "csv", "parquet":
		p.format = fileFormat(s.Format)
	default:
		bad("format must be ndjson, csv or parquet, not %q", s.Format)
	}
	switch s.Compression {
	case "":
		p.gzip = p.format != formatParquet
	case "gzip":
		if p.format == formatParquet {
			bad("compression gzip does not apply to parquet, which is compressed inside; leave compression out")
		}
		p.gzip = p.format != formatParquet
	case "none":
	default:
		bad("compression must be gzip or none, not %q", s.Compression)
	}
	if s.Roll != "" {
		d, err := time.ParseDuration(s.Roll)
		switch {
		case err != nil:
			bad("roll %q is not a duration like 15m or 1h", s.Roll)
		case d < blobMinRoll || d > blobMaxRoll:
			bad("roll must be between %s and %s, not %s", blobMinRoll, blobMaxRoll, d)
		default:
			p.roll = d
		}
	}
	if len(s.MaxBytes) > 0 && string(s.MaxBytes) != "null" {
		n, err := parseByteSize(s.MaxBytes)
		switch {
		case err != nil:
			bad("max_bytes: %v", err)
		case n < blobMinMaxBytes || n > blobMaxMaxBytes:
			bad("max_bytes must be between 1MiB and 1GiB, not %d bytes", n)
		default:
			p.maxBytes = n
		}
	}
	if p.scheme == "s3" {
		if s.AccessKeyIDSecret == "" || s.SecretAccessKeySecret == "" {
			bad("s3 needs access_key_id_secret and secret_access_key_secret, the names of team secrets holding the credentials")
		}
		p.keyID, p.secretKey = s.AccessKeyIDSecret, s.SecretAccessKeySecret
	} else if s.AccessKeyIDSecret != "" || s.SecretAccessKeySecret != "" {
		bad("access_key_id_secret and secret_access_key_secret apply to s3:// URLs only")
	}
	return p, errors.Join(errs...)
}

func (p *blobParams) parseFileURL(u *url.URL, cfg BlobConfig) []error {
	p.scheme = "file"
	var errs []error
	if cfg.FileRoot == "" {
		errs = append(errs, errors.New("blob: file:// URLs are not enabled on this server; use s3://"))
	}
	if u.Host != "" && u.Host != "localhost" {
		errs = append(errs, fmt.Errorf("blob: a file URL has no host: write file:///path, not file://%s/…", u.Host))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, errors.New("blob: a file URL takes a path only: file:///path"))
	}
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		errs = append(errs, err)
	}
	p.prefix = prefix
	return errs
}

func (p *blobParams) parseS3URL(u *url.URL, deps Deps) []error {
	p.scheme = "s3"
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("blob: "+format, args...)) }
	if u.User != nil {
		bad("credentials do not belong in the URL; put them in team secrets and name them in access_key_id_secret and secret_access_key_secret")
	}
	if !s3BucketName.MatchString(u.Host) {
		bad("%q is not a bucket name: s3://bucket/prefix, 3 to 63 lower-case letters, digits, dots and hyphens", u.Host)
	}
	p.bucket = u.Host
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		errs = append(errs, err)
	}
	p.prefix = prefix
	p.region = "us-east-1"
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			if v == "" {
				bad("region is empty")
			}
			p.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
				bad("endpoint must be a URL like https://s3.example.com, without path, query or credentials")
				continue
			}
			if deps.CheckURL != nil {
				if err := deps.CheckURL(v); err != nil {
					bad("endpoint: %v", err)
					continue
				}
			}
			p.endpoint = strings.TrimSuffix(v, "/")
		case "use_path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("use_path_style must be true or false")
			}
			p.pathStyle = b
		default:
			bad("unknown URL parameter %q; s3 URLs take region, endpoint and use_path_style", k)
		}
	}
	return errs
}

// keyPrefix turns a URL path into a key prefix ("" or ending in "/"),
// refusing paths that could leave their directory or that object stores
// and file systems would read differently.
func keyPrefix(path string) (string, error) {
	path = strings.TrimPrefix(path, "/")
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(path, "/") {
		switch {
		case seg == "":
			return "", errors.New("blob: the URL path has an empty segment (//)")
		case seg == "." || seg == "..":
			return "", fmt.Errorf("blob: the URL path may not contain %q segments", seg)
		case strings.HasSuffix(seg, "."):
			return "", fmt.Errorf("blob: a segment of the URL path may not end with a dot (%q)", seg)
		case strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
			return "", errors.New("blob: the URL path may not contain control characters or backslashes")
		}
	}
	return path + "/", nil
}

// parseByteSize reads a number of bytes, or a string like "64MiB", "10MB"
// or "1048576".
func parseByteSize(raw json.RawMessage) (int64, error) {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New(`must be a number of bytes or a size like "64MiB"`)
	}
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	units := map[string]float64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
	}
	mult, ok := units[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size like 64MiB, 100MB or 1048576", s)
	}
	return int64(f * mult), nil
}

// decodeStrict decodes a kind's settings strictly, so that a misspelt
// setting is refused rather than ignored.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return errors.New("settings are not valid JSON")
		case errors.As(err, &typ):
			return fmt.Errorf("setting %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown setting %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("settings: %w", err)
	}
	if dec.More() {
		return errors.New("settings are not one JSON object")
	}
	return nil
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean (true or false)"
	default:
		return "number"
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

func openBlob(ctx context.Context, teamID uuid.UUID, p blobParams, cfg BlobConfig, deps Deps) (*blobSink, error) {
	s := &blobSink{
		p:        p,
		instance: blobInstanceID(8),
		log:      cfg.Logger,
		now:      cfg.now,
		tick:     cfg.tick,
		adopt:    cfg.adoptAfter,
		sweepGap: cfg.sweepEvery,
		manual:   cfg.manual,
		own:      map[string]*ownWindow{},
		scopes:   map[string]bool{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tick == 0 {
		s.tick = min(max(p.roll/4, 5*time.Second), time.Minute)
	}
	if s.adopt == 0 {
		s.adopt = 10 * time.Minute
	}
	if s.sweepGap == 0 {
		s.sweepGap = 5 * time.Minute
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())

	switch p.scheme {
	case "file":
		root, err := filepath.Abs(cfg.FileRoot)
		if err != nil {
			return nil, fmt.Errorf("blob: file root: %w", err)
		}
		s.fileDir = filepath.Join(root, teamID.String())
		b, err := fileblob.OpenBucket(s.fileDir, &fileblob.Options{
			CreateDir:   true,
			DirFileMode: 0o750,
			// Temporary files next to their target, so the final rename
			// never crosses file systems.
			NoTempDir: true,
			Metadata:  fileblob.MetadataDontWrite,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: open directory: %w", err)
		}
		s.bucket = b
	case "s3":
		if deps.HTTPClient == nil {
			return nil, errors.New("blob: no SSRF-safe HTTP client to reach S3 with")
		}
		if deps.Secret == nil {
			return nil, errors.New("blob: no secret store to read the S3 credentials from")
		}
		creds := aws.NewCredentialsCache(s3Credentials(teamID, p, deps))
		opts := s3.Options{
			Region:                     p.region,
			Credentials:                creds,
			HTTPClient:                 deps.HTTPClient,
			UsePathStyle:               p.pathStyle,
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		}
		if p.endpoint != "" {
			opts.BaseEndpoint = aws.String(p.endpoint)
		}
		b, err := s3blob.OpenBucket(ctx, s3.New(opts), p.bucket, &s3blob.Options{
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: open bucket: %w", err)
		}
		s.bucket = b
	}
	return s, nil
}

// s3Credentials reads the credentials from the team's secrets, again every
// few minutes (through aws.CredentialsCache), so a rotated secret takes
// effect without reopening the sink.
func s3Credentials(teamID uuid.UUID, p blobParams, deps Deps) aws.CredentialsProviderFunc {
	return func(ctx context.Context) (aws.Credentials, error) {
		id, err := deps.Secret(ctx, teamID, p.keyID)
		if err != nil {
			return aws.Credentials{}, teamSecretError(p.keyID, err)
		}
		key, err := deps.Secret(ctx, teamID, p.secretKey)
		if err != nil {
			return aws.Credentials{}, teamSecretError(p.secretKey, err)
		}
		return aws.Credentials{
			AccessKeyID:     strings.TrimSpace(string(id)),
			SecretAccessKey: strings.TrimSpace(string(key)),
			Source:          "tributary team secrets",
			CanExpire:       true,
			Expires:         time.Now().Add(5 * time.Minute),
		}, nil
	}
}

// teamSecretError describes a secret that could not be read; a missing one
// is permanent.
func teamSecretError(name string, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return Permanent(fmt.Errorf("team secret %q does not exist; create it or change the sink", name))
	}
	return fmt.Errorf("read team secret %q: %w", name, err)
}

// Deliver stages the batch; see the comment at the top of this file.
func (s *blobSink) Deliver(ctx context.Context, b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	for i, r := range b.Records {
		if err := checkRecord(s.p.format, b.Fields, r); err != nil {
			return Permanent(fmt.Errorf("blob: record %d cannot be written as %s: %w", i, s.p.format, err))
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("blob: sink is closed")
	}
	s.mu.Unlock()

	start := windowStart(s.now(), s.p.roll)
	scope := s.scopeDir(b.PipelineID, b.Sink)
	winDir := scope + start.Format(windowLayout) + "/"
	pieces := encodePieces(b)
	staged := make(map[string]int64, len(pieces))
	for i, p := range pieces {
		key := fmt.Sprintf("%s%s/%s.%d.json", winDir, s.instance, deliveryKey(b.DeliveryID), i)
		if err := s.write(ctx, key, p.data, "application/x-ndjson"); err != nil {
			return blobError("blob: write batch", err)
		}
		staged[key] = p.recordBytes
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Closed meanwhile: the batch is staged, and adopted later.
		return nil
	}
	s.scopes[scope] = true
	w := s.own[winDir]
	if w == nil {
		w = &ownWindow{start: start, pieces: map[string]int64{}}
		s.own[winDir] = w
	}
	maps.Copy(w.pieces, staged) // a retried delivery overwrites its own keys
	if !s.started && !s.manual {
		s.started = true
		go s.run()
	}
	if w.size() >= s.p.maxBytes {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// windowStart is the start of the roll window t falls in; windows are
// aligned to the Unix epoch, so a 15m roll starts windows at :00, :15, :30
// and :45 on every node.
func windowStart(t time.Time, roll time.Duration) time.Time {
	sec := int64(roll / time.Second)
	u := t.Unix()
	return time.Unix(u-u%sec, 0).UTC()
}

func (s *blobSink) scopeDir(pipelineID uuid.UUID, sinkName string) string {
	return s.p.prefix + stagingDir + pipelineID.String() + "/" + safeName(sinkName) + "/"
}

// pieceHeader is the first line of a staging object.
type pieceHeader struct {
	Version    int          `json:"tributary_piece"`
	DeliveryID string       `json:"delivery_id"`
	Pipeline   string       `json:"pipeline"`
	Sink       string       `json:"sink"`
	Fields     []pieceField `json:"fields"`
}

type pieceField struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// pieceRecord is every further line of a staging object.
type pieceRecord struct {
	TS   time.Time       `json:"ts"`
	ID   int64           `json:"id,omitempty"`
	Data json.RawMessage `json:"data"`
}

// piece is an encoded staging object.
type piece struct {
	data        []byte
	recordBytes int64 // the size of the records' JSON in it
}

// encodePieces encodes a batch as one staging object, or several when it
// is larger than blobPieceBytes.
func encodePieces(b Batch) []piece {
	h := pieceHeader{Version: 1, DeliveryID: b.DeliveryID, Pipeline: b.Pipeline, Sink: b.Sink}
	for _, f := range b.Fields {
		h.Fields = append(h.Fields, pieceField(f))
	}
	header, _ := json.Marshal(h) // plain strings: cannot fail
	var out []piece
	var cur piece
	for _, r := range b.Records {
		if len(cur.data) == 0 {
			cur.data = append(append(cur.data, header...), '\n')
		}
		line, _ := json.Marshal(pieceRecord{TS: r.TS.UTC(), ID: r.ID, Data: compactJSON(r.Data)})
		cur.data = append(append(cur.data, line...), '\n')
		cur.recordBytes += int64(len(r.Data))
		if len(cur.data) >= blobPieceBytes {
			out = append(out, cur)
			cur = piece{}
		}
	}
	if len(cur.data) > 0 {
		out = append(out, cur)
	}
	return out
}

// compactJSON returns data without insignificant white space (a
// json.RawMessage with a newline inside would break a staging object's
// lines; json.Marshal compacts it anyway, this only makes it explicit).
func compactJSON(data json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return data // checked by checkRecord before
	}
	return buf.Bytes()
}

// decodePiece reads a staging object.
func decodePiece(data []byte) (pieceHeader, []core.Record, error) {
	var h pieceHeader
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	if !sc.Scan() {
		return h, nil, errors.New("empty staging object")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 1 {
		return h, nil, errors.New("not a version 1 staging object")
	}
	var recs []core.Record
	for sc.Scan() {
		var pr pieceRecord
		if err := json.Unmarshal(sc.Bytes(), &pr); err != nil {
			return h, nil, fmt.Errorf("record line %d: %w", len(recs)+1, err)
		}
		recs = append(recs, core.Record{ID: pr.ID, TS: pr.TS, Data: pr.Data})
	}
	return h, recs, sc.Err()
}

// write writes one object, and for file:// makes it durable.
func (s *blobSink) write(ctx context.Context, key string, data []byte, contentType string) error {
	if err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType}); err != nil {
		return err
	}
	return s.syncFile(key)
}

// syncFile flushes a file written through fileblob, and its directory, to
// disk: fileblob renames a temporary file into place but does not fsync,
// and an acknowledged delivery must survive a power loss.
func (s *blobSink) syncFile(key string) error {
	if s.fileDir == "" {
		return nil
	}
	path := filepath.Join(s.fileDir, filepath.FromSlash(key))
	// The file, then every directory up to the team's: any of them may
	// have just been created.
	paths := []string{path}
	for d := filepath.Dir(path); len(d) >= len(s.fileDir); d = filepath.Dir(d) {
		paths = append(paths, d)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// blobError marks errors that retrying cannot fix as permanent: a missing
// bucket, refused credentials or permissions, a forbidden endpoint.
func blobError(msg string, err error) error {
	err = fmt.Errorf("%s: %w", msg, err)
	if errors.Is(err, netguard.ErrForbidden) || IsPermanent(err) {
		return Permanent(err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "InvalidBucketName", "AccessDenied", "Forbidden", "InvalidAccessKeyId",
			"SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "InvalidArgument", "AccountProblem":
			return Permanent(err)
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.PermissionDenied, gcerrors.NotFound, gcerrors.InvalidArgument:
		return Permanent(err)
	}
	return err
}

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

// maintain compacts this instance's windows that ended or are full (all
// of them when flush is set) and, when it is time, adopts orphaned staging
// objects.
func (s *blobSink) maintain(ctx context.Context, flush bool) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	now := s.now()

	type job struct {
		dir    string
		start  time.Time
		pieces []string
	}
	var jobs []job
	s.mu.Lock()
	for dir, w := range s.own {
		if flush || !w.start.Add(s.p.roll).After(now) || w.size() >= s.p.maxBytes {
			jobs = append(jobs, job{dir, w.start, slices.Collect(maps.Keys(w.pieces))})
		}
	}
	sweep := !flush && now.Sub(s.lastSweep) >= s.sweepGap
	var scopes []string
	if sweep {
		s.lastSweep = now
		for sc := range s.scopes {
			scopes = append(scopes, sc)
		}
	}
	s.mu.Unlock()

	var errs []error
	for _, j := range jobs {
		if err := s.compact(ctx, j.start, j.pieces); err != nil {
			var gone *vanishedError
			if errors.As(err, &gone) {
				// Written and compacted already (a retried delivery racing
				// its window's compaction): stop tracking it, and compact
				// the rest on the next round.
				s.mu.Lock()
				if w := s.own[j.dir]; w != nil {
					delete(w.pieces, gone.key)
				}
				s.mu.Unlock()
			}
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		if w := s.own[j.dir]; w != nil {
			for _, k := range j.pieces {
				delete(w.pieces, k)
			}
			if len(w.pieces) == 0 {
				delete(s.own, j.dir)
			}
		}
		s.mu.Unlock()
	}
	slices.Sort(scopes)
	for _, sc := range scopes {
		if err := s.adoptOrphans(ctx, sc, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// adoptOrphans compacts the staging objects of other instances in windows
// of scope that ended more than adoptAfter ago.
func (s *blobSink) adoptOrphans(ctx context.Context, scope string, now time.Time) error {
	var windows []time.Time
	it := s.bucket.List(&blob.ListOptions{Prefix: scope, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("list staging windows: %w", err)
		}
		if !obj.IsDir {
			continue
		}
		start, err := time.Parse(windowLayout, strings.TrimSuffix(strings.TrimPrefix(obj.Key, scope), "/"))
		if err != nil || start.Add(s.p.roll+s.adopt).After(now) {
			continue
		}
		windows = append(windows, start)
	}
	var errs []error
	for _, start := range windows {
		dir := scope + start.Format(windowLayout) + "/"
		// This instance's own staging objects that it still tracks are
		// compacted as its own; ones it lost track of (a write that
		// failed halfway) are adopted like anyone's.
		s.mu.Lock()
		var mine map[string]int64
		if w := s.own[dir]; w != nil {
			mine = maps.Clone(w.pieces)
		}
		s.mu.Unlock()
		var keys []string
		it := s.bucket.List(&blob.ListOptions{Prefix: dir})
		for len(keys) < blobMaxPieces {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("list staging objects: %w", err)
			}
			if _, tracked := mine[obj.Key]; strings.HasSuffix(obj.Key, ".json") && !tracked {
				keys = append(keys, obj.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		s.log.Info("blob sink: adopting staged records of a stopped instance", "window", dir, "objects", len(keys))
		if err := s.compact(ctx, start, keys); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// blobOutput is one file being written by a compaction.
type blobOutput struct {
	key   string
	w     *blob.Writer
	gz    *gzip.Writer
	enc   recordEncoder
	bytes int64
}

func (o *blobOutput) close() error {
	err := o.enc.Close()
	if o.gz != nil {
		err = errors.Join(err, o.gz.Close())
	}
	return errors.Join(err, o.w.Close())
}

// compact writes the records of the staging objects keys, all of the
// window starting at start, as files, and then deletes the staging
// objects. Files are written fully before anything is deleted; a failure
// writes no partial file and deletes nothing. Records are grouped by
// pipeline name, sink name and fields (a file has one schema), and a group
// is split into files of at most max_bytes of record data.
func (s *blobSink) compact(ctx context.Context, start time.Time, keys []string) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	setID := hex.EncodeToString(sum[:6])

	// Writers are created with wctx: canceling it before Close aborts the
	// write, leaving no partial file.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	open := map[string]*blobOutput{}
	var finished []*blobOutput
	part := 0
	abort := func(err error) error {
		cancel()
		for _, o := range open {
			_ = o.close()
		}
		return err
	}
	newOutput := func(h pieceHeader) (*blobOutput, error) {
		ext := s.p.format.ext()
		contentType := s.p.format.contentType()
		if s.p.gzip {
			ext += ".gz"
			contentType = "application/gzip"
		}
		key := fmt.Sprintf("%s%s/%s/%s-%s-%s-%03d.%s", s.p.prefix, safeName(h.Pipeline), start.Format("2006/01/02/15"),
			safeName(h.Sink), start.Format(windowLayout), setID, part, ext)
		part++
		w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
		if err != nil {
			return nil, err
		}
		o := &blobOutput{key: key, w: w}
		var dst io.Writer = w
		if s.p.gzip {
			o.gz = gzip.NewWriter(w)
			dst = o.gz
		}
		fields := make([]Field, len(h.Fields))
		for i, f := range h.Fields {
			fields[i] = Field(f)
		}
		o.enc = newRecordEncoder(s.p.format, dst, fields)
		return o, nil
	}

	var used []string // staging objects whose records were written
	for piece := range s.readPieces(wctx, keys) {
		if piece.err != nil {
			if gcerrors.Code(piece.err) == gcerrors.NotFound {
				// Compacted by someone else meanwhile: what this set would
				// write may now be incomplete, so write nothing.
				return abort(&vanishedError{key: piece.key})
			}
			return abort(fmt.Errorf("read staging object %s: %w", piece.key, piece.err))
		}
		h, recs, err := decodePiece(piece.data)
		if err != nil {
			// Never deleted, so never lost: it stays for a person to see.
			s.log.Error("blob sink: skipping an unreadable staging object", "key", piece.key, "err", err)
			continue
		}
		group := groupKey(h)
		for _, r := range recs {
			o := open[group]
			if o != nil && o.bytes >= s.p.maxBytes {
				delete(open, group)
				if err := o.close(); err != nil {
					return abort(blobError("blob: write file "+o.key, err))
				}
				finished = append(finished, o)
				o = nil
			}
			if o == nil {
				if o, err = newOutput(h); err != nil {
					return abort(blobError("blob: create file", err))
				}
				open[group] = o
			}
			if err := o.enc.Encode(r); err != nil {
				return abort(fmt.Errorf("blob: encode a record of %s: %w", piece.key, err))
			}
			o.bytes += int64(len(r.Data))
		}
		used = append(used, piece.key)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	groups := make([]string, 0, len(open))
	for g := range open {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		o := open[g]
		delete(open, g)
		if err := o.close(); err != nil {
			return abort(blobError("blob: write file "+o.key, err))
		}
		finished = append(finished, o)
	}
	for _, o := range finished {
		if err := s.syncFile(o.key); err != nil {
			return fmt.Errorf("blob: sync file %s: %w", o.key, err)
		}
	}
	return s.deletePieces(ctx, used)
}

// vanishedError is a staging object deleted while a compaction read it.
type vanishedError struct{ key string }

func (e *vanishedError) Error() string {
	return "staging object " + e.key + " vanished during compaction"
}

// groupKey says which file a staging object's records go to.
func groupKey(h pieceHeader) string {
	fields, _ := json.Marshal(h.Fields)
	return h.Pipeline + "\x00" + h.Sink + "\x00" + string(fields)
}

// fetchedPiece is one staging object read by readPieces.
type fetchedPiece struct {
	key  string
	data []byte
	err  error
}

// readPieces reads the staging objects keys, a few at a time in parallel,
// and yields them in order. It stops at the first error it yields.
func (s *blobSink) readPieces(ctx context.Context, keys []string) func(yield func(fetchedPiece) bool) {
	return func(yield func(fetchedPiece) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		results := make([]chan fetchedPiece, len(keys))
		for i := range results {
			results[i] = make(chan fetchedPiece, 1)
		}
		sem := make(chan struct{}, blobParallel)
		go func() {
			for i, k := range keys {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				go func() {
					data, err := s.bucket.ReadAll(ctx, k)
					results[i] <- fetchedPiece{key: k, data: data, err: err}
				}()
			}
		}()
		for i := range keys {
			var p fetchedPiece
			select {
			case p = <-results[i]:
			case <-ctx.Done():
				return
			}
			<-sem
			if !yield(p) || p.err != nil {
				return
			}
		}
	}
}

// deletePieces deletes staging objects whose records are in files now. A
// failure is only logged: the objects are adopted again later, which
// duplicates their records but loses nothing.
func (s *blobSink) deletePieces(ctx context.Context, keys []string) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, blobParallel)
	var mu sync.Mutex
	var failed int
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		s.log.Warn("blob sink: some staging objects could not be deleted; their records will be written again", "failed", failed)
	}
	s.removeEmptyDirs(keys)
	return nil
}

// removeEmptyDirs removes the directories that compaction emptied, for
// file://; object stores have no directories.
func (s *blobSink) removeEmptyDirs(keys []string) {
	if s.fileDir == "" {
		return
	}
	dirs := map[string]bool{}
	for _, k := range keys {
		d := filepath.Dir(filepath.Join(s.fileDir, filepath.FromSlash(k)))
		dirs[d] = true
		dirs[filepath.Dir(d)] = true // the window's directory
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	// Deepest first, so a window's directory goes after its instances'.
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	for _, d := range list {
		_ = os.Remove(d) // fails, harmlessly, when not empty
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

// safeName makes a name usable as one path segment: letters, digits, '.',
// '_' and '-' are kept, anything else becomes '_', and so does a dot at
// either end (no hidden files, and nothing a file system or fileblob reads
// as "..").
func safeName(s string) string {
	b := []byte(s)
	if len(b) > 100 {
		b = b[:100]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	if b[len(b)-1] == '.' {
		b[len(b)-1] = '_'
	}
	return string(b)
}

// deliveryKey is a delivery id fit for a key: itself when it is short and
// plain, else a hash of it.
func deliveryKey(id string) string {
	if id != "" && len(id) <= 100 && safeName(id) == id {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

func blobInstanceID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
