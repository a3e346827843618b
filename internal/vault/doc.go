// Package vault is the service behind a team's secrets: the named
// credentials (API keys, passwords, HMAC keys) that pipeline and sink specs
// refer to by name.
//
// A value enters through Create or Rotate, is sealed at once with the
// secrets package — bound to the team's id and the secret's id, so a sealed
// value copied to another row does not open — and leaves only through Open,
// which the parts that use a credential call (webhook signature checks,
// source auth, sinks). Nothing else ever sees it.
//
// Guarantees:
//   - No method returns, logs or wraps a secret's value in an error: the
//     metadata type Secret has no field for it, errors say which rule a value
//     broke without quoting it, and a name that breaks the naming rule is not
//     quoted either (people paste values into the wrong field).
//   - Every method takes the team id; a secret of another team is
//     core.ErrNotFound, exactly like one that does not exist.
//   - Validation failures wrap core.ErrInvalid, a name already taken wraps
//     core.ErrConflict, an unknown name wraps core.ErrNotFound, so the API
//     boundary maps them without knowing this package.
package vault
