package secrets

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type boxBundle struct {
	box      *Box
	key      Key
	teamID   uuid.UUID
	secretID uuid.UUID
}

func setupBox(t *testing.T) boxBundle {
	t.Helper()
	k := GenerateKey()
	return boxBundle{box: NewBox(k), key: k, teamID: uuid.New(), secretID: uuid.New()}
}

func TestBoxRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"api key", []byte("sk_live_51Habc")},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe, 0}},
		{"large", bytes.Repeat([]byte("x"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := setupBox(t)
			sealed, err := s.box.Seal(tt.plaintext, s.teamID, s.secretID)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if want := 1 + 12 + len(tt.plaintext) + 16; len(sealed) != want {
				t.Errorf("sealed length = %d, want %d", len(sealed), want)
			}
			if sealed[0] != formatV1 {
				t.Errorf("version byte = %#x, want %#x", sealed[0], formatV1)
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := s.box.Open(sealed, s.teamID, s.secretID)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
			// A second Box with the same key (another process) opens it too.
			got, err = NewBox(s.key).Open(sealed, s.teamID, s.secretID)
			if err != nil || !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open with a new Box of the same key = %q, %v", got, err)
			}
		})
	}
}

func TestBoxTamperEveryByte(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	sealed, err := s.box.Seal([]byte("hunter2-secret"), s.teamID, s.secretID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= mask
			got, err := s.box.Open(tampered, s.teamID, s.secretID)
			if !errors.Is(err, ErrCannotOpen) {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want ErrCannotOpen", i, mask, got, err)
			}
			if got != nil {
				t.Fatalf("byte %d ^ %#x: Open returned plaintext with an error", i, mask)
			}
		}
	}
}

func TestBoxTruncatedAndExtended(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	sealed, err := s.box.Seal([]byte("value"), s.teamID, s.secretID)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		if _, err := s.box.Open(sealed[:n], s.teamID, s.secretID); !errors.Is(err, ErrCannotOpen) {
			t.Errorf("truncated to %d bytes: err = %v, want ErrCannotOpen", n, err)
		}
	}
	if _, err := s.box.Open(append(bytes.Clone(sealed), 0), s.teamID, s.secretID); !errors.Is(err, ErrCannotOpen) {
		t.Errorf("extended by one byte: err = %v, want ErrCannotOpen", err)
	}
	if _, err := s.box.Open(nil, s.teamID, s.secretID); !errors.Is(err, ErrCannotOpen) {
		t.Errorf("nil: err = %v, want ErrCannotOpen", err)
	}
}

func TestBoxWrongContext(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	const plaintext = "postgres://user:pa55word@db/prod"
	sealed, err := s.box.Seal([]byte(plaintext), s.teamID, s.secretID)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		box      *Box
		teamID   uuid.UUID
		secretID uuid.UUID
	}{
		{"wrong team", s.box, uuid.New(), s.secretID},
		{"wrong secret", s.box, s.teamID, uuid.New()},
		{"ids swapped", s.box, s.secretID, s.teamID},
		{"wrong key", NewBox(GenerateKey()), s.teamID, s.secretID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.box.Open(sealed, tt.teamID, tt.secretID)
			if !errors.Is(err, ErrCannotOpen) {
				t.Fatalf("Open = %q, %v; want ErrCannotOpen", got, err)
			}
			if strings.Contains(err.Error(), plaintext) {
				t.Errorf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestBoxUnknownVersion(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	sealed, err := s.box.Seal([]byte("value"), s.teamID, s.secretID)
	if err != nil {
		t.Fatal(err)
	}
	sealed[0] = 0x02
	_, err = s.box.Open(sealed, s.teamID, s.secretID)
	if !errors.Is(err, ErrCannotOpen) || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("err = %v, want ErrCannotOpen naming version 2", err)
	}
}

func TestBoxNilIDs(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	sealed, err := s.box.Seal([]byte("value"), s.teamID, s.secretID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][2]uuid.UUID{{uuid.Nil, s.secretID}, {s.teamID, uuid.Nil}, {uuid.Nil, uuid.Nil}} {
		if _, err := s.box.Seal([]byte("value"), ids[0], ids[1]); err == nil {
			t.Errorf("Seal with ids %v: no error", ids)
		}
		if _, err := s.box.Open(sealed, ids[0], ids[1]); err == nil {
			t.Errorf("Open with ids %v: no error", ids)
		}
	}
}

func TestBoxNonceUniqueness(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	const n = 10000
	nonces := make(map[[12]byte]bool, n)
	for range n {
		sealed, err := s.box.Seal([]byte("same plaintext"), s.teamID, s.secretID)
		if err != nil {
			t.Fatal(err)
		}
		nonce := [12]byte(sealed[1:13])
		if nonces[nonce] {
			t.Fatalf("nonce %x repeated", nonce)
		}
		nonces[nonce] = true
	}
}

func TestBoxConcurrentUse(t *testing.T) {
	t.Parallel()
	s := setupBox(t)
	done := make(chan error)
	for range 8 {
		go func() {
			for range 100 {
				sealed, err := s.box.Seal([]byte("v"), s.teamID, s.secretID)
				if err == nil {
					_, err = s.box.Open(sealed, s.teamID, s.secretID)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
