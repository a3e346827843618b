package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// formatV1 is the first byte of a sealed value: AES-256-GCM, 12-byte random
// nonce, additional data = version || team id || secret id.
const formatV1 byte = 0x01

// Box seals and opens secret values with one master key. It is safe for
// concurrent use.
type Box struct {
	// aead prepends a random 12-byte nonce on Seal and reads it on Open.
	aead cipher.AEAD
}

// NewBox returns a Box that seals with k.
func NewBox(k Key) *Box {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		// Unreachable: a Key always has a valid AES-256 length.
		panic("secrets: " + err.Error())
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("secrets: " + err.Error())
	}
	return &Box{aead: aead}
}

// Seal encrypts plaintext for the secret secretID of the team teamID and
// returns version || nonce || ciphertext+tag. Sealing the same plaintext twice
// gives different results. Both ids must be set: a value bound to the nil UUID
// would not be bound to anything.
func (b *Box) Seal(plaintext []byte, teamID, secretID uuid.UUID) ([]byte, error) {
	if err := checkIDs(teamID, secretID); err != nil {
		return nil, fmt.Errorf("secrets: seal: %w", err)
	}
	out := make([]byte, 1, 1+b.aead.Overhead()+len(plaintext))
	out[0] = formatV1
	return b.aead.Seal(out, nil, plaintext, additionalData(formatV1, teamID, secretID)), nil
}

// Open decrypts a value made by [Box.Seal] with the same key, team id and
// secret id. Any other key or id, and any change to the sealed bytes, gives an
// error wrapping [ErrCannotOpen].
func (b *Box) Open(sealed []byte, teamID, secretID uuid.UUID) ([]byte, error) {
	if err := checkIDs(teamID, secretID); err != nil {
		return nil, fmt.Errorf("secrets: open: %w", err)
	}
	if len(sealed) < 1+b.aead.Overhead() {
		return nil, fmt.Errorf("%w: too short (%d bytes)", ErrCannotOpen, len(sealed))
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCannotOpen, sealed[0])
	}
	plaintext, err := b.aead.Open(nil, nil, sealed[1:], additionalData(formatV1, teamID, secretID))
	if err != nil {
		// The AEAD error says nothing more; ErrCannotOpen is the whole story.
		return nil, ErrCannotOpen
	}
	return plaintext, nil
}

// additionalData binds a sealed value to its format, team and secret.
func additionalData(version byte, teamID, secretID uuid.UUID) []byte {
	ad := make([]byte, 0, 1+len(teamID)+len(secretID))
	ad = append(ad, version)
	ad = append(ad, teamID[:]...)
	return append(ad, secretID[:]...)
}

func checkIDs(teamID, secretID uuid.UUID) error {
	switch {
	case teamID == uuid.Nil:
		return errors.New("team id is the nil UUID")
	case secretID == uuid.Nil:
		return errors.New("secret id is the nil UUID")
	}
	return nil
}
