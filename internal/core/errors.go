package core

import "errors"

// Sentinel errors of the domain. Layers wrap them with context
// (fmt.Errorf("load pipeline %s: %w", id, err)); the HTTP and GraphQL
// boundaries map them to status codes in one place each.
var (
	// ErrNotFound means the object does not exist or is not visible to the
	// team asking for it. The two are deliberately indistinguishable so that
	// one team cannot probe for another's ids.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule was broken (an email or team slug
	// already taken, for example).
	ErrConflict = errors.New("already exists")
	// ErrAlreadySetUp means the first-run setup was attempted after a user
	// already exists.
	ErrAlreadySetUp = errors.New("tributary is already set up")
	// ErrLastOwner means a change would leave a team without an owner.
	ErrLastOwner = errors.New("a team needs at least one owner")
	// ErrInvalid means a value failed validation; the wrapping error says
	// which value and why.
	ErrInvalid = errors.New("invalid")
	// ErrAlreadyReceived means a batch carried a webhook-id that its
	// pipeline already stored within the signature's tolerance window: the
	// request was a replay or a sender's retry, and nothing of it was
	// stored again.
	ErrAlreadyReceived = errors.New("webhook-id already received")
)
