package auth

import "errors"

var (
	// ErrInvalidRole is wrapped by the error [ParseRole] returns for a name
	// that is not a role.
	ErrInvalidRole = errors.New("auth: invalid role")

	// ErrPasswordPolicy is wrapped by the errors [ValidatePassword] and
	// [HashPassword] return for a password that is not acceptable. The
	// message says why, and never contains the password.
	ErrPasswordPolicy = errors.New("auth: password not accepted")

	// ErrMalformedHash is wrapped by the errors [VerifyPassword] returns for a
	// stored hash that cannot be read: not argon2id in the PHC format, or
	// parameters out of range. It points at corrupted data, not at a wrong
	// password.
	ErrMalformedHash = errors.New("auth: malformed password hash")
)
