package httpapi

import (
	"net/http"
	"time"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "tributary_session"

// SetSessionCookie sets the session cookie: HttpOnly (no script can read
// it), SameSite=Lax (not sent on cross-site subrequests), Secure when
// served over TLS.
func SetSessionCookie(w http.ResponseWriter, value string, ttl time.Duration, secure bool) {
	http.SetCookie(w, sessionCookie(value, ttl, secure))
}

func sessionCookie(value string, ttl time.Duration, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ClearSessionCookie tells the browser to forget the session.
func ClearSessionCookie(w http.ResponseWriter, secure bool) {
	c := sessionCookie("", 0, secure)
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// secureCookie decides the Secure flag for a response to r.
func (s *Server) secureCookie(r *http.Request) bool {
	return s.cfg.SecureCookies || r.TLS != nil
}
