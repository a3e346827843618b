package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
)

// Limits of names and values.
const (
	// MaxNameLength is the longest secret name.
	MaxNameLength = 64
	// MaxValueBytes is the largest secret value: 64 KiB holds any API key,
	// password, HMAC key or PEM-encoded private key.
	MaxValueBytes = 64 << 10
)

// Secret is what may be known about a team secret without its value.
type Secret struct {
	Name      string
	CreatedAt time.Time
	// RotatedAt is when the value was last replaced; it equals CreatedAt
	// for a value never rotated.
	RotatedAt time.Time
}

// Vault creates, rotates, deletes and opens team secrets. It is safe for
// concurrent use.
type Vault struct {
	store store.Secrets
	box   *secrets.Box
}

// New returns a Vault that keeps sealed values in st and seals them with
// box.
func New(st store.Secrets, box *secrets.Box) *Vault {
	return &Vault{store: st, box: box}
}

// ValidName reports whether name is a valid secret name: 1 to 64
// characters of a-z, 0-9, '_' and '-'. The error wraps core.ErrInvalid and
// does not quote the name.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLength {
		return fmt.Errorf("%w: a secret name has 1 to %d characters of a-z, 0-9, _ and -", core.ErrInvalid, MaxNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: a secret name has only the characters a-z, 0-9, _ and -", core.ErrInvalid)
		}
	}
	return nil
}

// ValidValue checks a value's size; the error wraps core.ErrInvalid and
// never quotes the value.
func ValidValue(value []byte) error {
	switch {
	case len(value) == 0:
		return fmt.Errorf("%w: the secret value is empty", core.ErrInvalid)
	case len(value) > MaxValueBytes:
		return fmt.Errorf("%w: the secret value is %d bytes, over the limit of %d", core.ErrInvalid, len(value), MaxValueBytes)
	}
	return nil
}

// Create adds a secret to the team. A name already used in the team gives
// an error wrapping core.ErrConflict.
func (v *Vault) Create(ctx context.Context, teamID uuid.UUID, name string, value []byte) (Secret, error) {
	if err := ValidName(name); err != nil {
		return Secret{}, err
	}
	if err := ValidValue(value); err != nil {
		return Secret{}, err
	}
	id := core.NewID()
	sealed, err := v.box.Seal(value, teamID, id)
	if err != nil {
		return Secret{}, fmt.Errorf("seal secret %q: %w", name, err)
	}
	s, err := v.store.CreateSecret(ctx, core.Secret{ID: id, TeamID: teamID, Name: name, Sealed: sealed})
	if errors.Is(err, core.ErrConflict) {
		return Secret{}, fmt.Errorf("%w: the team already has a secret named %q; rotate it instead", core.ErrConflict, name)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("create secret %q: %w", name, err)
	}
	return meta(s), nil
}

// Get returns a secret's metadata; it is how callers check that a name
// exists.
func (v *Vault) Get(ctx context.Context, teamID uuid.UUID, name string) (Secret, error) {
	s, err := v.load(ctx, teamID, name)
	if err != nil {
		return Secret{}, err
	}
	return meta(s), nil
}

// List returns the team's secrets without their values, by name.
func (v *Vault) List(ctx context.Context, teamID uuid.UUID) ([]Secret, error) {
	ss, err := v.store.Secrets(ctx, teamID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out := make([]Secret, len(ss))
	for i, s := range ss {
		out[i] = meta(s)
	}
	return out, nil
}

// Rotate replaces a secret's value. Whatever uses the secret reads the new
// value from its next Open on.
func (v *Vault) Rotate(ctx context.Context, teamID uuid.UUID, name string, value []byte) (Secret, error) {
	if err := ValidValue(value); err != nil {
		return Secret{}, err
	}
	cur, err := v.load(ctx, teamID, name)
	if err != nil {
		return Secret{}, err
	}
	// The value is sealed for the secret's id, but the store replaces it by
	// name: if the name was deleted and created again in between, the row
	// written has another id, and the value is sealed again for that one.
	for range 3 {
		sealed, err := v.box.Seal(value, teamID, cur.ID)
		if err != nil {
			return Secret{}, fmt.Errorf("seal secret %q: %w", name, err)
		}
		s, err := v.store.RotateSecret(ctx, teamID, name, sealed)
		if errors.Is(err, core.ErrNotFound) {
			return Secret{}, notFound(name)
		}
		if err != nil {
			return Secret{}, fmt.Errorf("rotate secret %q: %w", name, err)
		}
		if s.ID == cur.ID {
			return meta(s), nil
		}
		cur = s
	}
	return Secret{}, fmt.Errorf("%w: secret %q changed while it was rotated; try again", core.ErrConflict, name)
}

// Delete removes a secret. Pipelines that refer to it fail to open it from
// then on.
func (v *Vault) Delete(ctx context.Context, teamID uuid.UUID, name string) error {
	if err := ValidName(name); err != nil {
		return notFound("")
	}
	err := v.store.DeleteSecret(ctx, teamID, name)
	if errors.Is(err, core.ErrNotFound) {
		return notFound(name)
	}
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", name, err)
	}
	return nil
}

// Open returns a secret's value, for the code that uses the credential.
// The caller must not log it, return it or put it in an error.
func (v *Vault) Open(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error) {
	s, err := v.load(ctx, teamID, name)
	if err != nil {
		return nil, err
	}
	value, err := v.box.Open(s.Sealed, teamID, s.ID)
	if err != nil {
		return nil, fmt.Errorf("open secret %q: %w", name, err)
	}
	return value, nil
}

func (v *Vault) load(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error) {
	if err := ValidName(name); err != nil {
		// No such name can exist; say so without quoting what was given.
		return core.Secret{}, notFound("")
	}
	s, err := v.store.Secret(ctx, teamID, name)
	if errors.Is(err, core.ErrNotFound) {
		return core.Secret{}, notFound(name)
	}
	if err != nil {
		return core.Secret{}, fmt.Errorf("load secret %q: %w", name, err)
	}
	return s, nil
}

func notFound(name string) error {
	if name == "" {
		return fmt.Errorf("%w: there is no such secret in the team", core.ErrNotFound)
	}
	return fmt.Errorf("%w: the team has no secret named %q", core.ErrNotFound, name)
}

func meta(s core.Secret) Secret {
	rotated := s.UpdatedAt
	if rotated.IsZero() {
		rotated = s.CreatedAt
	}
	return Secret{Name: s.Name, CreatedAt: s.CreatedAt, RotatedAt: rotated}
}

// DeleteIfUnused removes a secret unless users, given the team's
// pipelines inside the deleting transaction, names any that refer to it;
// then nothing is deleted and the names are returned. A pipeline saved
// meanwhile that names the secret is either seen here or refused by the
// store (store.ErrSecretMissing).
func (v *Vault) DeleteIfUnused(ctx context.Context, teamID uuid.UUID, name string, users func([]core.Pipeline) []string) ([]string, error) {
	if err := ValidName(name); err != nil {
		return nil, notFound("")
	}
	inUse, err := v.store.DeleteSecretIfUnused(ctx, teamID, name, users)
	if errors.Is(err, core.ErrNotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("delete secret %q: %w", name, err)
	}
	return inUse, nil
}
