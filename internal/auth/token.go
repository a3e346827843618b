package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash/crc32"
	"strings"
)

// TokenPrefix starts every API token, so that secret scanners and people
// recognise one.
const TokenPrefix = "trb_"

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// tokenBodyLen base62 characters carry 43·log2(62) ≈ 256.03 bits.
	tokenBodyLen     = 43
	tokenChecksumLen = 6 // base62 of a CRC32: 62^6 > 2^32
	// tokenLen is the length of an API token.
	tokenLen = len(TokenPrefix) + tokenBodyLen + tokenChecksumLen
	// tokenHintChars of the random body are kept for display: about 24 bits,
	// enough to tell tokens apart and useless for guessing one.
	tokenHintChars = 4

	sessionIDBytes = 32
	urlTokenBytes  = 24
)

// NewToken returns a new API token and the hash to store for it. The
// plaintext is "trb_", 43 random base62 characters (256 bits) and a
// 6-character checksum; show it to its owner once and keep only hash (see
// [HashToken]) and [TokenHint].
func NewToken() (plaintext string, hash []byte) {
	body := randomBase62(tokenBodyLen)
	plaintext = TokenPrefix + body + tokenChecksum(body)
	return plaintext, HashToken(plaintext)
}

// HashToken returns the SHA-256 of an API token, the value to store and to
// look a presented token up by.
func HashToken(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// LooksLikeToken reports whether s has the form of an API token, checksum
// included. A false answer means s is certainly not a token, so callers can
// refuse it without a database query; a true answer proves nothing more.
func LooksLikeToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	body := s[len(TokenPrefix) : len(TokenPrefix)+tokenBodyLen]
	for i := range len(body) {
		if strings.IndexByte(base62Alphabet, body[i]) < 0 {
			return false
		}
	}
	return s[len(TokenPrefix)+tokenBodyLen:] == tokenChecksum(body)
}

// TokenHint returns the part of an API token that may be stored and shown to
// tell tokens apart, like "trb_a1B2…". For text that is not a token it returns
// "", so that a hint never carries a whole secret.
func TokenHint(plaintext string) string {
	if !LooksLikeToken(plaintext) {
		return ""
	}
	return plaintext[:len(TokenPrefix)+tokenHintChars] + "…"
}

// NewSessionID returns a new session id for a cookie, 43 base64url characters
// (256 bits, no prefix), and the hash to store for it (see [HashSessionID]).
func NewSessionID() (plaintext string, hash []byte) {
	plaintext = randomBase64URL(sessionIDBytes)
	return plaintext, HashSessionID(plaintext)
}

// HashSessionID returns the SHA-256 of a session id, the value to store and
// to look a presented cookie up by. A copy of the database therefore holds no
// usable sessions.
func HashSessionID(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// LooksLikeSessionID reports whether s has the form of a session id, so that
// a junk cookie can be refused without a database query.
func LooksLikeSessionID(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(sessionIDBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sessionIDBytes
}

// NewURLToken returns a new unguessable token for a webhook ingest URL: 32
// base64url characters (192 bits), safe in a URL path or query without
// escaping.
func NewURLToken() string {
	return randomBase64URL(urlTokenBytes)
}

func randomBase64URL(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomBase62 returns n uniformly random base62 characters. It draws random
// bytes and keeps those below 248 (4·62), so every character is equally
// likely.
func randomBase62(n int) string {
	const limit = 4 * len(base62Alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4) // 3% of bytes are rejected; usually one read suffices
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails; see crypto/rand.Read
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, base62Alphabet[int(b)%len(base62Alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

// tokenChecksum returns the CRC32 (IEEE) of body in tokenChecksumLen base62
// characters, most significant first.
func tokenChecksum(body string) string {
	c := crc32.ChecksumIEEE([]byte(body))
	var out [tokenChecksumLen]byte
	for i := tokenChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[c%uint32(len(base62Alphabet))]
		c /= uint32(len(base62Alphabet))
	}
	return string(out[:])
}
