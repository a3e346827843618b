package source

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
)

// redactor removes credential values from error messages: the secrets a
// poll opened, the forms they take on the wire (URL-escaped, base64 in a
// basic authorization, JSON-escaped) and the tokens obtained with them. An
// API that echoes a credential in its error body therefore cannot make it
// reach a run row or a log.
type redactor struct {
	mu     sync.Mutex
	values []string
}

// minRedactLen is the shortest value redacted: shorter ones would blank
// out ordinary words and carry next to no secret anyway.
const minRedactLen = 4

func newRedactor() *redactor { return &redactor{} }

// add registers a credential value and its encodings.
func (r *redactor) add(v string) {
	if len(v) < minRedactLen {
		return
	}
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), base64.StdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)), base64.RawStdEncoding.EncodeToString([]byte(v))}
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, strings.Trim(string(j), `"`))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range forms {
		if len(f) >= minRedactLen && !contains(r.values, f) {
			r.values = append(r.values, f)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// redact replaces every registered value in s.
func (r *redactor) redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Longer values first, so that a value containing another is replaced
	// whole.
	for changed := true; changed; {
		changed = false
		for _, v := range r.values {
			if strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, "[redacted]")
				changed = true
			}
		}
	}
	return s
}
