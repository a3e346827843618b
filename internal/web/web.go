// Package web serves Tributary's pages for people: the one-time first-run
// page that creates the first account and team, sign in and out, and the
// home page. Pages are server-rendered; the session cookie they set is the
// same one the JSON API accepts.
package web

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/httpapi"
)

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.ParseFS(templateFiles, "templates/*.html"))

// Config tunes the pages.
type Config struct {
	SessionTTL    time.Duration
	SecureCookies bool
	Version       string
}

// Handler serves the pages.
type Handler struct {
	cfg      Config
	accounts *account.Service
	log      *slog.Logger
	mux      *http.ServeMux
	assets   *assets
}

// New returns the pages' handler.
func New(cfg Config, accounts *account.Service, log *slog.Logger) *Handler {
	a, err := loadAssets(static)
	if err != nil {
		panic("web: bad bundle manifest: " + err.Error())
	}
	if a.missing() {
		log.Warn("web: the front-end bundles are not built; pages render without styles and scripts (run make web)")
	}
	h := &Handler{cfg: cfg, accounts: accounts, log: log, mux: http.NewServeMux(), assets: a}
	h.mux.Handle("GET "+assetPrefix, a)
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("POST /setup", h.setup)
	h.mux.HandleFunc("GET /login", h.loginPage)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.logout)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type pageData struct {
	Title     string
	Version   string
	Error     string
	Email     string
	TeamName  string
	Principal *account.Principal
	Style     string
	Script    string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Version = h.cfg.Version
	d.Style, d.Script = h.assets.url("style.css"), h.assets.url("app.js")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	setup, err := h.accounts.NeedsSetup(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if setup {
		h.render(w, r, http.StatusOK, "setup.html", pageData{Title: "Welcome to Tributary"})
		return
	}
	p := account.PrincipalFrom(r.Context())
	if p == nil || p.User == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "home.html", pageData{Title: "Tributary", Principal: p})
}

// readForm parses a posted form; PostFormValue alone would hide an
// oversized or unreadable body behind empty fields.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm()
	if err == nil {
		return true
	}
	status := http.StatusBadRequest
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	h.render(w, r, status, "error.html", pageData{Title: "Form not accepted", Error: "The form could not be read: " + http.StatusText(status) + "."})
	return false
}

func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	email, password, team := r.PostFormValue("email"), r.PostFormValue("password"), r.PostFormValue("team")
	_, _, sid, err := h.accounts.Setup(r.Context(), email, password, team)
	switch {
	case errors.Is(err, core.ErrAlreadySetUp):
		// The page is one-time: once an account exists it is gone.
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case errors.Is(err, core.ErrInvalid):
		h.render(w, r, http.StatusUnprocessableEntity, "setup.html", pageData{Title: "Welcome to Tributary", Error: userMessage(err), Email: email, TeamName: team})
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	httpapi.SetSessionCookie(w, sid, h.cfg.SessionTTL, h.secure(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login.html", pageData{Title: "Sign in"})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	email := r.PostFormValue("email")
	addr, _, splitErr := net.SplitHostPort(r.RemoteAddr)
	if splitErr != nil {
		addr = r.RemoteAddr
	}
	_, sid, err := h.accounts.LoginFrom(r.Context(), email, r.PostFormValue("password"), addr)
	if errors.Is(err, account.ErrUnauthenticated) {
		h.render(w, r, http.StatusUnauthorized, "login.html", pageData{Title: "Sign in", Error: "Wrong email or password.", Email: email})
		return
	}
	if errors.Is(err, account.ErrThrottled) {
		h.render(w, r, http.StatusTooManyRequests, "login.html", pageData{Title: "Sign in", Error: "Too many failed attempts; wait a few minutes and try again.", Email: email})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpapi.SetSessionCookie(w, sid, h.cfg.SessionTTL, h.secure(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if p := account.PrincipalFrom(r.Context()); p != nil && p.SessionHash != nil {
		if err := h.accounts.EndSession(r.Context(), p.SessionHash); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	httpapi.ClearSessionCookie(w, h.secure(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (h *Handler) secure(r *http.Request) bool { return h.cfg.SecureCookies || r.TLS != nil }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "page failed", "request_id", httpapi.RequestID(r.Context()), "err", err)
	h.render(w, r, http.StatusInternalServerError, "error.html", pageData{Title: "Something went wrong",
		Error: "Something went wrong on our side; request id " + httpapi.RequestID(r.Context()) + "."})
}

// userMessage strips the sentinel prefix from a validation error.
func userMessage(err error) string {
	msg := err.Error()
	const prefix = "invalid: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		msg = msg[len(prefix):]
	}
	return msg
}
