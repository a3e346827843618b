package source

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/vault"
)

// AuthSpec says how requests authenticate. Every credential is a team
// secret, named in Secret; the spec never holds a credential itself.
//
//	{"type": "bearer", "secret": "api-token"}
//	{"type": "basic", "username": "reader", "secret": "api-password"}
//	{"type": "api_key", "header": "X-Api-Key", "secret": "api-key"}
//	{"type": "api_key", "query": "apikey", "secret": "api-key"}
//	{"type": "oauth2", "token_url": "https://auth.example.com/token",
//	 "client_id": "tributary", "secret": "client-secret", "scopes": ["read"]}
type AuthSpec struct {
	// Type is none, bearer, basic, api_key or oauth2 (client credentials).
	Type string `json:"type"`
	// Secret names the team secret holding the token, password, key or
	// OAuth2 client secret.
	Secret string `json:"secret,omitempty"`
	// Username is the user of basic authentication.
	Username string `json:"username,omitempty"`
	// Header is the header an api_key goes in; Prefix optionally goes
	// before the key in it ("Token ").
	Header string `json:"header,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Query is the query parameter an api_key goes in instead.
	Query string `json:"query,omitempty"`
	// TokenURL, ClientID and Scopes configure OAuth2 client credentials.
	TokenURL string   `json:"token_url,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
}

// secrets lists the secret an AuthSpec at path names, for Kind.Secrets.
func (a *AuthSpec) secrets(path string) []SecretRef {
	if a == nil || a.Secret == "" {
		return nil
	}
	return []SecretRef{{Path: path + ".secret", Name: a.Secret}}
}

// authConf is a checked AuthSpec.
type authConf struct {
	typ        string
	secret     string
	secretPath string
	username   string
	header     string
	prefix     string
	query      string
	tokenURL   string
	clientID   string
	scopes     []string
}

// auth checks an AuthSpec at path (relative to the part) and registers its
// secret. It returns nil for no authentication.
func (b *Builder) auth(path string, a *AuthSpec) *authConf {
	if a == nil || a.Type == "none" && a.Secret == "" {
		return nil
	}
	c := &authConf{typ: a.Type, secret: a.Secret, secretPath: joinPath(b.part, path+".secret"), username: a.Username,
		header: a.Header, prefix: a.Prefix, query: a.Query, tokenURL: a.TokenURL, clientID: a.ClientID, scopes: a.Scopes}
	allowed := map[string][]string{
		"bearer":  {"secret"},
		"basic":   {"secret", "username"},
		"api_key": {"secret", "header", "prefix", "query"},
		"oauth2":  {"secret", "token_url", "client_id", "scopes"},
	}
	fields, ok := allowed[a.Type]
	if !ok {
		b.Problem(path+".type", fmt.Sprintf(`%q is not an authentication type: use "none", "bearer", "basic", "api_key" or "oauth2"`, a.Type))
		return nil
	}
	set := map[string]bool{"secret": a.Secret != "", "username": a.Username != "", "header": a.Header != "", "prefix": a.Prefix != "",
		"query": a.Query != "", "token_url": a.TokenURL != "", "client_id": a.ClientID != "", "scopes": len(a.Scopes) > 0}
	for _, f := range []string{"secret", "username", "header", "prefix", "query", "token_url", "client_id", "scopes"} {
		if set[f] && !contains(fields, f) {
			b.Problem(path+"."+f, fmt.Sprintf("does not apply to %s authentication", a.Type))
		}
	}
	switch {
	case a.Secret == "":
		b.Problem(path+".secret", "is required: the name of the team secret holding the credential")
	default:
		if err := vault.ValidName(a.Secret); err != nil {
			b.Problem(path+".secret", "must name a team secret: 1 to 64 characters of a-z, 0-9, _ and -")
		} else {
			b.secrets = append(b.secrets, SecretRef{Path: c.secretPath, Name: a.Secret})
		}
	}
	switch a.Type {
	case "basic":
		if a.Username == "" {
			b.Problem(path+".username", "is required for basic authentication")
		} else if strings.Contains(a.Username, ":") {
			b.Problem(path+".username", `must not contain ":"`)
		}
	case "api_key":
		switch {
		case a.Header == "" && a.Query == "":
			b.Problem(path, `an api_key goes in a "header" (such as "X-Api-Key") or a "query" parameter (such as "apikey"); name one`)
		case a.Header != "" && a.Query != "":
			b.Problem(path, `set either "header" or "query", not both`)
		case a.Header != "":
			if !validHeaderName(a.Header) {
				b.Problem(path+".header", fmt.Sprintf("%q is not a valid header name", a.Header))
			}
			c.header = textproto.CanonicalMIMEHeaderKey(a.Header)
		}
		if a.Prefix != "" && a.Header == "" {
			b.Problem(path+".prefix", `applies to a key in a "header"`)
		}
	case "oauth2":
		if a.TokenURL == "" {
			b.Problem(path+".token_url", "is required: the OAuth2 token endpoint")
		} else {
			b.checkURL(path+".token_url", a.TokenURL)
		}
		if a.ClientID == "" {
			b.Problem(path+".client_id", "is required")
		}
	}
	return c
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// authState is the authentication of one poll: the opened secret and, for
// OAuth2, the access token.
type authState struct {
	conf   *authConf
	value  string
	token  string
	cached bool // the token came from the cache
}

// openAuth opens the secret of c (once per poll) and, for OAuth2, gets a
// token. A nil c needs nothing.
func (r *Run) openAuth(ctx context.Context, c *authConf) (*authState, error) {
	if c == nil {
		return nil, nil
	}
	if r.env.Secrets == nil {
		return nil, errorf("the secret named at %s cannot be opened here", c.secretPath)
	}
	v, err := r.env.Secrets(ctx, c.secret)
	if err != nil {
		return nil, errorf("the secret %q named at %s cannot be opened: %s", c.secret, c.secretPath, secretProblem(err))
	}
	st := &authState{conf: c, value: string(v)}
	clear(v)
	r.red.add(st.value)
	if c.typ == "basic" {
		r.red.add(c.username + ":" + st.value)
	}
	if c.typ == "oauth2" {
		if err := st.fetchToken(ctx, r, true); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// secretProblem says why a secret could not be opened, in words that
// never include its value.
func secretProblem(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "no secret named") || strings.Contains(msg, "no such secret") {
		return "the team has no secret of that name; create it or change the pipeline"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "the poll was stopped"
	}
	return "it could not be read"
}

func (s *authState) canRefresh() bool { return s.conf.typ == "oauth2" && s.cached }

func (s *authState) refresh(ctx context.Context, r *Run) error {
	r.env.Tokens.forget(s.cacheKey())
	return s.fetchToken(ctx, r, false)
}

func (s *authState) cacheKey() [32]byte {
	h := sha256.New()
	for _, part := range []string{s.conf.tokenURL, s.conf.clientID, s.value, strings.Join(s.conf.scopes, " ")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// fetchToken gets an OAuth2 token, from the cache when allowed.
func (s *authState) fetchToken(ctx context.Context, r *Run, useCache bool) error {
	key := s.cacheKey()
	if useCache {
		if tok := r.env.Tokens.get(key); tok != "" {
			s.token, s.cached = tok, true
			r.red.add(tok)
			return nil
		}
	}
	cc := clientcredentials.Config{
		ClientID: s.conf.clientID, ClientSecret: s.value, TokenURL: s.conf.tokenURL, Scopes: s.conf.scopes,
		AuthStyle: oauth2.AuthStyleAutoDetect,
	}
	tctx := context.WithValue(ctx, oauth2.HTTPClient, r.env.Client.hc)
	tctx, cancel := context.WithTimeout(tctx, DefaultTimeout)
	defer cancel()
	r.res.Requests++
	tok, err := cc.Token(tctx)
	if err != nil {
		where := "POST " + netguard.RedactURL(s.conf.tokenURL)
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			msg := fmt.Sprintf("%s: the OAuth2 token endpoint answered %d %s", where, re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
			if re.ErrorCode != "" {
				msg += ": " + re.ErrorCode
				if re.ErrorDescription != "" {
					msg += " (" + snippet([]byte(re.ErrorDescription), 200) + ")"
				}
			} else if sn := snippet(re.Body, 200); sn != "" {
				msg += ": " + sn
			}
			return &Error{Msg: msg, Status: re.Response.StatusCode}
		}
		return requestError(where+": getting an OAuth2 token", DefaultTimeout, err)
	}
	s.token, s.cached = tok.AccessToken, false
	r.red.add(tok.AccessToken)
	r.env.Tokens.put(key, tok)
	return nil
}

// apply puts the credential into a request and returns the names of the
// headers that carry it.
func (s *authState) apply(_ context.Context, _ *Run, req *http.Request) ([]string, error) {
	switch s.conf.typ {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+s.value)
	case "oauth2":
		req.Header.Set("Authorization", "Bearer "+s.token)
	case "basic":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.conf.username+":"+s.value)))
	case "api_key":
		if s.conf.header != "" {
			req.Header.Set(s.conf.header, s.conf.prefix+s.value)
			return []string{s.conf.header}, nil
		}
		q := req.URL.Query()
		q.Set(s.conf.query, s.value)
		req.URL.RawQuery = q.Encode()
	}
	return nil, nil
}

// TokenCache keeps OAuth2 access tokens between polls, keyed by token
// URL, client and secret (a rotated secret gets a new token). It is safe
// for concurrent use; a nil *TokenCache caches nothing.
type TokenCache struct {
	mu sync.Mutex
	m  map[[32]byte]*oauth2.Token
}

// NewTokenCache returns an empty cache.
func NewTokenCache() *TokenCache { return &TokenCache{m: make(map[[32]byte]*oauth2.Token)} }

// tokenMargin is how long before its expiry a token is no longer used.
const tokenMargin = 30 * time.Second

// maxTokens bounds the cache; past it, it starts over.
const maxTokens = 10_000

func (c *TokenCache) get(k [32]byte) string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.m[k]
	if t == nil || t.AccessToken == "" {
		return ""
	}
	if !t.Expiry.IsZero() && time.Until(t.Expiry) < tokenMargin {
		delete(c.m, k)
		return ""
	}
	return t.AccessToken
}

func (c *TokenCache) put(k [32]byte, t *oauth2.Token) {
	if c == nil {
		return
	}
	if t.Expiry.IsZero() {
		// A token without an expiry is reused for an hour at most.
		t = &oauth2.Token{AccessToken: t.AccessToken, Expiry: time.Now().Add(time.Hour)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxTokens {
		clear(c.m)
	}
	c.m[k] = t
}

func (c *TokenCache) forget(k [32]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
