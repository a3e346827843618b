package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cluster"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Config tunes the HTTP surface.
type Config struct {
	// Version is reported by the OpenAPI document.
	Version string
	// MaxBodyBytes caps API request bodies.
	MaxBodyBytes int64
	// SecureCookies forces the Secure cookie flag (behind a TLS proxy).
	SecureCookies bool
	// SessionTTL is the lifetime of a sign-in.
	SessionTTL time.Duration
	// MetricsToken, when set, is the bearer token GET /metrics requires;
	// when empty, /metrics answers 404 (serve MetricsHandler elsewhere).
	MetricsToken string
}

// Readiness is what /readyz asks.
type Readiness interface {
	Ready(ctx context.Context) error
}

// Deps are the parts the server calls.
type Deps struct {
	Accounts *account.Service
	Ready    Readiness
	Logger   *slog.Logger
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	// JobsUI, when set, is mounted at /admin/jobs/ for instance admins.
	JobsUI http.Handler
	// Web, when set, serves everything the API does not (the UI).
	Web http.Handler
	// Compiler checks pipeline specs against the source and sink kinds,
	// which the kind routes (kinds.go) publish. Required.
	Compiler *pipeline.Compiler
	// Idempotency keeps the answers of POSTs sent with an Idempotency-Key
	// (see idempotent). Nil: the header is ignored.
	Idempotency IdempotencyStore
	// Sealer seals the answers Idempotency keeps. Nil: the header is
	// ignored.
	Sealer AnswerSealer
	// APILimiter, when set, limits API requests per team (per user for a
	// browser session); *ratelimit.Limiter is one, cluster-wide with Redis.
	APILimiter Limiter
}

// Limiter takes one request of a key and, when it refuses it, says how
// long until the next may pass.
type Limiter interface {
	Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration)
}

// Server is the HTTP surface. Build it with New, add routes through API
// and Mux before serving, then serve Handler.
type Server struct {
	cfg      Config
	accounts *account.Service
	ready    Readiness
	log      *slog.Logger
	metrics  *httpMetrics
	csrf     *http.CrossOriginProtection
	mux      *http.ServeMux
	api      huma.API
	handler  http.Handler
	compiler *pipeline.Compiler
	keys     IdempotencyStore
	sealer   AnswerSealer
	limiter  Limiter
}

// New builds the server with the health, metrics and account routes.
func New(cfg Config, d Deps) *Server {
	s := &Server{
		cfg:      cfg,
		accounts: d.Accounts,
		ready:    d.Ready,
		log:      d.Logger,
		metrics:  newHTTPMetrics(d.Registry),
		csrf:     http.NewCrossOriginProtection(),
		mux:      http.NewServeMux(),
		compiler: d.Compiler,
		keys:     d.Idempotency,
		sealer:   d.Sealer,
		limiter:  d.APILimiter,
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.requireMetricsToken(MetricsHandler(d.Registry)))
	if d.JobsUI != nil {
		s.mux.Handle("/admin/jobs/", s.requireInstanceAdmin(d.JobsUI))
		s.mux.Handle("GET /admin/jobs", http.RedirectHandler("/admin/jobs/", http.StatusMovedPermanently))
	}
	if d.Web != nil {
		s.mux.Handle("/", d.Web)
	}

	hcfg := huma.DefaultConfig("Tributary API", cfg.Version)
	hcfg.OpenAPIPath = "/api/v1/openapi"
	// huma's docs page loads its script from a CDN (with an inline script);
	// the web pages serve /api/docs from our own bundle instead.
	hcfg.DocsPath = ""
	hcfg.SchemasPath = "/api/v1/schemas"
	hcfg.Info.Description = "Tributary: real-time data pipelines. Authenticate with `Authorization: Bearer <API token>` or a session cookie from /api/v1/auth/login."
	hcfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer":  {Type: "http", Scheme: "bearer"},
		"session": {Type: "apiKey", In: "cookie", Name: SessionCookie},
	}
	hcfg.Security = []map[string][]string{{"bearer": {}}, {"session": {}}}
	// huma enforces its own body limit (1 MiB unless set per operation);
	// make it the configured one, so that limitBody's MaxBytesReader never
	// trips inside huma (which reports that as a 500).
	hcfg.OnAddOperation = append(hcfg.OnAddOperation, func(_ *huma.OpenAPI, op *huma.Operation) {
		op.MaxBodyBytes = cfg.MaxBodyBytes
	}, documentIdempotencyKey)
	hcfg.Transformers = append(hcfg.Transformers, problemRequestID)
	s.api = humago.New(s.mux, hcfg)
	s.registerAccountRoutes()
	s.registerKindRoutes()

	s.handler = withRequestID(s.observe(s.authenticate(s.limitAPI(limitBody(cfg.MaxBodyBytes, s.idempotent(recordRoute(s.mux)))))))
	return s
}

// API is the huma API other packages register operations on.
func (s *Server) API() huma.API { return s.api }

// Mux is the router, for routes outside the JSON API.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Handler is the root handler with all middleware.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ready.Ready(ctx); errors.Is(err, cluster.ErrDraining) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: draining; the node is stopping\n"))
		return
	} else if err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		// The cause (which may name tables or hosts) goes to the log only.
		_, _ = w.Write([]byte("not ready: the database is unreachable or not migrated; the server log says why\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (s *Server) requireInstanceAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := account.PrincipalFrom(r.Context())
		switch {
		case p == nil:
			writeProblem(w, http.StatusUnauthorized, "Sign in as an instance administrator.")
		case p.User == nil || !p.User.IsAdmin:
			writeProblem(w, http.StatusForbidden, "The job dashboard is for instance administrators.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// MetricsHandler serves the metrics of reg in the Prometheus format. The
// metrics name teams, pipelines and sinks by id: serve it only behind a
// token or on a private address.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// requireMetricsToken lets through requests bearing the configured metrics
// token; without a configured token, /metrics is not on this address.
func (s *Server) requireMetricsToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.MetricsToken == "" {
			writeProblem(w, http.StatusNotFound, "Metrics are served on the debug address, or here with TRIBUTARY_METRICS_TOKEN set.")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeProblem(w, http.StatusUnauthorized, "Send the metrics token as Authorization: Bearer <token>.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
