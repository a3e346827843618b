package secrets

import "errors"

var (
	// ErrCannotOpen is returned by [Box.Open] when a sealed value does not
	// open: it was tampered with or truncated, it was sealed for another team
	// or secret, or with another key. The cases are indistinguishable on
	// purpose.
	ErrCannotOpen = errors.New("secrets: sealed value cannot be opened (wrong key, team or secret, or corrupted)")

	// ErrInvalidKey is wrapped by errors about a master key that is malformed.
	ErrInvalidKey = errors.New("secrets: invalid key")

	// ErrKeyFilePermissions is wrapped by the error that [LoadKeyFile] and
	// [LoadOrCreateKeyFile] return, together with a usable key, when the key
	// file is accessible to group or others. Callers log it as a warning.
	ErrKeyFilePermissions = errors.New("secrets: key file is accessible to group or others")
)
