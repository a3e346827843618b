package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Idempotency keys: a POST of the API sent with an Idempotency-Key header
// is done once. Its first successful answer (2xx) is kept for
// store.IdempotencyKeyTTL; a retry with the same key and the same request gets that
// answer again (same status, same body, with Idempotent-Replayed: true)
// without doing anything. The rules:
//
//   - A key belongs to the team the request acts on and the principal that
//     sends it (a user or an API token): two tokens may use the same key.
//   - The same request is the same method, path, query, Content-Type and
//     body (a SHA-256 of them). The same key with another request is
//     refused with 422.
//   - While the first request runs, a retry is refused with 409 and
//     Retry-After; a first request that died (its node stopped) frees its
//     key after IdempotencyLockTimeout.
//   - Failures (4xx, 5xx) are not kept: the key is freed, so the client
//     may fix the request and send it again with the same key.
//   - Kept answers are sealed (AnswerSealer, the secrets key): they may
//     hold credentials such as a new API token.

const (
	// IdempotencyHeader is the request header that carries the key.
	IdempotencyHeader = "Idempotency-Key"
	// IdempotencyLockTimeout is how long a request may hold its key in
	// progress before a retry may take it over (the first one died).
	IdempotencyLockTimeout = 5 * time.Minute
	// maxIdempotencyKey is the longest key, in bytes.
	maxIdempotencyKey = 255
	// maxKeptAnswer is the largest answer body kept; a larger one frees its
	// key (no create answers that much).
	maxKeptAnswer = 1 << 20
)

// IdempotencyStore keeps idempotency keys and their answers;
// store.Store's backends implement it.
type IdempotencyStore interface {
	ClaimIdempotencyKey(ctx context.Context, c store.IdempotencyClaim) (store.IdempotencyEntry, bool, error)
	CompleteIdempotencyKey(ctx context.Context, k store.IdempotencyKey, fingerprint []byte, r store.IdempotentResponse) error
	ReleaseIdempotencyKey(ctx context.Context, k store.IdempotencyKey) error
}

// AnswerSealer seals the kept answers, which may hold credentials (a new
// API token, a webhook's ingest URL): *secrets.Box is one.
type AnswerSealer interface {
	Seal(plaintext []byte, teamID, id uuid.UUID) ([]byte, error)
	Open(sealed []byte, teamID, id uuid.UUID) ([]byte, error)
}

// sealID is the id an answer is sealed under: its key's, so that a sealed
// answer opens for its own key only.
func sealID(k store.IdempotencyKey) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("tributary:idempotency:"+k.Principal+"\x00"+k.Key))
}

// keptHeaders are the answer headers repeated with a kept answer.
var keptHeaders = []string{"Content-Type", "ETag", "Location"}

// idempotent applies Idempotency-Key to the API's POSTs. It runs after
// authenticate (keys belong to a principal) and limitBody.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, has := r.Header[http.CanonicalHeaderKey(IdempotencyHeader)]
		if !has || s.keys == nil || s.sealer == nil || r.Method != http.MethodPost || !idempotentPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		if len(key) != 1 || !validIdempotencyKey(key[0]) {
			writeProblemAt(w, http.StatusBadRequest, "Idempotency-Key must be one value of 1 to 255 visible ASCII characters, such as a UUID.", "header."+IdempotencyHeader)
			return
		}
		p := account.PrincipalFrom(ctx)
		if p == nil {
			next.ServeHTTP(w, r) // the route answers 401
			return
		}
		var want uuid.UUID
		if t := r.URL.Query().Get("team"); t != "" {
			id, err := uuid.Parse(t)
			if err != nil {
				next.ServeHTTP(w, r) // the route refuses the parameter
				return
			}
			want = id
		}
		team, _, err := p.Team(want)
		if err != nil {
			next.ServeHTTP(w, r) // the route answers the error
			return
		}
		k := store.IdempotencyKey{TeamID: team, Principal: p.Subject(), Key: key[0]}

		// The fingerprint covers the body, which is read as the handler
		// reads it: uploads are too big to read twice.
		fp := newFingerprint(r)
		body := &hashingBody{r: r.Body, h: fp}
		now := core.Now()
		entry, claimed, err := s.keys.ClaimIdempotencyKey(ctx, store.IdempotencyClaim{
			Key: k, Fingerprint: fp.Sum(nil), Now: now,
			ExpiredBefore: now.Add(-store.IdempotencyKeyTTL), StaleBefore: now.Add(-IdempotencyLockTimeout),
		})
		if err != nil {
			s.log.ErrorContext(ctx, "claim idempotency key", "request_id", RequestID(ctx), "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "Idempotency keys are unavailable; try again shortly.")
			return
		}
		if !claimed {
			s.replay(w, r, body, k, entry)
			return
		}

		rec := &answerRecorder{ResponseWriter: w}
		r.Body = body
		// Free the key whatever happens, unless the answer is kept: a
		// panic, a failure, or a client gone leave nothing behind.
		kept := false
		defer func() {
			if !kept {
				if err := s.keys.ReleaseIdempotencyKey(context.WithoutCancel(ctx), k); err != nil {
					s.log.ErrorContext(ctx, "release idempotency key", "request_id", RequestID(ctx), "err", err)
				}
			}
		}()
		next.ServeHTTP(rec, r)
		if rec.status < 200 || rec.status > 299 || rec.overflow {
			return
		}
		// A handler that succeeded read its body; read any rest so that
		// the fingerprint is of the whole request.
		if _, err := io.Copy(io.Discard, io.LimitReader(body, maxKeptAnswer)); err != nil || !body.eof {
			return
		}
		hdr := http.Header{}
		for _, h := range keptHeaders {
			if v := rec.Header().Values(h); len(v) > 0 {
				hdr[h] = v
			}
		}
		hj, _ := json.Marshal(hdr)
		sealed, err := s.sealer.Seal(rec.body.Bytes(), k.TeamID, sealID(k))
		if err != nil {
			s.log.ErrorContext(ctx, "seal idempotent answer", "request_id", RequestID(ctx), "err", err)
			return
		}
		err = s.keys.CompleteIdempotencyKey(context.WithoutCancel(ctx), k, fp.Sum(nil),
			store.IdempotentResponse{Status: rec.status, Header: hj, Body: sealed})
		if err != nil {
			s.log.ErrorContext(ctx, "complete idempotency key", "request_id", RequestID(ctx), "err", err)
			return
		}
		kept = true
	})
}

// replay answers a request whose key is taken: with the kept answer when
// the request is the same, else with an error saying why not.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, body *hashingBody, k store.IdempotencyKey, e store.IdempotencyEntry) {
	if !e.Done {
		w.Header().Set("Retry-After", "1")
		writeProblemAt(w, http.StatusConflict, "A request with this Idempotency-Key is still in progress; retry it in a moment to get its answer.", "header."+IdempotencyHeader)
		return
	}
	// Read the retry's body to compare it with the first one's.
	_, err := io.Copy(io.Discard, body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, "The request body is larger than the limit of "+strconv.FormatInt(tooBig.Limit, 10)+" bytes.")
		return
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "The request body could not be read.")
		return
	}
	if !bytes.Equal(body.h.Sum(nil), e.Fingerprint) {
		writeProblemAt(w, http.StatusUnprocessableEntity, "This Idempotency-Key was already used for a different request (another path, query or body); use a new key for a new request.", "header."+IdempotencyHeader)
		return
	}
	answer, err := s.sealer.Open(e.Response.Body, k.TeamID, sealID(k))
	if err != nil {
		s.log.ErrorContext(r.Context(), "open idempotent answer", "request_id", RequestID(r.Context()), "err", err)
		writeProblem(w, http.StatusInternalServerError, "The first answer to this Idempotency-Key cannot be read; the request id identifies the cause in the logs ("+RequestID(r.Context())+").")
		return
	}
	var hdr http.Header
	_ = json.Unmarshal(e.Response.Header, &hdr)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(e.Response.Status)
	_, _ = w.Write(answer)
}

// idempotentPath reports whether POSTs to path honour Idempotency-Key:
// those of the API but signing in and out.
func idempotentPath(path string) bool {
	return strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/api/v1/auth/")
}

func validIdempotencyKey(k string) bool {
	return len(k) > 0 && len(k) <= maxIdempotencyKey &&
		!strings.ContainsFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// newFingerprint starts the hash of what makes two requests the same:
// method, path, query and Content-Type; the body follows as it is read.
func newFingerprint(r *http.Request) hash.Hash {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.Query().Encode(), r.Header.Get("Content-Type")} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	return h
}

// hashingBody hashes a request body as it is read.
type hashingBody struct {
	r   io.ReadCloser
	h   hash.Hash
	eof bool
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *hashingBody) Close() error { return b.r.Close() }

// answerRecorder passes an answer through and keeps a copy of it.
type answerRecorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	overflow bool
}

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(p) > maxKeptAnswer {
		a.overflow = true
	} else if !a.overflow {
		a.body.Write(p)
	}
	return a.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// writeProblemAt is writeProblem with the location of its one error.
func writeProblemAt(w http.ResponseWriter, status int, detail, location string) {
	p := newProblem(status, detail, &huma.ErrorDetail{Location: location, Message: detail})
	p.RequestID = w.Header().Get("X-Request-Id")
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// documentIdempotencyKey documents the Idempotency-Key header on the POSTs
// that honour it.
func documentIdempotencyKey(_ *huma.OpenAPI, op *huma.Operation) {
	if op.Method != http.MethodPost || !idempotentPath(op.Path) {
		return
	}
	op.Parameters = append(op.Parameters, &huma.Param{
		Name: IdempotencyHeader, In: "header",
		Description: "A key of your choice (such as a UUID) that makes the request safe to retry: for 24 hours, the same request with the same key " +
			"answers the first success again (with Idempotent-Replayed: true) instead of doing it twice. The same key with a different request " +
			"answers 422; while the first request runs, 409 with Retry-After. Keys are per team and per user or API token.",
		Schema: &huma.Schema{Type: "string", MinLength: new(1), MaxLength: new(maxIdempotencyKey)},
	})
}
