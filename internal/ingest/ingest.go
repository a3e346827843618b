package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
)

// DefaultCacheTTL is how long a webhook token's pipeline is reused before
// it is looked up again.
const DefaultCacheTTL = time.Second

// Config tunes a Service. The zero value of a field means its default.
type Config struct {
	// CacheTTL is how long this process reuses a webhook token's pipeline
	// (and its compiled spec and signature verifier) before it looks the
	// token up again. Changes made through this process take effect at
	// once (ForgetPipeline, ForgetTeam); changes made through another node
	// within the TTL. Zero means DefaultCacheTTL.
	CacheTTL time.Duration
	// Rate limits webhook requests per team and second (RateLimitedError
	// beyond it); 0 or less turns the limit off.
	Rate float64
	// Burst is the size of a team's bucket; 0 means one second's worth of
	// Rate.
	Burst int
	// MaxInFlight bounds how many requests of one team this node works
	// on at once (reading, mapping in the team's CPU share, committing);
	// beyond it a request is refused with a BusyError (429, Retry-After),
	// so that a flooding team's backlog stays bounded and its own. 0
	// means DefaultMaxInFlight; a negative value turns the bound off.
	MaxInFlight int
}

// Store is what ingest needs of the store.
type Store interface {
	// PipelineByHookHash finds a webhook pipeline by the hash of its
	// ingest token (core.HookTokenHash), or fails with core.ErrNotFound.
	PipelineByHookHash(ctx context.Context, hash []byte) (core.Pipeline, error)
	// WebhookIDSeen reports whether the pipeline stored a signed request
	// with the webhook-id hash that has not expired at now.
	WebhookIDSeen(ctx context.Context, teamID, pipelineID uuid.UUID, hash []byte, now time.Time) (bool, error)
}

// Engine is what ingest needs of the engine; *engine.Engine has it.
type Engine interface {
	// Compiled returns the compiled spec of p's version.
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	// ProcessFor maps and validates inputs in the caller's goroutine,
	// within the team's fair share of CPU; it fails only when ctx ends.
	ProcessFor(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, inputs []any, arrival time.Time) ([]engine.Mapped, []core.Rejected, error)
	// Turn is a request's hold on its team's CPU share, in which a big
	// body is decoded.
	Turn(teamID uuid.UUID) *engine.Turn
	// Submit commits processed records and returns once they are durable.
	Submit(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []engine.Mapped, rejected []core.Rejected, trigger core.RunTrigger) (engine.Result, error)
	// SubmitOnce is Submit that stores a signed request's webhook-id in
	// the same transaction, or fails with core.ErrAlreadyReceived when the
	// pipeline already stored it.
	SubmitOnce(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []engine.Mapped, rejected []core.Rejected, trigger core.RunTrigger, id store.WebhookID) (engine.Result, error)
}

var _ Engine = (*engine.Engine)(nil)

// Secrets opens a team's secrets; *vault.Vault has it.
type Secrets interface {
	// Open returns the value of the team's secret name, or fails with
	// core.ErrNotFound. The caller clears the value after use.
	Open(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error)
}

// Deps are the parts a Service calls.
type Deps struct {
	Store  Store
	Engine Engine
	// Secrets opens the signing secrets of signed webhooks.
	Secrets Secrets
	// Logger logs what a caller is not told. Nil discards.
	Logger *slog.Logger
	// Now is the clock of arrivals, the rate limit and the token cache.
	// Nil means time.Now.
	Now func() time.Time
	// Limiter, when set, is the per-team limit in place of the one
	// Config.Rate and Config.Burst make: a cluster-wide one
	// (*ratelimit.Limiter, keyed by team id).
	Limiter Limiter
}

// Limiter limits webhook requests per team; *ratelimit.Limiter is one.
type Limiter interface {
	// Allow takes one request of key and, when it is refused, says how
	// long until the next may pass.
	Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration)
}

// Result is what an accepted request became.
type Result struct {
	// Accepted counts the records stored.
	Accepted int
	// Rejected counts the records refused by the mapping or validation,
	// stored as rejected records.
	Rejected int
	// RunID is the run that committed them; Nil when the body held no
	// record.
	RunID uuid.UUID
	// AlreadyReceived means the request was signed and its webhook-id was
	// already stored for the pipeline within the signature's tolerance
	// window: a sender's retry after a lost answer, or a replay. Nothing
	// was stored again; Accepted and Rejected are 0.
	AlreadyReceived bool
}

// Service accepts webhook requests. It is safe for concurrent use.
type Service struct {
	store   Store
	engine  Engine
	secrets Secrets
	log     *slog.Logger
	now     func() time.Time
	hooks   *hookCache
	limits  *teamLimiter
	limiter Limiter
	busy    *inFlight
}

// New returns a Service.
func New(cfg Config, d Deps) *Service {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{
		store: d.Store, engine: d.Engine, secrets: d.Secrets, log: d.Logger, now: d.Now,
		limits: newTeamLimiter(cfg.Rate, cfg.Burst), limiter: d.Limiter,
		busy: newInFlight(cfg.MaxInFlight),
	}
	s.hooks = newHookCache(cfg.CacheTTL, d.Now, s.loadHook)
	return s
}

// allow applies the team's rate limit.
func (s *Service) allow(ctx context.Context, team uuid.UUID, now time.Time) (bool, time.Duration) {
	if s.limiter != nil {
		return s.limiter.Allow(ctx, team.String(), now)
	}
	return s.limits.allow(team, now)
}

// ForgetPipeline drops what the token cache holds of a pipeline. Call it
// after a change of the pipeline: an update, a token rotation, a pause, a
// deletion, a sink edit.
func (s *Service) ForgetPipeline(id uuid.UUID) { s.hooks.forgetPipeline(id) }

// ForgetTeam drops what the token cache holds of a team's pipelines. Call
// it after one of the team's secrets changed: verifiers hold the old value.
func (s *Service) ForgetTeam(id uuid.UUID) { s.hooks.forgetTeam(id) }

// Accept takes one webhook request: the token of its URL, its headers and
// its body. It returns once the records are durable, or with one of the
// errors of errors.go, having stored nothing. header is the webhook
// protocol's: Content-Type, Content-Encoding, Content-Length and the
// Standard Webhooks headers are read.
func (s *Service) Accept(ctx context.Context, token string, header http.Header, body io.Reader) (Result, error) {
	arrival := s.now()
	if !plausibleToken(token) {
		return Result{}, ErrUnknownToken
	}
	h, err := s.hooks.get(ctx, string(core.HookTokenHash(token)))
	switch {
	case errors.Is(err, ErrUnknownToken), errors.Is(err, ErrMisconfigured):
		return Result{}, err
	case err != nil:
		return Result{}, &UnavailableError{Step: StepLookup, Err: err}
	}
	if h.p.Status == core.StatusPaused {
		return Result{}, ErrPaused
	}
	if ok, wait := s.allow(ctx, h.p.TeamID, arrival); !ok {
		return Result{}, &RateLimitedError{RetryAfter: wait}
	}
	if !s.busy.enter(h.p.TeamID) {
		return Result{}, &BusyError{Limit: s.busy.limit, RetryAfter: busyRetryAfter * time.Second}
	}
	defer s.busy.leave(h.p.TeamID)

	limit := h.compiled.MaxBodyBytes
	if limit <= 0 {
		limit = pipeline.DefaultMaxBodyBytes
	}
	ndjson := isNDJSON(header.Get("Content-Type"))
	if h.verifier == nil {
		// Decoded as it is read: nothing but the records is held.
		payload, err := openBody(header, body, limit)
		if err != nil {
			return Result{}, err
		}
		return s.process(ctx, h, payload, ndjson, arrival, store.WebhookID{})
	}
	// The signature covers the whole payload: it is read before any of it
	// is decoded.
	raw, err := readBody(header, body, limit)
	if err != nil {
		return Result{}, err
	}
	if err := h.verifier.Verify(ctx, header, raw, arrival); err != nil {
		if isSignatureFailure(err) {
			return Result{}, &SignatureError{Err: err}
		}
		return Result{}, &UnavailableError{Step: StepVerify, Pipeline: h.p.ID, Err: err}
	}
	// The signature is good: the id is the sender's. A request whose id
	// the pipeline already stored is answered as received, without its
	// mapping; one that races it is caught by the batch's insert of the id.
	id := store.WebhookID{
		Hash: store.WebhookIDHash(header.Get(signature.HeaderID)), At: arrival,
		Expires: h.verifier.ReplayWindowEnd(header.Get(signature.HeaderTimestamp)),
	}
	seen, err := s.store.WebhookIDSeen(ctx, h.p.TeamID, h.p.ID, id.Hash, arrival)
	if err != nil {
		return Result{}, &UnavailableError{Step: StepVerify, Pipeline: h.p.ID, Err: err}
	}
	if seen {
		return Result{AlreadyReceived: true}, nil
	}
	return s.process(ctx, h, bytes.NewReader(raw), ndjson, arrival, id)
}

// process decodes a payload, within the pipeline's record limit, and hands
// its records to the engine, with the request's webhook-id when it is
// signed (id.Hash set).
func (s *Service) process(ctx context.Context, h *hook, payload io.Reader, ndjson bool, arrival time.Time, id store.WebhookID) (Result, error) {
	maxRecords := h.compiled.MaxRecords
	if maxRecords <= 0 {
		maxRecords = pipeline.DefaultMaxRecords
	}
	inputs, err := decodeBody(ctx, payload, ndjson, maxRecords, s.engine.Turn(h.p.TeamID))
	if err != nil {
		return Result{}, err
	}
	accepted, rejected, err := s.engine.ProcessFor(ctx, h.p.TeamID, h.compiled, inputs, arrival)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	var res engine.Result
	if len(id.Hash) > 0 {
		res, err = s.engine.SubmitOnce(ctx, h.p, h.compiled, accepted, rejected, core.TriggerWebhook, id)
	} else {
		res, err = s.engine.Submit(ctx, h.p, h.compiled, accepted, rejected, core.TriggerWebhook)
	}
	if errors.Is(err, core.ErrAlreadyReceived) {
		return Result{AlreadyReceived: true}, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrCanceled, ctx.Err())
		}
		return Result{}, &UnavailableError{Step: StepStore, Pipeline: h.p.ID, Err: err}
	}
	return Result{Accepted: res.Accepted, Rejected: res.Rejected, RunID: res.RunID}, nil
}

// isSignatureFailure reports whether err is the sender's fault, rather
// than the replay guard's.
func isSignatureFailure(err error) bool {
	for _, s := range []error{signature.ErrMissingHeaders, signature.ErrBadTimestamp, signature.ErrTimestampTooOld,
		signature.ErrTimestampTooNew, signature.ErrNoMatchingSignature} {
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

// loadHook resolves a token's hash to its pipeline, compiled spec and
// verifier.
func (s *Service) loadHook(ctx context.Context, hash string) (*hook, error) {
	p, err := s.store.PipelineByHookHash(ctx, []byte(hash))
	if errors.Is(err, core.ErrNotFound) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up webhook token: %w", err)
	}
	if p.Kind != core.KindWebhook {
		return nil, ErrUnknownToken
	}
	c, err := s.engine.Compiled(p)
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %w", ErrMisconfigured, p.ID, err)
	}
	h := &hook{p: p, compiled: c}
	if c.SigningSecret == "" {
		return h, nil
	}
	value, err := s.secrets.Open(ctx, p.TeamID, c.SigningSecret)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: pipeline %s: signing secret %q: %w", ErrMisconfigured, p.ID, c.SigningSecret, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.ID, err)
	}
	sec, err := signature.ParseSecret(string(value))
	clear(value)
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: signing secret %q: %w", ErrMisconfigured, p.ID, c.SigningSecret, err)
	}
	h.verifier, err = signature.NewVerifier(signature.Config{
		Secrets: []signature.Secret{sec}, Tolerance: c.WebhookTolerance,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %w", ErrMisconfigured, p.ID, err)
	}
	return h, nil
}
