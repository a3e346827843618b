package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// IdempotencyKeyTTL is how long an Idempotency-Key is honoured: the API
// answers a retry from the kept answer within it, and maintenance deletes
// keys older than it.
const IdempotencyKeyTTL = 24 * time.Hour

// Idempotency keeps the first answers of requests sent with an
// Idempotency-Key header, so that a retried create answers what the first
// one did instead of creating twice. The rules (what counts as the same
// request, how long a key lives, which answers are kept) belong to the
// caller (package httpapi); the store keeps entries and claims them
// atomically.
type Idempotency interface {
	// ClaimIdempotencyKey claims c.Key for a request whose fingerprint is
	// c.Fingerprint. When the key is free (never used, expired, or left in
	// progress by a request that died), it is claimed for the caller: the
	// entry is new, in progress, and claimed is true; the caller then
	// completes or releases it. Otherwise the existing entry is returned,
	// in progress or complete, with claimed false. Of concurrent claims of
	// one key, exactly one wins.
	ClaimIdempotencyKey(ctx context.Context, c IdempotencyClaim) (e IdempotencyEntry, claimed bool, err error)
	// CompleteIdempotencyKey stores the answer of a claimed key, and the
	// final fingerprint of its request.
	CompleteIdempotencyKey(ctx context.Context, k IdempotencyKey, fingerprint []byte, r IdempotentResponse) error
	// ReleaseIdempotencyKey forgets a claimed key whose answer is not kept,
	// so that the request may be sent again with it.
	ReleaseIdempotencyKey(ctx context.Context, k IdempotencyKey) error
	// DeleteExpiredIdempotencyKeys removes the entries created before
	// before and returns how many.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error)
}

// IdempotencyKey names an entry: a client's key, scoped to the team the
// request acted on and the principal that sent it ("user:…", "token:…").
type IdempotencyKey struct {
	TeamID    uuid.UUID
	Principal string
	Key       string
}

// IdempotencyClaim is a claim of a key.
type IdempotencyClaim struct {
	Key IdempotencyKey
	// Fingerprint identifies the request (a hash of what makes it the same
	// request); it may be completed later (CompleteIdempotencyKey).
	Fingerprint []byte
	// Now is when the claim is made: the entry's CreatedAt.
	Now time.Time
	// ExpiredBefore: an entry created before it is forgotten and the key
	// is free again.
	ExpiredBefore time.Time
	// StaleBefore: an entry still in progress created before it belongs
	// to a request that died, and the key is free again.
	StaleBefore time.Time
}

// IdempotencyEntry is what the store holds for a key.
type IdempotencyEntry struct {
	Fingerprint []byte
	// Done is false while the first request is in progress.
	Done      bool
	Response  IdempotentResponse
	CreatedAt time.Time
}

// IdempotentResponse is a kept answer.
type IdempotentResponse struct {
	Status int
	// Header holds the response headers worth repeating (Content-Type,
	// ETag, Location), as JSON of an http.Header.
	Header []byte
	Body   []byte
}
