package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// Config tunes the pages.
type Config struct {
	SessionTTL    time.Duration
	SecureCookies bool
	Version       string
	// BaseURL is the server's public URL, used in the examples the pages
	// show (curl commands); empty means the request's host.
	BaseURL string
	// LiveInterval is how often the pipelines list sends the rows that
	// changed; zero means DefaultLiveInterval.
	LiveInterval time.Duration
	// LiveRefresh is how often the pipelines list re-sends every row (a
	// status set by a poll or a sink's health publishes no event); zero
	// means DefaultLiveRefresh.
	LiveRefresh time.Duration
}

// Defaults of Config.
const (
	DefaultLiveInterval = time.Second
	DefaultLiveRefresh  = 10 * time.Second
)

// Pipelines is what the pages need of the pipeline service;
// *orchestrator.Service is one.
type Pipelines interface {
	Summaries(ctx context.Context, who orchestrator.Caller) ([]orchestrator.Summary, error)
	Summary(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (orchestrator.Summary, error)
	PausePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	ResumePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	Records(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RecordQuery) ([]core.Record, error)
	RejectedRecords(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error)
	Runs(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RunQuery) ([]core.Run, error)
	Series(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.SeriesQuery) (store.Series, error)
	Deliveries(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error)
	RetryDelivery(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error)
	StartReplay(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error)
	Replays(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string) ([]core.Replay, error)
	Uploads(ctx context.Context, who orchestrator.Caller, id uuid.UUID, limit int) ([]core.Upload, error)
	CreatePipeline(ctx context.Context, who orchestrator.Caller, doc []byte) (core.Pipeline, error)
	UpdatePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID, ifVersion int, doc []byte) (core.Pipeline, error)
	Preview(ctx context.Context, who orchestrator.Caller, in orchestrator.PreviewRequest) (orchestrator.Preview, error)
}

var _ Pipelines = (*orchestrator.Service)(nil)

// Broker is the live-update bus the pipelines list listens to.
type Broker interface {
	Subscribe(ctx context.Context, topic string, buffer int) (*pubsub.Subscription, error)
}

// NavEntry is one entry of the navigation.
type NavEntry struct {
	// Key names the entry; a page passes it to mark the entry current.
	Key   string
	Label string
	Href  string
	// Badge, when set, is the URL of a fragment shown after the label
	// and polled every few seconds (the count of firing alerts).
	Badge string
}

// Handler serves the pages.
type Handler struct {
	cfg      Config
	accounts *account.Service
	log      *slog.Logger
	mux      *http.ServeMux
	assets   *assets

	mu        sync.RWMutex
	nav       []NavEntry
	pipelines Pipelines
	broker    Broker
	alerts    Alerts
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns the pages' handler. The pipeline pages answer 503 until
// UsePipelines is called.
func New(cfg Config, accounts *account.Service, log *slog.Logger) *Handler {
	if cfg.LiveInterval <= 0 {
		cfg.LiveInterval = DefaultLiveInterval
	}
	if cfg.LiveRefresh <= 0 {
		cfg.LiveRefresh = DefaultLiveRefresh
	}
	a, err := loadAssets(static)
	if err != nil {
		// The manifest is written by our own build; a broken one is a
		// broken build, not a runtime condition.
		panic("web: bad bundle manifest: " + err.Error())
	}
	if a.missing() {
		log.Warn("web: the front-end bundles are not built; pages render without styles and scripts (run make web)")
	}
	h := &Handler{cfg: cfg, accounts: accounts, log: log, mux: http.NewServeMux(), assets: a, closing: make(chan struct{}),
		nav: []NavEntry{{Key: "pipelines", Label: "Pipelines", Href: "/pipelines"}, {Key: "dashboards", Label: "Dashboards", Href: "/dashboards"}, {Key: "settings", Label: "Settings", Href: "/settings"}}}
	h.mux.Handle("GET "+assetPrefix, a)
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("POST /setup", h.setup)
	h.mux.HandleFunc("GET /login", h.loginPage)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.logout)
	h.mux.HandleFunc("POST /team", h.switchTeam)
	h.mux.HandleFunc("GET /pipelines", h.pipelinesPage)
	h.mux.HandleFunc("GET /pipelines/live", h.pipelinesLive)
	h.mux.HandleFunc("GET /pipelines/new", h.newPipelinePage)
	h.mux.HandleFunc("POST /pipelines/new", h.createPipeline)
	h.mux.HandleFunc("POST /pipelines/preview", h.previewPane)
	h.mux.HandleFunc("POST /pipelines/suggest", h.suggestFields)
	h.mux.HandleFunc("GET /pipelines/{id}/edit", h.editPipelinePage)
	h.mux.HandleFunc("POST /pipelines/{id}/edit", h.updatePipeline)
	h.mux.HandleFunc("GET /pipelines/{id}", h.dashboard)
	h.mux.HandleFunc("GET /pipelines/{id}/tabs/{tab}", h.tab)
	h.mux.HandleFunc("POST /pipelines/{id}/pause", h.pause)
	h.mux.HandleFunc("POST /pipelines/{id}/resume", h.resume)
	h.mux.HandleFunc("POST /pipelines/{id}/sinks/{sink}/deliveries/{delivery}/retry", h.retry)
	h.mux.HandleFunc("POST /pipelines/{id}/sinks/{sink}/replay", h.replay)
	h.alertRoutes()
	h.dashboardRoutes()
	h.mux.HandleFunc("GET /settings", h.settingsPage)
	h.mux.HandleFunc("POST /settings/members", h.addMember)
	h.mux.HandleFunc("POST /settings/members/{user}/role", h.setMemberRole)
	h.mux.HandleFunc("POST /settings/members/{user}/remove", h.removeMember)
	h.mux.HandleFunc("POST /settings/tokens", h.createToken)
	h.mux.HandleFunc("POST /settings/tokens/{token}/revoke", h.revokeToken)
	h.mux.HandleFunc("POST /settings/secrets", h.createSecret)
	h.mux.HandleFunc("POST /settings/secrets/{name}", h.replaceSecret)
	h.mux.HandleFunc("POST /settings/secrets/{name}/delete", h.deleteSecret)
	h.mux.Handle("GET /graphiql", h.GraphiQL())
	h.mux.Handle("GET /api/docs", h.APIDocs())
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// UsePipelines gives the pages the pipeline service and the broker of
// live updates (built after the handler in the composition root).
func (h *Handler) UsePipelines(p Pipelines, b Broker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pipelines, h.broker = p, b
}

// AddNav adds an entry to the navigation, before Settings (which stays
// last, as the team's own page).
func (h *Handler) AddNav(e NavEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at := len(h.nav)
	for i, n := range h.nav {
		if n.Key == "settings" {
			at = i
		}
	}
	h.nav = append(h.nav[:at], append([]NavEntry{e}, h.nav[at:]...)...)
}

// Close ends the live streams the pages hold open (server shutdown
// waits for requests, and streams never finish on their own).
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

func (h *Handler) services() (Pipelines, Broker) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.pipelines, h.broker
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// csp is the pages' Content-Security-Policy: scripts only from our own
// bundles (no inline script, no eval); inline styles are allowed because
// uPlot sizes its elements with style attributes.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
}

// page is what every page's shell shows.
type page struct {
	Title   string
	Version string
	Style   string
	Script  string
	// Active is the Key of the current navigation entry.
	Active  string
	Nav     []NavEntry
	User    *core.User
	Teams   []teamOption
	Flashes []flash
	// Here is the page's path, where the team switcher returns.
	Here string
}

type teamOption struct {
	ID      uuid.UUID
	Name    string
	Role    string
	Current bool
}

type flash struct {
	Kind string // info, success, error
	Text string
}

// shell builds the page data of a request.
func (h *Handler) shell(w http.ResponseWriter, r *http.Request, title, active string) page {
	h.mu.RLock()
	nav := append([]NavEntry(nil), h.nav...)
	h.mu.RUnlock()
	pg := page{Title: title, Version: h.cfg.Version, Style: h.assets.url("style.css"), Script: h.assets.url("app.js"),
		Active: active, Nav: nav, Here: r.URL.Path}
	if p := account.PrincipalFrom(r.Context()); p != nil && p.User != nil {
		pg.User = p.User
		cur := h.team(r, p)
		for _, m := range p.Memberships {
			pg.Teams = append(pg.Teams, teamOption{ID: m.TeamID, Name: m.Team.Name, Role: string(m.Role), Current: m.TeamID == cur})
		}
		if cur == uuid.Nil && len(pg.Teams) > 0 {
			pg.Teams[0].Current = true
		}
	}
	pg.Flashes = takeFlashes(w, r, h.secure(r))
	return pg
}

// render writes a component as a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && r.Context().Err() == nil {
		h.log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
	}
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	setup, err := h.accounts.NeedsSetup(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if setup {
		h.render(w, r, http.StatusOK, setupPage(h.shell(w, r, "Welcome to Tributary", ""), formState{}))
		return
	}
	if p := account.PrincipalFrom(r.Context()); p == nil || p.User == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	// The pipelines list is the home page.
	h.pipelinesPage(w, r)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, errorPage(h.shell(w, r, "Not found", ""), "This page does not exist.", "/"))
}

func (h *Handler) secure(r *http.Request) bool { return h.cfg.SecureCookies || r.TLS != nil }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client left
	}
	h.log.ErrorContext(r.Context(), "page failed", "request_id", httpapi.RequestID(r.Context()), "path", r.URL.Path, "err", err)
	h.render(w, r, http.StatusInternalServerError, errorPage(h.shell(w, r, "Something went wrong", ""),
		"Something went wrong on our side; request id "+httpapi.RequestID(r.Context())+".", "/"))
}

// serviceError renders an error of the pipeline service: its domain
// errors carry a sentence for the user.
func (h *Handler) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	switch {
	case errors.Is(err, account.ErrUnauthenticated):
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case errors.Is(err, account.ErrForbidden), errors.Is(err, orchestrator.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, core.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, core.ErrInvalid), errors.Is(err, orchestrator.ErrInvalid):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, orchestrator.ErrConflict):
		status = http.StatusConflict
	default:
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, errorPage(h.shell(w, r, http.StatusText(status), ""), userMessage(err), "/pipelines"))
}

// userMessage strips the sentinel prefix from a validation error.
func userMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"invalid: ", "not found: ", "forbidden: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if msg == "" {
		return "The request was refused."
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// Cookies of the pages: the team the pages act on, and one-shot flash
// messages. Neither is a credential.
const (
	teamCookie  = "tributary_team"
	flashCookie = "tributary_flash"
)

// team returns the team the pages act on: the one chosen with the team
// switcher when the user is still a member of it, else uuid.Nil (the
// principal's first team).
func (h *Handler) team(r *http.Request, p *account.Principal) uuid.UUID {
	c, err := r.Cookie(teamCookie)
	if err != nil {
		return uuid.Nil
	}
	id, err := uuid.Parse(c.Value)
	if err != nil {
		return uuid.Nil
	}
	for _, m := range p.Memberships {
		if m.TeamID == id {
			return id
		}
	}
	return uuid.Nil
}

// caller is the request's caller for the pipeline service, or nil (and a
// redirect to sign in) without a signed-in user.
func (h *Handler) caller(w http.ResponseWriter, r *http.Request) (orchestrator.Caller, bool) {
	p := account.PrincipalFrom(r.Context())
	if p == nil || p.User == nil {
		if r.Header.Get("HX-Request") != "" {
			w.Header().Set("HX-Redirect", "/login")
			w.WriteHeader(http.StatusUnauthorized)
			return orchestrator.Caller{}, false
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return orchestrator.Caller{}, false
	}
	return orchestrator.Caller{Principal: p, Team: h.team(r, p)}, true
}

// setFlash leaves a message for the next page.
func setFlash(w http.ResponseWriter, secure bool, kind, text string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(kind + "|" + text), Path: "/",
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// takeFlashes reads and clears the flash message of the request.
func takeFlashes(w http.ResponseWriter, r *http.Request, secure bool) []flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(v, "|")
	if !ok || text == "" {
		return nil
	}
	switch kind {
	case "info", "success", "error":
	default:
		kind = "info"
	}
	if len(text) > 300 {
		text = text[:300]
	}
	return []flash{{Kind: kind, Text: text}}
}

// baseURL is the public URL of the server for examples.
func (h *Handler) baseURL(r *http.Request) string {
	if h.cfg.BaseURL != "" {
		return strings.TrimRight(h.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s", scheme, r.Host)
}
