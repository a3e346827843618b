package signature

import "errors"

// Sentinel errors. Verify returns exactly one of the first six when a
// request fails verification (the HTTP boundary answers 401 for each); the
// text is safe to show to the sender.
var (
	// ErrMissingHeaders means webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrBadTimestamp means webhook-timestamp is not an integer number of
	// seconds since the Unix epoch.
	ErrBadTimestamp = errors.New("webhook-timestamp is not a unix time in seconds")
	// ErrTimestampTooOld means webhook-timestamp is further in the past than
	// the tolerance: a delayed or replayed message.
	ErrTimestampTooOld = errors.New("webhook-timestamp is too old; check the sender's clock")
	// ErrTimestampTooNew means webhook-timestamp is further in the future
	// than the tolerance.
	ErrTimestampTooNew = errors.New("webhook-timestamp is in the future; check the sender's clock")
	// ErrNoMatchingSignature means no v1 signature in webhook-signature was
	// made with any of the verifier's secrets over this id, timestamp and
	// body.
	ErrNoMatchingSignature = errors.New("no webhook-signature matches the body; check the signing secret")
	// ErrReplayed means a message with this webhook-id was already accepted
	// within the tolerance window.
	ErrReplayed = errors.New("webhook-id was already received")

	// ErrBadSecret means a secret could not be parsed or is empty.
	ErrBadSecret = errors.New("signing secret must be whsec_ followed by base64")
)
