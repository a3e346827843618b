package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/account"
)

// requestInfo is what the middleware knows of a request, in its context
// as one value: withRequestID puts it there, recordRoute fills in the
// route for observe. One value rather than one per fact, so that a
// request is copied (WithContext) once on its way in, not once a fact.
type requestInfo struct {
	id         string
	clientAddr string // the peer's IP address (see clientAddr)
	tls        bool
	route      string             // the mux pattern, once the mux matched one
	principal  *account.Principal // once authenticate resolved one
}

type requestInfoKey struct{}

// infoOf returns the requestInfo in ctx, or nil.
func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// RequestID returns the id of the request in ctx, or "".
func RequestID(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.id
	}
	return ""
}

// setPrincipal notes the request's principal for observe's log line.
func setPrincipal(ctx context.Context, p *account.Principal) {
	if info := infoOf(ctx); info != nil {
		info.principal = p
	}
}

// withRequestID takes a sane X-Request-Id from the client or makes one, and
// echoes it in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{id: id, clientAddr: clientAddr(r), tls: r.TLS != nil}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines (SSE).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics are the request counters and latencies in /metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe logs, measures and recovers every request. The route label is
// the mux pattern (bounded cardinality), not the path.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		info := infoOf(r.Context())
		if info == nil { // not behind withRequestID
			info = &requestInfo{}
			r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", RequestID(r.Context()),
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeProblem(sw, http.StatusInternalServerError, "Something went wrong on our side; the request id identifies it in the logs ("+RequestID(r.Context())+").")
				}
			}
			elapsed := time.Since(start)
			route := info.route
			if route == "" {
				route = "unmatched"
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(code)).Inc()
			s.metrics.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
			if strings.HasPrefix(route, "GET /healthz") || strings.HasPrefix(route, "GET /metrics") {
				return // probes every few seconds would drown the log
			}
			attrs := []slog.Attr{
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", redactPath(r.URL.Path)),
				slog.String("route", route),
				slog.Int("status", code),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", elapsed),
				slog.String("remote", r.RemoteAddr),
			}
			if info.principal != nil {
				attrs = append(attrs, slog.String("principal", info.principal.Subject()))
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// recordRoute runs innermost, around the mux, which sets r.Pattern on the
// request it was given; observe, outside, reads it in the requestInfo.
func recordRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if info := infoOf(r.Context()); info != nil {
			info.route = r.Pattern
		}
	})
}

// redactPath hides credentials that live in paths (webhook tokens).
func redactPath(p string) string {
	if strings.HasPrefix(p, "/hooks/") {
		return "/hooks/…"
	}
	return p
}

// authenticate resolves the principal from a bearer token or the session
// cookie. A bearer token that does not authenticate is refused at once; a
// stale session cookie is dropped and the request continues anonymously so
// public pages still work. Cookie-authenticated unsafe requests must pass
// the cross-origin check: a browser only sends the cookie by itself, so a
// foreign site could otherwise make it act for the user.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.URL.Path == "/metrics" {
			// Its bearer token is the metrics token, not an API token;
			// requireMetricsToken checks it.
			next.ServeHTTP(w, r)
			return
		}
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tributary"`)
				writeProblem(w, http.StatusUnauthorized, "Use Authorization: Bearer <API token>.")
				return
			}
			p, err := s.accounts.AuthenticateToken(ctx, strings.TrimSpace(tok))
			if err != nil {
				if !errors.Is(err, account.ErrUnauthenticated) {
					s.log.ErrorContext(ctx, "authenticate token", "request_id", RequestID(ctx), "err", err)
					writeProblem(w, http.StatusServiceUnavailable, "Authentication is unavailable; try again shortly.")
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="tributary", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "The API token is not valid.")
				return
			}
			setPrincipal(ctx, p)
			next.ServeHTTP(w, r.WithContext(account.WithPrincipal(ctx, p)))
			return
		}
		// Webhooks come from other servers and carry their credential in the
		// path; every other browser-made unsafe request must be same-origin.
		if !strings.HasPrefix(r.URL.Path, "/hooks/") {
			if err := s.csrf.Check(r); err != nil {
				writeProblem(w, http.StatusForbidden, "Cross-origin requests are refused; call the API with an API token instead.")
				return
			}
		}
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			p, err := s.accounts.AuthenticateSession(ctx, c.Value)
			switch {
			case err == nil:
				setPrincipal(ctx, p)
				r = r.WithContext(account.WithPrincipal(ctx, p))
			case errors.Is(err, account.ErrUnauthenticated):
				ClearSessionCookie(w, s.secureCookie(r))
			default:
				s.log.ErrorContext(ctx, "authenticate session", "request_id", RequestID(ctx), "err", err)
				writeProblem(w, http.StatusServiceUnavailable, "Authentication is unavailable; try again shortly.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitAPI holds each team to its API request rate (Deps.APILimiter):
// requests to /api/ and /graphql by an API token count against the
// token's team, those of a browser session against the user, since a user
// may act in several teams. Anonymous requests are left to the routes,
// which refuse them.
func (s *Server) limitAPI(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := account.PrincipalFrom(r.Context())
		if p == nil || !(strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/graphql") {
			next.ServeHTTP(w, r)
			return
		}
		key := p.Subject()
		if p.Token != nil {
			key = "team:" + p.Token.TeamID.String()
		}
		if ok, wait := s.limiter.Allow(r.Context(), key, time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			writeProblem(w, http.StatusTooManyRequests, "This team sends more API requests than its limit; retry after the time in Retry-After.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies, except webhooks, whose limit is the
// pipeline's, and uploads, which have their own (UploadsConfig.MaxBytes).
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hooks/") || isUpload(r) {
			next.ServeHTTP(w, r) // each pipeline sets its own webhook body limit; uploads theirs
			return
		}
		if r.ContentLength > limit {
			writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than the limit of %d bytes.", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
