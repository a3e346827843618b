package source

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/netguard"
)

// Helpers that kinds' Build functions share. Paths are relative to the
// kind's part.

// template parses a templated string at path and records the state
// variables it uses.
func (b *Builder) template(path, s string) template {
	t, err := parseTemplate(s)
	if err != nil {
		b.Problem(path, err.Error())
		return template{parts: []tmplPart{{lit: s}}}
	}
	for _, n := range t.names() {
		b.stateRefs = append(b.stateRefs, stateRef{joinPath(b.part, path), n})
	}
	return t
}

// jsonTemplate parses a JSON value whose strings may hold templates.
func (b *Builder) jsonTemplate(path string, v any) jsonTemplate {
	jt, ps := parseJSONTemplate(v)
	for _, p := range ps {
		b.Problem(joinPath(path, p.Path), p.Message)
	}
	for _, r := range jt.refs {
		b.stateRefs = append(b.stateRefs, stateRef{joinPath(b.part, joinPath(path, r.path)), r.name})
	}
	return jt
}

// urlTemplate checks a templated http(s) URL at path.
func (b *Builder) urlTemplate(path, s string) urlTemplate {
	if s == "" {
		b.Problem(path, "is required: the http or https URL to poll")
		return urlTemplate{}
	}
	u, err := parseURLTemplate(s)
	if err != nil {
		b.Problem(path, err.Error())
		return u
	}
	for _, n := range u.names() {
		b.stateRefs = append(b.stateRefs, stateRef{joinPath(b.part, path), n})
	}
	// Check the URL with empty state values: templates may only fill in
	// parts of the path and the query, never the scheme or the host.
	b.checkURL(path, u.render(nil))
	if scheme, rest, ok := strings.Cut(s, "://"); ok && !strings.Contains(scheme, "{{") {
		host, _, _ := strings.Cut(rest, "/")
		if strings.Contains(host, "{{") {
			b.Problem(path, "has a template in its host; templates may fill in the path and the query only")
		}
	}
	return u
}

// checkURL checks that s is an absolute http(s) URL with a host, without
// credentials in it. Addresses are checked when the URL is fetched (the
// SSRF guard), so that DNS names are judged by what they resolve to then.
func (b *Builder) checkURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil {
		b.Problem(path, "is not a valid URL")
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		b.Problem(path, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		b.Problem(path, "has no host")
	case u.User != nil:
		b.Problem(path, "must not hold a user name or password; use auth with a team secret")
	case u.Fragment != "":
		b.Problem(path, "must not have a #fragment")
	}
}

// duration parses a Go duration between lo and hi; empty gives def.
func (b *Builder) duration(path, s string, def, lo, hi time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		b.Problem(path, fmt.Sprintf("%q is not a duration: write it like \"10s\" or \"2m\"", s))
	case d < lo || d > hi:
		b.Problem(path, fmt.Sprintf("%q is not between %s and %s", s, lo, hi))
	default:
		return d
	}
	return def
}

// path parses a dotted path at path.
func (b *Builder) path(at, s string) mapping.Path {
	p, err := mapping.ParsePath(s)
	if err != nil {
		b.Problem(at, err.Error())
	}
	return p
}

// queryParam is one templated query parameter; a list gives the parameter
// once per element.
type queryParam struct {
	name   string
	values []template
}

// query checks query parameters: strings (templated), numbers, booleans,
// or lists of those.
func (b *Builder) query(path string, q map[string]any) []queryParam {
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []queryParam
	for _, n := range names {
		at := joinPath(path, n)
		if n == "" {
			b.Problem(path, "has a parameter without a name")
			continue
		}
		p := queryParam{name: n}
		add := func(at string, v any) {
			switch x := v.(type) {
			case string:
				p.values = append(p.values, b.template(at, x))
			case nil:
				b.Problem(at, "is null; leave the parameter out instead")
			case map[string]any:
				b.Problem(at, "is an object; a query value is a string, a number, a boolean or a list of them")
			case []any:
				b.Problem(at, "nests a list in a list")
			default:
				p.values = append(p.values, template{parts: []tmplPart{{lit: textOf(x)}}})
			}
		}
		if list, ok := q[n].([]any); ok {
			for i, e := range list {
				add(at+"["+strconv.Itoa(i)+"]", e)
			}
		} else {
			add(at, q[n])
		}
		out = append(out, p)
	}
	return out
}

// headerTmpl is one templated header.
type headerTmpl struct {
	name  string
	value template
}

// forbiddenHeaders are headers a spec cannot set: the transport's own,
// and credentials, which belong in a team secret.
var forbiddenHeaders = map[string]string{
	"Host":                "is set from the URL",
	"Content-Length":      "is set from the body",
	"Transfer-Encoding":   "is set by the client",
	"Connection":          "is set by the client",
	"Authorization":       "would put a credential in the spec; use auth with a team secret",
	"Proxy-Authorization": "would put a credential in the spec; use auth with a team secret",
	"Cookie":              "would put a credential in the spec; use auth with a team secret",
}

// headers checks request headers.
func (b *Builder) headers(path string, h map[string]string) []headerTmpl {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []headerTmpl
	for _, n := range names {
		at := joinPath(path, n)
		if !validHeaderName(n) {
			b.Problem(at, "is not a valid header name")
			continue
		}
		canon := http.CanonicalHeaderKey(n)
		if why, bad := forbiddenHeaders[canon]; bad {
			b.Problem(at, "cannot be set here: it "+why)
			continue
		}
		if strings.ContainsAny(h[n], "\r\n") {
			b.Problem(at, "must not contain a line break")
			continue
		}
		out = append(out, headerTmpl{name: canon, value: b.template(at, h[n])})
	}
	return out
}

// renderURL renders a URL template with query parameters added.
func renderURL(u urlTemplate, params []queryParam, vals Values) (*url.URL, error) {
	raw := u.render(vals)
	parsed, err := url.Parse(raw)
	if err != nil {
		return nil, errorf("the URL is not valid once the state is filled in: %v", unwrapURLError(err))
	}
	if len(params) > 0 {
		q := parsed.Query()
		for _, p := range params {
			q.Del(p.name)
			for _, v := range p.values {
				q.Add(p.name, v.render(vals, noEscape))
			}
		}
		parsed.RawQuery = q.Encode()
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" || parsed.Host == "" {
		return nil, errorf("the URL %s is not an http(s) URL once the state is filled in", netguard.RedactURL(raw))
	}
	return parsed, nil
}

// renderHeaders renders headers.
func renderHeaders(hs []headerTmpl, vals Values) http.Header {
	h := make(http.Header, len(hs)+1)
	for _, x := range hs {
		v := x.value.render(vals, noEscape)
		if strings.ContainsAny(v, "\r\n") {
			v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		}
		h.Set(x.name, v)
	}
	return h
}
