package signature

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
)

// SecretPrefix starts the serialized form of a Standard Webhooks symmetric
// secret.
const SecretPrefix = "whsec_"

// secretSize is the length of generated secrets; the specification asks
// for 24 to 64 random bytes.
const secretSize = 32

// Secret is an HMAC-SHA256 signing key. Its zero value is not usable. It
// formats as "whsec_[redacted]" with fmt and log/slog so it cannot leak
// into logs by accident; Encode gives the real serialized form.
type Secret struct {
	key []byte
}

// ParseSecret parses a secret in the "whsec_" + base64 form. The prefix is
// optional, as in the reference libraries, and unpadded base64 is accepted.
func ParseSecret(s string) (Secret, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) == 0 {
		return Secret{}, ErrBadSecret
	}
	return Secret{key: key}, nil
}

// NewSecret returns a secret that uses key as it is, for senders whose
// secret is not in the whsec_ form. It copies key.
func NewSecret(key []byte) (Secret, error) {
	if len(key) == 0 {
		return Secret{}, fmt.Errorf("%w: the key is empty", ErrBadSecret)
	}
	return Secret{key: append([]byte(nil), key...)}, nil
}

// GenerateSecret returns a new random 32-byte secret.
func GenerateSecret() Secret {
	key := make([]byte, secretSize)
	rand.Read(key) // never fails; see crypto/rand.Read
	return Secret{key: key}
}

// Encode returns the secret in the "whsec_" + base64 form, to show once to
// a user or to seal for storage.
func (s Secret) Encode() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String returns a redacted placeholder, never the key.
func (s Secret) String() string { return SecretPrefix + "[redacted]" }

// GoString returns a redacted placeholder for %#v, never the key.
func (s Secret) GoString() string { return "signature.Secret{[redacted]}" }

// LogValue makes log/slog print the redacted placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
