// Package app is Tributary's composition root: it builds every component
// from the configuration with plain constructors, wires them, and runs and
// stops them. Nothing else constructs long-lived components.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/alert"
	"github.com/tributary-dev/tributary/internal/blobstore"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/cluster"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/graphql"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/p2p"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/ratelimit"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
	"github.com/tributary-dev/tributary/internal/vault"
	"github.com/tributary-dev/tributary/internal/web"
)

// Version is set at build time with -ldflags "-X ...app.Version=v1.2.3".
var Version = "dev"

// NewLogger builds the process logger: JSON for machines, text for a
// terminal.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// claimIdentity takes this process's job identity in the data directory.
func claimIdentity(cfg config.Config) (*jobs.Identity, error) {
	if err := cfg.EnsureDataDir(); err != nil {
		return nil, err
	}
	return jobs.ClaimIdentity(cfg.DataDir, time.Now())
}

// OpenStore opens the configured backend: PostgreSQL when a database URL is
// set, else the SQLite file in the data directory.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	if err := cfg.EnsureDataDir(); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, cfg.SQLitePath())
}

// LoadSecretsKey returns the key sealing team secrets: from the setting,
// the key file, or a key file created in the data directory on first start.
func LoadSecretsKey(cfg config.Config, log *slog.Logger) (secrets.Key, error) {
	switch {
	case cfg.SecretKey != "":
		k, err := secrets.ParseKey(cfg.SecretKey)
		if err != nil {
			return k, fmt.Errorf("TRIBUTARY_SECRET_KEY: %w", err)
		}
		return k, nil
	case cfg.SecretKeyFile != "":
		k, err := secrets.LoadKeyFile(cfg.SecretKeyFile)
		if errors.Is(err, secrets.ErrKeyFilePermissions) {
			log.Warn("secret key file is readable by others", "err", err)
			err = nil
		}
		if err != nil {
			return k, fmt.Errorf("secret key file: %w", err)
		}
		return k, nil
	}
	if err := cfg.EnsureDataDir(); err != nil {
		return secrets.Key{}, err
	}
	k, created, err := secrets.LoadOrCreateKeyFile(cfg.DefaultKeyFile())
	if errors.Is(err, secrets.ErrKeyFilePermissions) {
		log.Warn("secret key file is readable by others", "err", err)
		err = nil
	}
	if err != nil {
		return k, fmt.Errorf("secret key file: %w", err)
	}
	if created {
		log.Warn("created a new secrets key; back it up; without it team secrets cannot be read", "path", cfg.DefaultKeyFile())
	}
	return k, nil
}

// Serve runs the server until ctx is cancelled, then stops gracefully
// within cfg.ShutdownTimeout. ready, when not nil, receives the listen
// address once the server accepts connections.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr string)) error {
	// Listen first: a port in use is the most common start-up failure and
	// must be reported before anything else happens.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	key, err := LoadSecretsKey(cfg, log)
	if err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Migrate {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	} else if err := st.Ready(ctx); err != nil {
		return err
	}
	if pg, ok := st.(*postgres.Store); ok {
		if why, err := pg.TimescaleUnavailable(ctx); err != nil {
			log.Warn("cannot tell whether TimescaleDB is usable", "err", err)
		} else if why != "" {
			log.Info("records use native PostgreSQL partitions, not TimescaleDB", "reason", why)
		}
		log.Info("records' data is stored as "+pg.RecordDataType(), "see", "docs/operations.md, Records' data type on PostgreSQL")
	}
	pgStore, _ := st.(*postgres.Store)
	if pgStore != nil && cfg.DatabaseReadURL != "" {
		if err := pgStore.UseReplicas(ctx, cfg.DatabaseReadURLs(), postgres.ReplicaConfig{Logger: log.With("component", "replica")}); err != nil {
			return err
		}
	}

	registry := prometheus.NewRegistry()
	if pgStore != nil && cfg.DatabaseReadURL != "" {
		registry.MustRegister(replicaCollector{pgStore})
	}
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(httpapi.NewStorageCollector(st, log.With("component", "storage"), 0))

	blobURL, err := cfg.BlobStorageURL()
	if err != nil {
		return err
	}
	bucket, err := blobstore.Open(ctx, blobURL)
	if err != nil {
		return err
	}
	defer bucket.Close()

	// The flow of a batch: the engine commits it, adds it to the recent
	// records cache and publishes it on the broker for live streams.
	rdb, err := openRedis(cfg)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	local, err := cache.New(cache.Config{})
	if err != nil {
		return err
	}
	// With Redis the recent records live there, shared by every node;
	// the node's own copy (filled by the broker) answers while Redis is
	// down.
	var recent recentCache = local
	if rdb != nil {
		shared := cache.NewRedis(cache.RedisConfig{Logger: log.With("component", "cache")}, rdb, local)
		defer shared.Close()
		recent = shared
	}
	broker, closeBroker, err := openBroker(ctx, cfg, st, rdb, local, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	// The kinds of sources and sinks (source.Builtin and sink.Builtin
	// list them): every spec is compiled against them.
	sinks := sink.Builtin(sink.BlobConfig{FileRoot: filepath.Join(cfg.DataDir, "sinks"), Logger: log.With("component", "blob-sink")})
	compiler := pipeline.NewCompiler(source.Builtin(), sinks)
	eng, err := engine.New(engine.Config{Registerer: registry, Compiler: compiler}, st, recent, broker, log.With("component", "engine"))
	if err != nil {
		return err
	}
	// P2P: the link index lets every batch enqueue its downstream runs in
	// its own transaction without a query.
	links, err := p2p.NewIndex(p2p.IndexConfig{}, st, broker, log.With("component", "p2p"))
	if err != nil {
		return err
	}
	if err := links.Start(ctx); err != nil {
		return err
	}
	defer links.Stop()
	eng.AddFanout(p2p.NewFanout(links, log.With("component", "p2p")))

	// Polling: every request to a user's URL goes through the SSRF guard.
	allowed, err := cfg.Networks()
	if err != nil {
		return err
	}
	guard := netguard.New(netguard.Config{AllowNetworks: allowed})
	defer guard.CloseIdleConnections()
	hostRate := float64(cfg.PollHostRate)
	if hostRate == 0 {
		hostRate = -1 // no limit
	}
	// This process's slot in the data directory names its River client and
	// its node in the cluster listing (so that the listing tells River's
	// leader); the jobs the slot's previous process was running when it
	// died are requeued just before the queue starts (see jobs.Identity),
	// and the polls it held are freed when polling starts. Without a slot
	// the node takes a random id, and such work waits for River's rescue
	// and for the polls' leases to end.
	nodeID := cluster.NewID()
	ident, err := claimIdentity(cfg)
	if err != nil {
		log.Warn("jobs of a crashed process wait for River's rescue", "err", err)
	} else {
		defer ident.Close()
		nodeID = ident.ClientID
	}
	var slot string
	if ident != nil {
		slot = ident.Node
	}
	polling, err := poll.New(poll.Config{
		Workers: cfg.PollWorkers, HostRate: hostRate, UserAgent: "Tributary/" + Version,
		Owner: nodeID, Node: slot, OwnerExpiry: cluster.DefaultExpireAfter, Registerer: registry, Logger: log.With("component", "polling"),
	}, st, eng, vault.New(st, secrets.NewBox(key)), guard)
	if err != nil {
		return err
	}

	// Sinks: every committed batch enqueues a delivery per enabled sink in
	// its own transaction. Deliveries go through a guard of their own that
	// follows no redirect, so a receiver cannot bounce records elsewhere.
	sinkGuard := netguard.New(netguard.Config{AllowNetworks: allowed, MaxRedirects: -1, Timeout: 10 * time.Minute})
	defer sinkGuard.CloseIdleConnections()
	schedule, err := delivery.ParseSchedule(cfg.SinkRetrySchedule)
	if err != nil {
		return err
	}
	sinkVault := vault.New(st, secrets.NewBox(key))
	deliveries, err := delivery.New(delivery.Config{
		Workers: cfg.SinkWorkers, Schedule: schedule, AttemptTimeout: cfg.SinkAttemptTimeout,
		Registerer: registry, Logger: log.With("component", "delivery"), Compiler: compiler,
	}, sinks, sink.Deps{
		HTTPClient: sinkGuard.Client(), Dial: sinkGuard.DialContext, Secret: sinkVault.Open, CheckURL: sinkGuard.CheckURL,
	}, st)
	if err != nil {
		return err
	}
	defer deliveries.Close(context.Background())
	eng.AddFanout(deliveries)

	// Alerts: evaluation per tick and notifications are River jobs; every
	// channel URL and the SMTP host go through a guard that follows no
	// redirect.
	alertCfg, err := alert.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	alertCfg.BaseURL, alertCfg.Logger = cfg.BaseURL, log.With("component", "alerts")
	alertGuard := netguard.New(netguard.Config{AllowNetworks: allowed, MaxRedirects: -1, Timeout: time.Minute})
	defer alertGuard.CloseIdleConnections()
	alerts, err := alert.New(alertCfg, alert.Deps{
		Store: st, Secrets: sinkVault.Open, HTTP: alertGuard.Client(), Dial: alertGuard.DialContext, CheckURL: alertGuard.CheckURL, Broker: broker,
	})
	if err != nil {
		return err
	}

	jobClient, err := st.NewJobClient(jobs.RiverConfig(jobs.Config{Workers: cfg.JobWorkers, Logger: log, RescueAfter: cfg.JobRescueAfter, CompletedRetention: cfg.JobKeepCompleted,
		ClientID: nodeID},
		jobs.Deps{Store: st, Compiler: compiler, Engine: eng, Blobs: bucket, Domains: []jobs.Domain{
			polling, p2p.Workers{Store: st, Engine: eng, Log: log.With("component", "p2p")}, deliveries, alerts,
		}}))
	if err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	jobsUI, err := newJobsUI(jobClient, log)
	if err != nil {
		return err
	}

	// Cluster membership: this node's row, renewed with its load; a
	// draining node reports itself not ready.
	var load nodeLoad
	if pgStore != nil && cfg.DatabaseReadURL != "" {
		load.replicas = pgStore.ReplicaStatuses
	}
	members, err := cluster.New(cluster.Config{ID: nodeID, Version: Version, Address: advertised(ln.Addr()),
		Load: load.report, Logger: log.With("component", "cluster")}, st)
	if err != nil {
		return err
	}

	accounts := account.New(st, cfg.SessionTTL)
	registry.MustRegister(accounts.Collectors()...)
	pages := web.New(web.Config{SessionTTL: cfg.SessionTTL, SecureCookies: cfg.SecureCookies(), Version: Version, BaseURL: cfg.BaseURL},
		accounts, log.With("component", "web"))
	// The API and webhook limits per team: cluster-wide through Redis,
	// else each node enforces its share of them. (A nil *redis.Client in
	// the interface would not read as nil.)
	var sharedRDB redis.UniversalClient
	if rdb != nil {
		sharedRDB = rdb
	}
	var apiLimiter httpapi.Limiter
	if cfg.APIRate > 0 {
		apiLimiter = ratelimit.New(ratelimit.Config{Rate: cfg.APIRate, Burst: 2 * cfg.APIRate, Name: "api",
			Nodes: members.Live, Logger: log.With("component", "ratelimit")}, sharedRDB)
	}
	api := httpapi.New(httpapi.Config{
		Version: Version, MaxBodyBytes: cfg.MaxBodyBytes, SecureCookies: cfg.SecureCookies(), SessionTTL: cfg.SessionTTL,
		MetricsToken: cfg.MetricsToken,
	}, httpapi.Deps{Accounts: accounts, Ready: readiness{members, st}, Logger: log, Registry: registry, JobsUI: jobsUI, Web: pages, Compiler: compiler,
		Idempotency: st, Sealer: secrets.NewBox(key), APILimiter: apiLimiter})
	apiVault := vault.New(st, secrets.NewBox(key))
	// Webhook ingest: the token cache, signatures, the per-team rate limit
	// and the engine calls; the pipeline service tells it of changes.
	hookDeps := ingest.Deps{Store: st, Engine: eng, Secrets: apiVault, Logger: log.With("component", "ingest")}
	if cfg.DatabaseURL != "" {
		// Several nodes may serve: the limit holds cluster-wide through
		// Redis, or each node enforces its share of it.
		hookDeps.Limiter = ratelimit.New(ratelimit.Config{Rate: cfg.HookRate, Burst: 2 * cfg.HookRate, Name: "hooks",
			Nodes: members.Live, Logger: log.With("component", "ratelimit")}, sharedRDB)
	}
	// The in-flight bound is per node: ingest reads 0 as its default and
	// a negative value as none, the setting 0 as none.
	maxInFlight := cfg.TeamMaxInFlight
	if maxInFlight == 0 {
		maxInFlight = -1
	}
	hooks := ingest.New(ingest.Config{Rate: float64(cfg.HookRate), Burst: 2 * cfg.HookRate, MaxInFlight: maxInFlight}, hookDeps)
	api.RegisterHooks(hooks)
	api.RegisterCluster(members)
	// The pipeline service runs the lifecycle of pipelines, sinks and
	// secrets for every transport, and tells the parts that keep a view of
	// a pipeline of each change.
	orch, err := orchestrator.New(orchestrator.Config{MaxChain: p2p.MaxDepth, Logger: log.With("component", "orchestrator")}, orchestrator.Deps{
		Store: st, Compiler: compiler, Vault: apiVault, Engine: eng, Broker: broker, Cache: recent, Links: links, Polls: polling, Sinks: deliveries,
		Hooks: hooks, Blobs: bucket,
	})
	if err != nil {
		return err
	}
	deliveries.UseSinkEditor(orch)
	alertService, err := orch.Alerts(orchestrator.AlertsDeps{Store: st, Sender: alerts, CheckURL: alertGuard.CheckURL})
	if err != nil {
		return err
	}
	api.RegisterAlerts(alertService)
	pages.UseAlerts(alertService)
	// The pages call the same service, and list pipelines live from the
	// broker.
	pages.UsePipelines(orch, broker)
	pipelines := api.RegisterPipelines(httpapi.PipelinesConfig{BaseURL: cfg.BaseURL}, httpapi.PipelinesDeps{
		Store: st, Engine: eng, Vault: apiVault, Cache: recent, Broker: broker, Service: orch,
	})
	api.RegisterUploads(httpapi.UploadsConfig{MaxBytes: cfg.MaxUploadBytes}, httpapi.UploadsDeps{Service: orch})
	api.RegisterSinks(pipelines)
	// GraphQL is another transport over the same pipeline service, behind
	// the same authentication and CSRF middleware: POST for queries and
	// mutations, GET for WebSocket subscriptions.
	gql := graphql.NewHandler(graphql.Options{Logger: log.With("component", "graphql"), Page: pages.GraphiQL()}, graphql.Deps{
		Service: orch, Accounts: accounts, Alerts: alertService, Broker: broker, Recent: recent, Warmer: eng,
	})
	api.Mux().Handle("POST /graphql", gql)
	api.Mux().Handle("GET /graphql", gql)

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	if ident != nil {
		n, err := st.RequeueJobsOf(ctx, ident.Node, ident.ClientID)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("requeued the jobs this node was running when its previous process stopped", "jobs", n, "node", ident.Node)
		}
	}
	if err := jobClient.Start(runCtx); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	// The node is listed before it claims polls: other nodes take over
	// the leases of a node whose heartbeat stopped, so a node claims only
	// while its row is there (and leaves the cluster after its polls
	// stopped, below).
	if err := members.Start(runCtx); err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := members.Stop(ctx); err != nil {
			log.Warn("leaving the cluster", "err", err)
		}
	}()
	// Polls are claimed from their schedules by the node itself, not
	// through River (see poll's package documentation).
	if err := polling.Start(runCtx); err != nil {
		return err
	}
	defer func() { // on an early return; after the drain below it does nothing
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = polling.Stop(ctx)
	}()
	if err := jobsUI.Start(runCtx); err != nil {
		return fmt.Errorf("start job dashboard: %w", err)
	}

	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, httpapi.MetricsHandler(registry), log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	srv := &http.Server{
		Handler:           load.count(api.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// WriteTimeout stays 0: live streams (SSE) are long responses;
		// handlers set their own deadlines through ResponseController.
	}
	// Shutdown waits for requests to finish; live streams never do.
	srv.RegisterOnShutdown(pipelines.CloseStreams)
	srv.RegisterOnShutdown(pages.Close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("tributary serving", "addr", ln.Addr().String(), "backend", st.Backend(), "version", Version)
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Drain: /readyz answers 503 from now on, live streams are told to
	// reconnect (elsewhere), and for DrainDelay the node still serves
	// while load balancers notice; then the listener closes and requests
	// and jobs in flight get the shutdown timeout to finish.
	log.Info("stopping", "timeout", cfg.ShutdownTimeout, "drain_delay", cfg.DrainDelay)
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 5*time.Second)
	if err := members.Drain(drainCtx); err != nil {
		log.Warn("marking the node draining", "err", err)
	}
	cancelDrain()
	pipelines.CloseStreams()
	pages.Close()
	if cfg.DrainDelay > 0 {
		select {
		case <-time.After(cfg.DrainDelay):
		case err := <-served:
			return fmt.Errorf("http server: %w", err)
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Webhook requests in flight wait for their commits, so the engine
	// stops after the HTTP server: it then writes what is left and returns.
	errHTTP := srv.Shutdown(stopCtx)
	if errHTTP != nil {
		_ = srv.Close() // requests still running past the timeout lose their connections
	}
	// Polls in flight commit through the engine: they stop before it.
	errPolls := polling.Stop(stopCtx)
	errEngine := eng.Close(stopCtx)
	errJobs := jobs.Stop(stopCtx, jobClient)
	errSinks := deliveries.Close(stopCtx) // after the jobs: a blob sink writes its pending files
	stopRun()
	if err := errors.Join(errHTTP, errPolls, errEngine, errJobs, errSinks); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("stopped")
	return nil
}

// jobsUI is River's dashboard handler.
type jobsUI interface {
	http.Handler
	Start(ctx context.Context) error
}

// newJobsUI builds River's dashboard for the client's backend. riverui is
// generic over the driver's transaction type, so this is the one place
// that knows both.
func newJobsUI(c store.JobClient, log *slog.Logger) (jobsUI, error) {
	opts := &riverui.HandlerOpts{Logger: log.With("component", "riverui"), Prefix: "/admin/jobs"}
	switch c := c.(type) {
	case *river.Client[pgx.Tx]:
		opts.Endpoints = riverui.NewEndpoints(c, nil)
	case *river.Client[*sql.Tx]:
		opts.Endpoints = riverui.NewEndpoints(c, nil)
	default:
		return nil, fmt.Errorf("job dashboard: unsupported job client %T", c)
	}
	h, err := riverui.NewHandler(opts)
	if err != nil {
		return nil, fmt.Errorf("job dashboard: %w", err)
	}
	return h, nil
}

// serveDebug serves pprof and the metrics on their own listener, apart
// from the public handler and its middleware.
func serveDebug(addr string, metrics http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving pprof", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
