package signature

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far webhook-timestamp may be from now, in either
// direction, when Config.Tolerance is zero; it is the specification's
// recommendation and the reference libraries' value.
const DefaultTolerance = 5 * time.Minute

// Config configures a Verifier.
type Config struct {
	// Secrets are the keys a signature may be made with; at least one.
	// Several allow a zero-downtime rotation: add the new key, let the
	// sender switch, remove the old one.
	Secrets []Secret
	// Tolerance is how far webhook-timestamp may be from now, in either
	// direction. Zero means DefaultTolerance.
	Tolerance time.Duration
	// Replay, when set, rejects a second message with the same id while the
	// first could still pass the timestamp check. Nil disables the check.
	Replay ReplayGuard
	// ReplayScope prefixes ids in Replay, so that one guard can serve many
	// pipelines whose senders may reuse each other's ids. Use the
	// pipeline's id.
	ReplayScope string
}

func (c *Config) setDefaults() {
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if len(c.Secrets) == 0 {
		return errors.New("signature: at least one secret is required")
	}
	for i, s := range c.Secrets {
		if s.IsZero() {
			return fmt.Errorf("signature: secret %d is empty", i)
		}
	}
	if c.Tolerance < 0 {
		return fmt.Errorf("signature: tolerance %s is negative", c.Tolerance)
	}
	return nil
}

// Verifier checks Standard Webhooks signatures for one receiver (one
// pipeline). It is safe for concurrent use.
type Verifier struct {
	secrets   []Secret
	tolerance time.Duration
	replay    ReplayGuard
	scope     string // ReplayScope and a NUL, which no header value holds
}

// NewVerifier returns a Verifier for cfg, after filling its defaults.
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{
		secrets:   append([]Secret(nil), cfg.Secrets...),
		tolerance: cfg.Tolerance,
		replay:    cfg.Replay,
		scope:     cfg.ReplayScope + "\x00",
	}, nil
}

// Tolerance returns how far a timestamp may be from now.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

// Verify checks the Standard Webhooks headers of a request against its
// body at time now. body must be the payload exactly as signed: the bytes
// received once any Content-Encoding is undone, never JSON decoded and
// encoded again. It returns nil when the
// message is authentic, fresh and, with a ReplayGuard, not seen before —
// in which case its id is now recorded. See VerifyParts.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte, now time.Time) error {
	return v.VerifyParts(ctx, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, now)
}

// VerifyParts is Verify with the three header values given directly:
// the message id, the timestamp in Unix seconds, and the space-separated
// signature list.
//
// It returns one of the sentinel errors when verification fails, or a
// wrapped error of the ReplayGuard (a server fault, not the sender's).
// The checks run cheapest first, so a stale or malformed request costs no
// HMAC, and the id is recorded only once the signature is known to be
// good.
func (v *Verifier) VerifyParts(ctx context.Context, msgID, timestamp, signatures string, body []byte, now time.Time) error {
	if msgID == "" || timestamp == "" || signatures == "" {
		return ErrMissingHeaders
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	// Compare instants, not a difference: now.Sub saturates for timestamps
	// thousands of years off, and negating the saturated value overflows.
	if ts.Before(now.Add(-v.tolerance)) {
		return ErrTimestampTooOld
	}
	if ts.After(now.Add(v.tolerance)) {
		return ErrTimestampTooNew
	}
	if !v.matches(msgID, timestamp, signatures, body) {
		return ErrNoMatchingSignature
	}
	if v.replay == nil {
		return nil
	}
	// The message passes the timestamp check until ts+tolerance; after that
	// a replay fails on its own, so the id need not be kept longer.
	seen, err := v.replay.Seen(ctx, v.scope+msgID, now, ts.Add(v.tolerance))
	if err != nil {
		return fmt.Errorf("check webhook-id for replay: %w", err)
	}
	if seen {
		return ErrReplayed
	}
	return nil
}

// Forget releases msgID from the ReplayGuard, so that the sender's retry of
// a message that verified but could not be processed (the batch failed to
// commit, say) is accepted rather than rejected as a replay. Without a
// ReplayGuard it does nothing.
func (v *Verifier) Forget(ctx context.Context, msgID string) error {
	if v.replay == nil {
		return nil
	}
	if err := v.replay.Forget(ctx, v.scope+msgID); err != nil {
		return fmt.Errorf("forget webhook-id: %w", err)
	}
	return nil
}

// matches reports whether any v1 entry of the signature list is the HMAC
// of the message under any of the secrets. Every comparison is constant
// time; entries of other versions and malformed entries are skipped.
func (v *Verifier) matches(msgID, timestamp, signatures string, body []byte) bool {
	var macs [][]byte // computed lazily: a header without a v1 entry costs nothing
	var decoded [64]byte
	for entry := range strings.FieldsSeq(signatures) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != versionV1 {
			continue
		}
		if sig == "" || base64.StdEncoding.DecodedLen(len(sig)) > len(decoded) {
			continue
		}
		n, err := base64.StdEncoding.Decode(decoded[:], []byte(sig))
		if err != nil {
			continue
		}
		if macs == nil {
			macs = make([][]byte, len(v.secrets))
			for i, s := range v.secrets {
				macs[i] = sum(s, msgID, timestamp, body)
			}
		}
		for _, mac := range macs {
			if hmac.Equal(decoded[:n], mac) {
				return true
			}
		}
	}
	return false
}

// parseTimestamp accepts only plain decimal digits: the specification's
// "integer unix timestamp", with no sign, fraction or exponent.
func parseTimestamp(s string) (time.Time, error) {
	if len(s) > 18 {
		return time.Time{}, ErrBadTimestamp
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, ErrBadTimestamp
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, ErrBadTimestamp
	}
	return time.Unix(sec, 0), nil
}

// ReplayWindowEnd returns when a message with this webhook-timestamp stops
// passing the timestamp check: a receiver that remembers the message's id
// for replay protection need not keep it longer. A timestamp that does not
// parse gives the zero time; Verify refuses such a message anyway.
func (v *Verifier) ReplayWindowEnd(timestamp string) time.Time {
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return time.Time{}
	}
	return ts.Add(v.tolerance)
}
