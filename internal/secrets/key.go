package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// KeySize is the size of a master key in bytes (AES-256).
const KeySize = 32

// Key is a master key. Its value never appears in formatted output: fmt, slog
// and encoding/json all print a placeholder. Use [Key.Hex] to encode it on
// purpose.
type Key [KeySize]byte

const redacted = "[REDACTED]"

// errEmptyKey marks a key text that is empty or blank, so that the key file
// loader can tell "not written yet" from "garbage".
var errEmptyKey = errors.New("key is empty")

// GenerateKey returns a new random key.
func GenerateKey() Key {
	var k Key
	// crypto/rand.Read never returns an error; it crashes the program if the
	// operating system cannot supply randomness.
	_, _ = rand.Read(k[:])
	return k
}

// ParseKey parses a key given as 64 hexadecimal characters or as the standard
// or URL-safe base64 (padded or not) of 32 bytes. Surrounding white space is
// ignored. The error wraps [ErrInvalidKey] and never contains the input.
func ParseKey(s string) (Key, error) {
	k, err := parseKey(s)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return k, nil
}

// parseKey returns the reason for a bad key without the ErrInvalidKey prefix,
// so callers can add their own context once.
func parseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Key{}, errEmptyKey
	}
	var k Key
	decoded := false
	if len(s) == hex.EncodedLen(KeySize) {
		if n, err := hex.Decode(k[:], []byte(s)); err == nil && n == KeySize {
			decoded = true
		}
	}
	if !decoded {
		for _, enc := range []*base64.Encoding{
			base64.StdEncoding, base64.URLEncoding,
			base64.RawStdEncoding, base64.RawURLEncoding,
		} {
			b, err := enc.DecodeString(s)
			if err == nil && len(b) == KeySize {
				copy(k[:], b)
				decoded = true
				break
			}
		}
	}
	if !decoded {
		// Only the length is reported: the text may be a real key with a typo.
		return Key{}, fmt.Errorf("want 64 hex characters or the base64 of 32 bytes, got %d characters (generate one with: openssl rand -hex 32)", len(s))
	}
	if subtle.ConstantTimeCompare(k[:], make([]byte, KeySize)) == 1 {
		return Key{}, errors.New("key is all zero bytes; generate a random one with: openssl rand -hex 32")
	}
	return k, nil
}

// Hex returns the key as 64 lowercase hexadecimal characters, the form the key
// file holds and [ParseKey] accepts.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// String returns a placeholder, never the key.
func (k Key) String() string { return redacted }

// GoString returns a placeholder, never the key (for %#v).
func (k Key) GoString() string { return "secrets.Key(" + redacted + ")" }

// Format prints a placeholder for every verb, so that %x or %d cannot print
// the key bytes either.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, k.GoString())
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// LogValue makes log/slog print a placeholder, never the key.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a placeholder, so that a Key inside a struct that is
// dumped as JSON or YAML does not leak. The placeholder does not parse back.
func (k Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }
