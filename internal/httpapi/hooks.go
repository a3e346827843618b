package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/signature"
)

// Webhook ingest: POST /hooks/{token}.
//
// The token in the path is the credential, so the route takes no session
// or API token and is exempt from the cross-origin check. A request goes:
//
//	token → pipeline (cached briefly)  unknown: 404, paused: 409
//	read body ≤ max_body_bytes, gunzip ≤ max_body_bytes   413
//	Standard Webhooks signature, when the pipeline has a signing secret  401
//	decode JSON / array / NDJSON (numbers as json.Number)  400, naming line or offset
//	engine.Process (map, validate) in this goroutine
//	engine.Submit: group commit, blocks until the transaction committed  503
//	202 {"accepted", "rejected", "run_id"}
//
// Nothing of a refused request is stored. Any failure after a signature
// verified releases its webhook-id from the replay guard, so the sender's
// retry is not refused as a replay.

// Engine is what the routes need of the engine; *engine.Engine has it.
type Engine interface {
	// Compiled returns the compiled spec of p's version.
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	// Process maps and validates inputs in the caller's goroutine.
	Process(c *pipeline.Compiled, inputs []any, arrival time.Time) ([]engine.Mapped, []core.Rejected)
	// Submit commits processed records and returns once they are durable.
	Submit(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []engine.Mapped, rejected []core.Rejected, trigger core.RunTrigger) (engine.Result, error)
	// Warm loads a pipeline's recent records into the cache once.
	Warm(ctx context.Context, p core.Pipeline) error
	// Forget drops what the engine keeps of a deleted pipeline.
	Forget(pipelineID uuid.UUID)
}

var _ Engine = (*engine.Engine)(nil)

// IngestBody is the answer to an accepted webhook request.
type IngestBody struct {
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	RunID    *uuid.UUID `json:"run_id,omitempty"`
}

// errUnknownHook means no webhook pipeline has the token.
var errUnknownHook = errors.New("unknown webhook token")

// errHookConfig means the pipeline cannot take requests as configured
// (its stored spec no longer compiles, its signing secret cannot be read).
var errHookConfig = errors.New("webhook pipeline misconfigured")

// unknownHookDetail is the same for unknown, deleted and malformed tokens.
const unknownHookDetail = "There is no webhook at this URL."

// ingest serves POST /hooks/{token}.
func (r *pipelineRoutes) ingest(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	arrival := time.Now()
	token := req.PathValue("token")
	if !plausibleToken(token) {
		writeProblem(w, http.StatusNotFound, unknownHookDetail)
		return
	}
	h, err := r.hooks.get(ctx, token)
	switch {
	case errors.Is(err, errUnknownHook):
		writeProblem(w, http.StatusNotFound, unknownHookDetail)
		return
	case errors.Is(err, errHookConfig):
		r.s.log.ErrorContext(ctx, "webhook pipeline cannot take requests", logAttrs(ctx), "err", err)
		writeProblem(w, http.StatusInternalServerError, "This webhook cannot take requests as it is configured; the pipeline's team must fix it.")
		return
	case err != nil:
		r.s.log.ErrorContext(ctx, "look up webhook", logAttrs(ctx), "err", err)
		unavailable(w, "This webhook cannot take requests right now; try again shortly.")
		return
	}
	if h.p.Status == core.StatusPaused {
		writeProblem(w, http.StatusConflict, "This pipeline is paused; it takes no records until it is resumed.")
		return
	}
	if ok, wait := r.limits.allow(h.p.TeamID, arrival); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeProblem(w, http.StatusTooManyRequests, "This team sends more webhook requests than its limit; retry after the time in Retry-After.")
		return
	}

	limit := h.compiled.MaxBodyBytes
	if limit <= 0 {
		limit = pipeline.DefaultMaxBodyBytes
	}
	body, herr := readHookBody(req, limit)
	if herr != nil {
		writeProblem(w, herr.status, herr.detail)
		return
	}

	msgID := ""
	if h.verifier != nil {
		if err := h.verifier.Verify(ctx, req.Header, body, arrival); err != nil {
			if isSignatureFailure(err) {
				writeProblem(w, http.StatusUnauthorized, "The webhook signature is not valid: "+err.Error()+".")
				return
			}
			r.s.log.ErrorContext(ctx, "webhook replay check", logAttrs(ctx), "err", err)
			unavailable(w, "This webhook cannot verify signatures right now; try again shortly.")
			return
		}
		msgID = req.Header.Get(signature.HeaderID)
	}
	// fail refuses a request whose signature verified: the sender may
	// retry it with the same webhook-id.
	fail := func(status int, detail string) {
		if msgID != "" {
			if err := h.verifier.Forget(context.WithoutCancel(ctx), msgID); err != nil {
				r.s.log.WarnContext(ctx, "webhook replay guard", logAttrs(ctx), "err", err)
			}
		}
		if status == http.StatusServiceUnavailable {
			unavailable(w, detail)
			return
		}
		writeProblem(w, status, detail)
	}

	inputs, herr := decodeHookBody(body, isNDJSON(req.Header.Get("Content-Type")))
	if herr != nil {
		fail(herr.status, herr.detail)
		return
	}
	accepted, rejected := r.engine.Process(h.compiled, inputs, arrival)
	res, err := r.engine.Submit(ctx, h.p, h.compiled, accepted, rejected, core.TriggerWebhook)
	if err != nil {
		if ctx.Err() != nil {
			fail(499, "The request was cancelled.") // nobody reads it; the access log shows it
			return
		}
		if !errors.Is(err, engine.ErrClosed) {
			r.s.log.ErrorContext(ctx, "webhook batch failed", logAttrs(ctx), "pipeline", h.p.ID, "err", err)
		}
		fail(http.StatusServiceUnavailable, "The records could not be stored; nothing of this request was kept. Try again shortly.")
		return
	}
	out := IngestBody{Accepted: res.Accepted, Rejected: res.Rejected}
	if res.RunID != uuid.Nil {
		out.RunID = &res.RunID
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(out)
}

// unavailable answers 503 with Retry-After.
func unavailable(w http.ResponseWriter, detail string) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, detail)
}

// isSignatureFailure reports whether err is the sender's fault (401),
// rather than the replay guard's (503).
func isSignatureFailure(err error) bool {
	for _, s := range []error{signature.ErrMissingHeaders, signature.ErrBadTimestamp, signature.ErrTimestampTooOld,
		signature.ErrTimestampTooNew, signature.ErrNoMatchingSignature, signature.ErrReplayed} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// plausibleToken refuses without a lookup what cannot be an ingest token
// (auth.NewURLToken makes 32 base64url characters).
func plausibleToken(t string) bool {
	if len(t) < 16 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// loadHook resolves a token to its pipeline, compiled spec and verifier.
func (r *pipelineRoutes) loadHook(ctx context.Context, token string) (*hook, error) {
	p, err := r.store.PipelineByHookToken(ctx, token)
	if errors.Is(err, core.ErrNotFound) {
		return nil, errUnknownHook
	}
	if err != nil {
		return nil, fmt.Errorf("look up webhook token: %w", err)
	}
	if p.Kind != core.KindWebhook {
		return nil, errUnknownHook
	}
	c, err := r.engine.Compiled(p)
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %w", errHookConfig, p.ID, err)
	}
	h := &hook{p: p, compiled: c}
	if c.SigningSecret == "" {
		return h, nil
	}
	value, err := r.vault.Open(ctx, p.TeamID, c.SigningSecret)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: pipeline %s: signing secret %q: %w", errHookConfig, p.ID, c.SigningSecret, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.ID, err)
	}
	sec, err := signature.ParseSecret(string(value))
	clear(value)
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: signing secret %q: %w", errHookConfig, p.ID, c.SigningSecret, err)
	}
	h.verifier, err = signature.NewVerifier(signature.Config{
		Secrets: []signature.Secret{sec}, Tolerance: c.WebhookTolerance,
		Replay: r.replay, ReplayScope: p.ID.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %w", errHookConfig, p.ID, err)
	}
	return h, nil
}

// hookError is a webhook request refused before it reached the engine.
type hookError struct {
	status int
	detail string
}

func (e *hookError) Error() string { return e.detail }

func tooLarge(limit int64, what string) *hookError {
	return &hookError{http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The %s is larger than this pipeline's limit of %d bytes.", what, limit)}
}

// readHookBody reads a webhook body of at most limit bytes and undoes a
// gzip Content-Encoding, whose output is held to the same limit (a
// decompression bomb stops there). The result is the payload exactly as
// the sender signed it.
func readHookBody(req *http.Request, limit int64) ([]byte, *hookError) {
	if req.ContentLength > limit {
		return nil, tooLarge(limit, "request body")
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, &hookError{http.StatusUnsupportedMediaType,
			"Content-Encoding " + quoteHeader(enc) + " is not supported; send the body uncompressed or gzip-compressed."}
	}
	raw, err := readLimited(req.Body, limit)
	if err != nil {
		if errors.Is(err, errOverLimit) {
			return nil, tooLarge(limit, "request body")
		}
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			// The server's own limit on request bodies is the lower one.
			return nil, &hookError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("The request body is larger than this server's limit of %d bytes.", mbe.Limit)}
		}
		return nil, &hookError{http.StatusBadRequest, "The request body could not be read completely."}
	}
	if !gz {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, &hookError{http.StatusBadRequest, "The body is not valid gzip data."}
	}
	body, err := readLimited(zr, limit)
	if errors.Is(err, errOverLimit) {
		return nil, tooLarge(limit, "decompressed body")
	}
	if err != nil {
		return nil, &hookError{http.StatusBadRequest, "The body is not valid gzip data (it is corrupt or truncated)."}
	}
	return body, nil
}

var errOverLimit = errors.New("over the limit")

// readLimited reads r to the end, or fails with errOverLimit past limit
// bytes, without ever holding more than limit+1 of them.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errOverLimit
	}
	return buf.Bytes(), nil
}

// quoteHeader quotes a header value for a message, cut short.
func quoteHeader(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// ndjsonTypes are the media types of newline-delimited JSON.
var ndjsonTypes = map[string]bool{
	"application/x-ndjson": true, "application/ndjson": true,
	"application/jsonl": true, "application/x-jsonl": true,
	"application/jsonlines": true, "application/x-jsonlines": true,
}

// isNDJSON reports whether the Content-Type names newline-delimited JSON.
func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && ndjsonTypes[mt]
}

// decodeHookBody decodes a webhook payload into the engine's inputs: a
// JSON object is one input, a JSON array one input per element, NDJSON one
// per non-blank line. Numbers stay json.Number, as the mapping wants them.
// Without an NDJSON Content-Type, a body holding several JSON values on
// separate lines is NDJSON. Malformed input fails as a whole, naming the
// line (NDJSON) or the byte offset (JSON).
func decodeHookBody(body []byte, ndjson bool) ([]any, *hookError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &hookError{http.StatusBadRequest, "The body is empty; send a JSON object, a JSON array of objects, or NDJSON."}
	}
	if ndjson {
		return decodeNDJSON(body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &hookError{http.StatusBadRequest, "The body is not valid JSON: " + jsonProblem(err, len(body)) + "."}
	}
	end := dec.InputOffset()
	if rest := body[end:]; len(bytes.TrimSpace(rest)) > 0 {
		// More values: NDJSON sent as JSON, if a line break separates them.
		if _, isObj := v.(map[string]any); isObj && bytes.IndexByte(rest[:len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))], '\n') >= 0 {
			return decodeNDJSON(body)
		}
		return nil, &hookError{http.StatusBadRequest, fmt.Sprintf(
			"The body is not valid JSON: unexpected data after the JSON value at byte %d; send one JSON value, or NDJSON with one object per line.", end)}
	}
	switch t := v.(type) {
	case map[string]any:
		return []any{t}, nil
	case []any:
		return t, nil
	}
	return nil, &hookError{http.StatusBadRequest, "The body must be a JSON object, a JSON array of objects, or NDJSON; it is a single JSON " + jsonKind(v) + "."}
}

// decodeNDJSON decodes one JSON value per non-blank line.
func decodeNDJSON(body []byte) ([]any, *hookError) {
	var out []any
	line := 0
	for len(body) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			text, body = body[:i], body[i+1:]
		} else {
			text, body = body, nil
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, &hookError{http.StatusBadRequest, fmt.Sprintf("Line %d is not valid JSON: %s.", line, jsonProblem(err, len(text)))}
		}
		if off := dec.InputOffset(); len(bytes.TrimSpace(text[off:])) > 0 {
			return nil, &hookError{http.StatusBadRequest, fmt.Sprintf(
				"Line %d is not valid JSON: unexpected data after the JSON value at byte %d of the line; NDJSON holds one value per line.", line, off+1)}
		}
		out = append(out, v)
	}
	return out, nil
}

// jsonProblem describes a decode error of a text of size bytes with its
// position.
func jsonProblem(err error, size int) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("it ends early, after byte %d", size)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	}
	return "value"
}

// maxHookEntries bounds the token cache; past it, expired entries go, and
// if that is not enough, arbitrary ones.
const maxHookEntries = 10_000

// hookLoadTimeout bounds a token lookup shared by concurrent requests.
const hookLoadTimeout = 10 * time.Second

// hook is what ingest needs of a webhook pipeline, resolved from its token.
type hook struct {
	gen      uint64 // the cache's generation when the load began
	p        core.Pipeline
	compiled *pipeline.Compiled
	// verifier checks signatures; nil when the pipeline is not signed.
	verifier *signature.Verifier
	expires  time.Time
}

// hookCache keeps resolved tokens for a short TTL, so that a burst of
// webhook requests costs one lookup, one compile and one secret opening.
// Changes made through this process forget the entries they affect at
// once; concurrent misses of one token share one load.
type hookCache struct {
	ttl    time.Duration
	load   func(ctx context.Context, token string) (*hook, error)
	flight singleflight.Group

	mu      sync.Mutex
	byToken map[string]*hook
	gen     uint64 // grows on every forget, so a load racing one is not kept
}

func newHookCache(ttl time.Duration, load func(context.Context, string) (*hook, error)) *hookCache {
	return &hookCache{ttl: ttl, load: load, byToken: make(map[string]*hook)}
}

// get returns the token's hook, loading it when it is not cached or
// expired. Unknown tokens are not cached.
func (c *hookCache) get(ctx context.Context, token string) (*hook, error) {
	now := time.Now()
	c.mu.Lock()
	h, ok := c.byToken[token]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(h.expires) {
		return h, nil
	}
	v, err, _ := c.flight.Do(token, func() (any, error) {
		// The load runs for every waiter: it must not end with the
		// request that happened to start it, only with its own timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hookLoadTimeout)
		defer cancel()
		return c.loadAndKeep(ctx, token)
	})
	if err != nil {
		return nil, err
	}
	if h := v.(*hook); h.gen >= gen {
		return h, nil
	}
	// The shared load began before a change this request came after (a
	// rotated token, a pause): load again on its own.
	return c.loadAndKeep(ctx, token)
}

// loadAndKeep loads a token and caches the result, unless something was
// forgotten while it loaded.
func (c *hookCache) loadAndKeep(ctx context.Context, token string) (*hook, error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	h, err := c.load(ctx, token)
	if err != nil {
		return nil, err
	}
	h.gen = gen
	now := time.Now()
	h.expires = now.Add(c.ttl)
	c.mu.Lock()
	if c.gen == gen {
		if len(c.byToken) >= maxHookEntries {
			c.evict(now)
		}
		c.byToken[token] = h
	}
	c.mu.Unlock()
	return h, nil
}

// evict drops expired entries and, if the cache is still full, half of
// the rest. Called with c.mu held.
func (c *hookCache) evict(now time.Time) {
	for k, h := range c.byToken {
		if !now.Before(h.expires) {
			delete(c.byToken, k)
		}
	}
	for k := range c.byToken {
		if len(c.byToken) < maxHookEntries/2 {
			break
		}
		delete(c.byToken, k)
	}
}

// forgetPipeline drops the pipeline's entries (after a change, a token
// rotation, a pause, a deletion).
func (c *hookCache) forgetPipeline(id uuid.UUID) {
	c.forget(func(h *hook) bool { return h.p.ID == id })
}

// forgetTeam drops the team's entries (after one of its secrets changed).
func (c *hookCache) forgetTeam(id uuid.UUID) {
	c.forget(func(h *hook) bool { return h.p.TeamID == id })
}

func (c *hookCache) forget(match func(*hook) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, h := range c.byToken {
		if match(h) {
			delete(c.byToken, k)
		}
	}
}
