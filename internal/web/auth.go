package web

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/httpapi"
)

// formState is what a form shows again after an error: what was typed
// (never a password) and the error next to its field.
type formState struct {
	Email    string
	Team     string
	Next     string
	Error    string
	ErrField string // the field the error is about ("" for the form)
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
	h.render(w, r, status, errorPage(h.shell(w, r, "Form not accepted", ""), "The form could not be read: "+http.StatusText(status)+".", "/"))
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
		msg := userMessage(err)
		h.render(w, r, http.StatusUnprocessableEntity, setupPage(h.shell(w, r, "Welcome to Tributary", ""),
			formState{Email: email, Team: team, Error: msg, ErrField: fieldOf(msg)}))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	httpapi.SetSessionCookie(w, sid, h.cfg.SessionTTL, h.secure(r))
	setFlash(w, h.secure(r), "success", "Your account and team are ready. Create your first pipeline to get going.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// fieldOf guesses the form field a validation message is about, so the
// message shows next to it.
func fieldOf(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "password"):
		return "password"
	case strings.Contains(m, "email"):
		return "email"
	case strings.Contains(m, "team"):
		return "team"
	}
	return ""
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if setup, err := h.accounts.NeedsSetup(r.Context()); err == nil && setup {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, loginPage(h.shell(w, r, "Sign in", ""), formState{Next: safeNext(r.URL.Query().Get("next"))}))
}

// safeNext keeps a post-login destination on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	return next
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	addr, _, splitErr := net.SplitHostPort(r.RemoteAddr)
	if splitErr != nil {
		addr = r.RemoteAddr
	}
	_, sid, err := h.accounts.LoginFrom(r.Context(), email, r.PostFormValue("password"), addr)
	if errors.Is(err, account.ErrUnauthenticated) {
		h.render(w, r, http.StatusUnauthorized, loginPage(h.shell(w, r, "Sign in", ""),
			formState{Email: email, Next: next, Error: "Wrong email or password."}))
		return
	}
	if errors.Is(err, account.ErrThrottled) {
		wait := time.Second
		if te := (*account.ThrottledError)(nil); errors.As(err, &te) {
			wait = max(te.RetryAfter, wait)
		}
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.render(w, r, http.StatusTooManyRequests, loginPage(h.shell(w, r, "Sign in", ""),
			formState{Email: email, Next: next, Error: fmt.Sprintf("Too many sign-in attempts; wait %s and try again.", seconds(secs))}))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpapi.SetSessionCookie(w, sid, h.cfg.SessionTTL, h.secure(r))
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if p := account.PrincipalFrom(r.Context()); p != nil && p.SessionHash != nil {
		if err := h.accounts.EndSession(r.Context(), p.SessionHash); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	httpapi.ClearSessionCookie(w, h.secure(r))
	setFlash(w, h.secure(r), "info", "You are signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// switchTeam makes the pages act on another of the user's teams.
func (h *Handler) switchTeam(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	p := account.PrincipalFrom(r.Context())
	if p == nil || p.User == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	id, err := uuid.Parse(r.PostFormValue("team"))
	name := ""
	for _, m := range p.Memberships {
		if err == nil && m.TeamID == id {
			name = m.Team.Name
		}
	}
	if name == "" {
		setFlash(w, h.secure(r), "error", "You are not a member of that team.")
		http.Redirect(w, r, "/pipelines", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: teamCookie, Value: id.String(), Path: "/", HttpOnly: true, Secure: h.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600})
	setFlash(w, h.secure(r), "success", "Switched to team "+name+".")
	back := safeNext(r.PostFormValue("back"))
	if back == "" || strings.HasPrefix(back, "/pipelines/") {
		back = "/pipelines" // a pipeline of the old team is not in the new one
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// seconds says n seconds in words.
func seconds(n int) string {
	if n == 1 {
		return "a second"
	}
	if n >= 120 {
		return fmt.Sprintf("%d minutes", (n+59)/60)
	}
	return fmt.Sprintf("%d seconds", n)
}
