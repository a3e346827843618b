package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy limits.
const (
	// MinPasswordChars is the least number of characters (Unicode code
	// points) of a new password. Length is the policy; there are no
	// composition rules (NIST SP 800-63B).
	MinPasswordChars = 10
	// MaxPasswordBytes bounds a password, so that nobody makes the server
	// hash megabytes; 256 bytes leaves room for any passphrase or generated
	// password.
	MaxPasswordBytes = 256
)

// argonParams are the argon2id parameters of one hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32 // passes over memory
	threads uint8
	saltLen int
	keyLen  int
}

// defaultParams are used for new hashes. They are the OWASP Password Storage
// Cheat Sheet's first argon2id configuration (m=19 MiB, t=2, p=1), chosen for
// a 2-core server that also ingests data:
//   - p=1: a login occupies one core, never both, so ingest keeps running
//     during a burst of logins.
//   - 19 MiB rather than 64 MiB: memory per concurrent login stays small (50
//     at once is under 1 GiB), at the same attacker cost as OWASP's
//     alternatives of more memory and fewer passes.
//
// That is a few tens of milliseconds per hash on one core. To change them,
// change these values: old hashes keep verifying with the parameters stored in
// them, and NeedsRehash reports them for upgrade at the next login.
var defaultParams = argonParams{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// Bounds on parameters read from a stored hash, so that a corrupted or
// planted hash cannot make a verification allocate gigabytes or run for
// minutes.
const (
	maxMemory  = 256 * 1024 // KiB
	maxTime    = 16
	maxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// b64 is the PHC string format's base64: standard alphabet, no padding, and
// strict, so each hash has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// dummyHash has the default parameters and a salt and hash no password
// produces in practice; VerifyDummy verifies against it.
var dummyHash = encodeHash(defaultParams, make([]byte, defaultParams.saltLen), make([]byte, defaultParams.keyLen))

// ValidatePassword checks a new password against the policy: at least
// MinPasswordChars characters, at most MaxPasswordBytes bytes, valid UTF-8.
// The error wraps [ErrPasswordPolicy] and its message, meant for the user,
// says which rule failed.
func ValidatePassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: it must be valid UTF-8 text", ErrPasswordPolicy)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("%w: it must be at most %d bytes long", ErrPasswordPolicy, MaxPasswordBytes)
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return fmt.Errorf("%w: it must be at least %d characters long", ErrPasswordPolicy, MinPasswordChars)
	}
	return nil
}

// HashPassword hashes pw with argon2id and a random salt and returns the hash
// in PHC string format. It does not apply the policy (call [ValidatePassword]
// when a user chooses a password); it only refuses an empty password and one
// over MaxPasswordBytes, with errors wrapping [ErrPasswordPolicy].
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", fmt.Errorf("%w: it is empty", ErrPasswordPolicy)
	}
	if len(pw) > MaxPasswordBytes {
		return "", fmt.Errorf("%w: it must be at most %d bytes long", ErrPasswordPolicy, MaxPasswordBytes)
	}
	return hashWith(pw, defaultParams), nil
}

func hashWith(pw string, p argonParams) string {
	salt := make([]byte, p.saltLen)
	_, _ = rand.Read(salt) // never fails; see crypto/rand.Read
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
	return encodeHash(p, salt, key)
}

func encodeHash(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether pw matches encoded, a hash from
// [HashPassword] (possibly made with other parameters, which it reads from
// the string). The comparison takes constant time. A wrong password is
// (false, nil); an error, wrapping [ErrMalformedHash], means encoded cannot be
// read. A password over MaxPasswordBytes never matches.
func VerifyPassword(pw, encoded string) (ok bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordBytes {
		// HashPassword never hashed one; no need to spend the work.
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// VerifyDummy does the work of a password verification with the current
// parameters and throws the result away. Call it when a login names an
// unknown user (or one without a password), so that the response takes as
// long as for a known user with a wrong password.
func VerifyDummy(pw string) {
	_, _ = VerifyPassword(pw, dummyHash)
}

// NeedsRehash reports whether encoded was made with other parameters than
// those HashPassword uses now (or cannot be read). Call it after a successful
// VerifyPassword, and if it is true, store HashPassword of the same password.
func NeedsRehash(encoded string) bool {
	p, _, _, err := decodeHash(encoded)
	return err != nil || p != defaultParams
}

// decodeHash parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash". It is strict:
// any deviation from what encodeHash writes is an error. Error messages
// describe the problem without quoting the hash.
func decodeHash(encoded string) (p argonParams, salt, key []byte, err error) {
	bad := func(format string, args ...any) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrMalformedHash}, args...)...)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 $-separated fields, as in $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported argon2 version (want v=%d)", argon2.Version)
	}

	m, t, threads, ok := parseParams(parts[3])
	if !ok {
		return bad("parameters are not m=<KiB>,t=<passes>,p=<threads>")
	}
	switch {
	case t < 1 || t > maxTime:
		return bad("t=%d out of range 1..%d", t, maxTime)
	case threads < 1 || threads > maxThreads:
		return bad("p=%d out of range 1..%d", threads, maxThreads)
	case m < 8*threads || m > maxMemory:
		// argon2 needs at least 8 KiB per thread.
		return bad("m=%d out of range %d..%d", m, 8*threads, maxMemory)
	}
	p = argonParams{memory: uint32(m), time: uint32(t), threads: uint8(threads)}

	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return bad("salt is not unpadded base64")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return bad("hash is not unpadded base64")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return bad("salt is %d bytes, want %d..%d", len(salt), minSaltLen, maxSaltLen)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad("hash is %d bytes, want %d..%d", len(key), minKeyLen, maxKeyLen)
	}
	p.saltLen, p.keyLen = len(salt), len(key)
	return p, salt, key, nil
}

// parseParams parses "m=M,t=T,p=P" in that order, as decimal numbers
// without signs or leading zeros.
func parseParams(s string) (m, t, p uint64, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, false
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(fields[i], name)
		if !found || digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) {
			return 0, 0, 0, false
		}
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, 0, 0, false
			}
		}
		v, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[i] = v
	}
	return vals[0], vals[1], vals[2], true
}
