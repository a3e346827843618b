// Package config holds Tributary's configuration: defaults, the TRIBUTARY_*
// environment variables, command-line flags, and validation that fails fast
// with one clear sentence per problem.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/blobstore"
	"github.com/tributary-dev/tributary/internal/netguard"
)

// Config is everything `tributary serve` needs. The zero value is not
// useful; start from Default.
type Config struct {
	// Addr is the HTTP listen address (TRIBUTARY_ADDR).
	Addr string
	// DataDir holds the SQLite database, the secrets key file and local
	// object storage (TRIBUTARY_DATA_DIR).
	DataDir string
	// DatabaseURL selects PostgreSQL when set; empty means the embedded
	// SQLite file in DataDir (TRIBUTARY_DATABASE_URL).
	DatabaseURL string
	// DatabaseReadURL is optional PostgreSQL read replicas, as
	// comma-separated URLs: history, series and list reads spread over
	// those that keep up (TRIBUTARY_DATABASE_READ_URL).
	DatabaseReadURL string
	// RedisURL, when set, links the nodes of a cluster through Redis:
	// live batches travel over Redis pub/sub (TRIBUTARY_REDIS_URL).
	// Without it, nodes on PostgreSQL use LISTEN/NOTIFY.
	RedisURL string
	// SecretKey is the 32-byte key sealing team secrets, as hex or base64
	// (TRIBUTARY_SECRET_KEY). Prefer SecretKeyFile.
	SecretKey string
	// SecretKeyFile is a file holding the key (TRIBUTARY_SECRET_KEY_FILE).
	// With neither set, DataDir/secret.key is created on first start.
	SecretKeyFile string
	// BaseURL is the public URL of this server, used to build webhook URLs
	// and to decide whether cookies are Secure (TRIBUTARY_BASE_URL).
	BaseURL string
	// LogFormat is "text", "json" or "auto" (JSON unless stderr is a
	// terminal) (TRIBUTARY_LOG_FORMAT).
	LogFormat string
	// LogLevel is debug, info, warn or error (TRIBUTARY_LOG_LEVEL).
	LogLevel string
	// AllowNetworks opens address ranges that the SSRF guard denies by
	// default, as comma-separated CIDRs (TRIBUTARY_ALLOW_NETWORKS).
	AllowNetworks string
	// ShutdownTimeout bounds how long a stop waits for requests and running
	// jobs (TRIBUTARY_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// DrainDelay is how long a stopping node keeps serving while /readyz
	// already answers 503, so that load balancers move away before it
	// closes its listener (TRIBUTARY_DRAIN_DELAY; default 0: none, as
	// behind Kubernetes, whose preStop pause does the same).
	DrainDelay time.Duration
	// SessionTTL is how long a browser session lasts (TRIBUTARY_SESSION_TTL).
	SessionTTL time.Duration
	// MaxBodyBytes limits API request bodies (TRIBUTARY_MAX_BODY_BYTES).
	MaxBodyBytes int64
	// Migrate runs migrations at start (TRIBUTARY_MIGRATE, default true).
	Migrate bool
	// HookRate limits webhook requests per team and second; 0 is no limit
	// (TRIBUTARY_HOOK_RATE).
	HookRate int
	// TeamMaxInFlight bounds the webhook requests of one team a node works
	// on at once; beyond it a webhook is answered 429 with Retry-After: 1,
	// so that a flooding team's backlog stays bounded and its own. 0 is no
	// bound (TRIBUTARY_TEAM_MAX_IN_FLIGHT).
	TeamMaxInFlight int
	// APIRate limits API requests (/api/, /graphql) per team and second —
	// per user for a browser session; 0 is no limit (TRIBUTARY_API_RATE).
	APIRate int
	// DebugAddr, when set, serves Go's pprof profiles on this address
	// (keep it on loopback) (TRIBUTARY_DEBUG_ADDR).
	DebugAddr string
	// MetricsToken, when set, opens GET /metrics on the public address to
	// requests bearing it (Authorization: Bearer …); without it /metrics is
	// served only on DebugAddr, since it names teams and pipelines
	// (TRIBUTARY_METRICS_TOKEN).
	MetricsToken string
	// JobWorkers is the number of River workers of the default queue
	// (TRIBUTARY_JOB_WORKERS).
	JobWorkers int
	// BlobURL is the object storage of uploads: file:///dir, s3://bucket?…
	// (S3, R2, MinIO) or mem://; empty means DataDir/blobs
	// (TRIBUTARY_BLOB_URL).
	BlobURL string
	// MaxUploadBytes limits a file upload (TRIBUTARY_MAX_UPLOAD_BYTES).
	MaxUploadBytes int64
	// PollWorkers is how many polls of polling pipelines a node runs at
	// once (TRIBUTARY_POLL_WORKERS).
	PollWorkers int
	// PollHostRate limits the poll requests per second to each API host,
	// across all pipelines of the node; 0 is no limit
	// (TRIBUTARY_POLL_HOST_RATE).
	PollHostRate int
	// SinkWorkers is how many sink deliveries a node makes at once
	// (TRIBUTARY_SINK_WORKERS).
	SinkWorkers int
	// SinkRetrySchedule is the wait before each retry of a failed sink
	// delivery, as comma-separated durations ("5s,5m,30m,2h,5h,10h,10h");
	// empty means that default (TRIBUTARY_SINK_RETRY_SCHEDULE).
	SinkRetrySchedule string
	// SinkAttemptTimeout bounds one attempt of a sink delivery; after a
	// crash, deliveries that were running are taken up again once it
	// (and JobRescueAfter) passed (TRIBUTARY_SINK_ATTEMPT_TIMEOUT).
	SinkAttemptTimeout time.Duration
	// JobRescueAfter is how long a job may run before River considers its
	// node dead and runs it again; after a crash, deliveries and other
	// jobs that were running wait this long. 0 means
	// jobs.DefaultRescueAfter, twice the longest job timeout (20m)
	// (TRIBUTARY_JOB_RESCUE_AFTER).
	JobRescueAfter time.Duration
	// JobKeepCompleted is how long completed jobs are kept for the job
	// dashboard; 0 means jobs.DefaultCompletedRetention (1h)
	// (TRIBUTARY_JOB_KEEP_COMPLETED).
	JobKeepCompleted time.Duration
}

// DatabaseReadURLs returns the read replica URLs of DatabaseReadURL.
func (c Config) DatabaseReadURLs() []string {
	var out []string
	for _, u := range strings.Split(c.DatabaseReadURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		DataDir:            "./tributary-data",
		LogFormat:          "auto",
		LogLevel:           "info",
		ShutdownTimeout:    30 * time.Second,
		SessionTTL:         14 * 24 * time.Hour,
		MaxBodyBytes:       1 << 20,
		Migrate:            true,
		JobWorkers:         20,
		HookRate:           10000,
		TeamMaxInFlight:    64,
		MaxUploadBytes:     1 << 30,
		PollWorkers:        100,
		PollHostRate:       50,
		SinkWorkers:        20,
		SinkAttemptTimeout: 5 * time.Minute,
	}
}

// env lists the variable behind each setting, in flag order.
type binding struct {
	name, env, usage string
	target           any
}

func (c *Config) bindings(storageOnly bool) []binding {
	b := []binding{
		{"data-dir", "TRIBUTARY_DATA_DIR", "directory for the embedded database, key file and local files", &c.DataDir},
		{"database-url", "TRIBUTARY_DATABASE_URL", "postgres:// URL; empty uses embedded SQLite in the data dir", &c.DatabaseURL},
		{"secret-key", "TRIBUTARY_SECRET_KEY", "32-byte key for team secrets, hex or base64 (prefer --secret-key-file)", &c.SecretKey},
		{"secret-key-file", "TRIBUTARY_SECRET_KEY_FILE", "file holding the secrets key; default DATA_DIR/secret.key, created on first start", &c.SecretKeyFile},
		{"log-format", "TRIBUTARY_LOG_FORMAT", "text, json or auto", &c.LogFormat},
		{"log-level", "TRIBUTARY_LOG_LEVEL", "debug, info, warn or error", &c.LogLevel},
	}
	if storageOnly {
		return b
	}
	return append(b,
		binding{"addr", "TRIBUTARY_ADDR", "HTTP listen address", &c.Addr},
		binding{"database-read-url", "TRIBUTARY_DATABASE_READ_URL", "postgres:// URLs (comma-separated) of read replicas for history, series and list reads; empty: none", &c.DatabaseReadURL},
		binding{"redis-url", "TRIBUTARY_REDIS_URL", "redis:// or rediss:// URL linking the nodes of a cluster (live streams across nodes); empty: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite", &c.RedisURL},
		binding{"base-url", "TRIBUTARY_BASE_URL", "public URL of this server, e.g. https://tributary.example.com", &c.BaseURL},
		binding{"allow-networks", "TRIBUTARY_ALLOW_NETWORKS", "comma-separated CIDRs that user-supplied URLs may reach despite the SSRF guard", &c.AllowNetworks},
		binding{"shutdown-timeout", "TRIBUTARY_SHUTDOWN_TIMEOUT", "how long a stop waits for requests and running jobs", &c.ShutdownTimeout},
		binding{"drain-delay", "TRIBUTARY_DRAIN_DELAY", "how long a stopping node keeps serving with /readyz unready before closing its listener", &c.DrainDelay},
		binding{"session-ttl", "TRIBUTARY_SESSION_TTL", "lifetime of a browser session", &c.SessionTTL},
		binding{"max-body-bytes", "TRIBUTARY_MAX_BODY_BYTES", "largest accepted API request body", &c.MaxBodyBytes},
		binding{"migrate", "TRIBUTARY_MIGRATE", "apply database migrations at start", &c.Migrate},
		binding{"job-workers", "TRIBUTARY_JOB_WORKERS", "background job workers", &c.JobWorkers},
		binding{"hook-rate", "TRIBUTARY_HOOK_RATE", "webhook requests per team and second (429 beyond); 0: no limit", &c.HookRate},
		binding{"team-max-in-flight", "TRIBUTARY_TEAM_MAX_IN_FLIGHT", "webhook requests of one team a node works on at once (429 with Retry-After beyond); 0: no limit", &c.TeamMaxInFlight},
		binding{"api-rate", "TRIBUTARY_API_RATE", "API requests per team (token) or user (session) and second (429 beyond); 0: no limit", &c.APIRate},
		binding{"debug-addr", "TRIBUTARY_DEBUG_ADDR", "serve pprof profiles and /metrics on this address (e.g. 127.0.0.1:6060); empty: off", &c.DebugAddr},
		binding{"metrics-token", "TRIBUTARY_METRICS_TOKEN", "bearer token that opens /metrics on the public address; empty: /metrics only on the debug address", &c.MetricsToken},
		binding{"blob-url", "TRIBUTARY_BLOB_URL", "object storage for uploads: file:///dir, s3://bucket?region=… (S3, R2, MinIO); empty: DATA_DIR/blobs", &c.BlobURL},
		binding{"max-upload-bytes", "TRIBUTARY_MAX_UPLOAD_BYTES", "largest accepted file upload", &c.MaxUploadBytes},
		binding{"poll-workers", "TRIBUTARY_POLL_WORKERS", "polls of polling pipelines run at once", &c.PollWorkers},
		binding{"poll-host-rate", "TRIBUTARY_POLL_HOST_RATE", "poll requests per second to each API host; 0: no limit", &c.PollHostRate},
		binding{"sink-workers", "TRIBUTARY_SINK_WORKERS", "sink deliveries made at once", &c.SinkWorkers},
		binding{"job-rescue-after", "TRIBUTARY_JOB_RESCUE_AFTER", "how long a job may run before it is rescued as stuck (its node is taken for dead); 0: 20m, twice the longest job timeout", &c.JobRescueAfter},
		binding{"job-keep-completed", "TRIBUTARY_JOB_KEEP_COMPLETED", "how long completed jobs are kept; 0: 1h", &c.JobKeepCompleted},
		binding{"sink-attempt-timeout", "TRIBUTARY_SINK_ATTEMPT_TIMEOUT", "how long one attempt of a sink delivery may take", &c.SinkAttemptTimeout},
		binding{"sink-retry-schedule", "TRIBUTARY_SINK_RETRY_SCHEDULE", "waits before the retries of a failed sink delivery, e.g. 5s,5m,30m,2h,5h,10h,10h (the default)", &c.SinkRetrySchedule},
	)
}

// Register adds the settings to fs as flags whose defaults come from the
// environment (getenv) or else from c. storageOnly limits them to what the
// database and key need (for migrate, user and token commands). Values from
// the environment that do not parse are reported by the returned function,
// called after fs.Parse.
func (c *Config) Register(fs *flag.FlagSet, getenv func(string) string, storageOnly bool) func() error {
	var envErrs []error
	for _, b := range c.bindings(storageOnly) {
		usage := fmt.Sprintf("%s (env %s)", b.usage, b.env)
		v, set := getenv(b.env), getenv(b.env) != ""
		fail := func(err error) {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", b.env, v, err))
		}
		switch t := b.target.(type) {
		case *string:
			if set {
				*t = v
			}
			fs.StringVar(t, b.name, *t, usage)
		case *time.Duration:
			if set {
				d, err := time.ParseDuration(v)
				if err != nil {
					fail(errors.New("not a duration like 30s or 5m"))
				}
				*t = d
			}
			fs.DurationVar(t, b.name, *t, usage)
		case *int64:
			if set {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					fail(errors.New("not a whole number"))
				}
				*t = n
			}
			fs.Int64Var(t, b.name, *t, usage)
		case *int:
			if set {
				n, err := strconv.Atoi(v)
				if err != nil {
					fail(errors.New("not a whole number"))
				}
				*t = n
			}
			fs.IntVar(t, b.name, *t, usage)
		case *bool:
			if set {
				x, err := strconv.ParseBool(v)
				if err != nil {
					fail(errors.New("not true or false"))
				}
				*t = x
			}
			fs.BoolVar(t, b.name, *t, usage)
		}
	}
	return func() error { return errors.Join(envErrs...) }
}

// Validate checks every setting and returns all problems at once, each
// naming the setting.
func (c *Config) Validate(storageOnly bool) error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data dir", "must not be empty")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
			// Never print the URL: it usually holds a password.
			bad("database URL", "must look like postgres://user:password@host:5432/dbname")
		}
	}
	if c.DatabaseReadURL != "" {
		for i, raw := range c.DatabaseReadURLs() {
			u, err := url.Parse(raw)
			switch {
			case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "":
				if len(c.DatabaseReadURLs()) > 1 {
					bad("database read URL", "URL %d of the comma-separated list must look like postgres://user:password@replica:5432/dbname", i+1)
				} else {
					bad("database read URL", "must look like postgres://user:password@replica:5432/dbname")
				}
			case c.DatabaseURL == "":
				bad("database read URL", "a read replica needs TRIBUTARY_DATABASE_URL (PostgreSQL) too")
			}
		}
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			// Never print the URL or the parser's message: they may hold
			// the password.
			bad("redis URL", "must look like redis://:password@host:6379/0 (or rediss:// for TLS)")
		}
	}
	if c.SecretKey != "" && c.SecretKeyFile != "" {
		bad("secret key", "set either TRIBUTARY_SECRET_KEY or TRIBUTARY_SECRET_KEY_FILE, not both")
	}
	switch c.LogFormat {
	case "text", "json", "auto":
	default:
		bad("log format", "%q is not text, json or auto", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if !storageOnly {
		if _, port, err := net.SplitHostPort(c.Addr); err != nil {
			bad("listen address", "%q is not host:port (e.g. 127.0.0.1:8080)", c.Addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("listen address", "port %q is not a number from 0 to 65535", port)
		}
		if c.BaseURL != "" {
			u, err := url.Parse(c.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("base URL", "%q is not an http(s) URL", c.BaseURL)
			}
		}
		if _, err := c.Networks(); err != nil {
			bad("allowed networks", "%v", err)
		}
		if c.ShutdownTimeout <= 0 {
			bad("shutdown timeout", "must be positive")
		}
		if c.DrainDelay < 0 {
			bad("drain delay", "must not be negative")
		}
		if c.SessionTTL < time.Minute {
			bad("session TTL", "must be at least 1m")
		}
		if c.MaxBodyBytes < 1024 {
			bad("max body bytes", "must be at least 1024")
		}
		if c.HookRate < 0 {
			bad("hook rate", "must not be negative (0 turns the limit off)")
		}
		if c.TeamMaxInFlight < 0 || c.TeamMaxInFlight > 1_000_000 {
			bad("team max in flight", "%d is not between 0 and 1000000 (0 turns the bound off)", c.TeamMaxInFlight)
		}
		if c.APIRate < 0 {
			bad("API rate", "must not be negative (0 turns the limit off)")
		}
		if c.JobWorkers < 1 || c.JobWorkers > 10000 {
			bad("job workers", "must be between 1 and 10000")
		}
		if c.PollWorkers < 1 || c.PollWorkers > 10000 {
			bad("poll workers", "must be between 1 and 10000")
		}
		if c.PollHostRate < 0 {
			bad("poll host rate", "must not be negative (0 turns the limit off)")
		}
		if c.BlobURL != "" {
			if err := blobstore.CheckURL(c.BlobURL); err != nil {
				bad("blob URL", "%v", err)
			}
		}
		if c.MaxUploadBytes < 1024 {
			bad("max upload bytes", "must be at least 1024")
		}
		if c.JobRescueAfter < 0 {
			bad("job rescue after", "must not be negative (0 means 20m)")
		}
		if c.JobKeepCompleted < 0 {
			bad("job keep completed", "must not be negative (0 means 1h)")
		}
		if c.SinkAttemptTimeout < time.Second {
			bad("sink attempt timeout", "must be at least 1s")
		}
		if c.SinkWorkers < 1 || c.SinkWorkers > 10000 {
			bad("sink workers", "must be between 1 and 10000")
		}
		if strings.TrimSpace(c.SinkRetrySchedule) != "" {
			for part := range strings.SplitSeq(c.SinkRetrySchedule, ",") {
				if d, err := time.ParseDuration(strings.TrimSpace(part)); err != nil || d <= 0 {
					bad("sink retry schedule", "%q is not a positive duration such as 5s or 2h", strings.TrimSpace(part))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Networks parses AllowNetworks.
func (c *Config) Networks() ([]netip.Prefix, error) {
	return netguard.ParseNetworks(c.AllowNetworks)
}

// SQLitePath is where the embedded database lives.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "tributary.db") }

// DefaultKeyFile is where the secrets key is created when none is given.
func (c *Config) DefaultKeyFile() string { return filepath.Join(c.DataDir, "secret.key") }

// BlobStorageURL is the object storage URL: BlobURL, or the blobs
// directory in DataDir.
func (c *Config) BlobStorageURL() (string, error) {
	if c.BlobURL != "" {
		return c.BlobURL, nil
	}
	return blobstore.DefaultURL(c.DataDir)
}

// EnsureDataDir creates the data directory (mode 0700) if missing.
func (c *Config) EnsureDataDir() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", c.DataDir, err)
	}
	return nil
}

// SecureCookies reports whether cookies must carry the Secure flag
// regardless of the request: when the public URL is https.
func (c *Config) SecureCookies() bool { return strings.HasPrefix(c.BaseURL, "https://") }
