package secrets_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/secrets"
)

func Example() {
	dir, err := os.MkdirTemp("", "tributary-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// At start: the key from config, or the key file in the data directory.
	key, created, err := secrets.LoadOrCreateKeyFile(filepath.Join(dir, "secret.key"))
	if errors.Is(err, secrets.ErrKeyFilePermissions) {
		log.Printf("warning: %v", err) // usable, but should be chmod 600
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created key file:", created)
	box := secrets.NewBox(key)

	teamID, secretID := uuid.New(), uuid.New()
	sealed, err := box.Seal([]byte("sk_live_abc123"), teamID, secretID)
	if err != nil {
		log.Fatal(err)
	}
	// sealed goes to the database; later, where the credential is used:
	plaintext, err := box.Open(sealed, teamID, secretID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(plaintext))

	// The same bytes under another team do not open.
	_, err = box.Open(sealed, uuid.New(), secretID)
	fmt.Println(errors.Is(err, secrets.ErrCannotOpen))

	// The key never prints.
	fmt.Println(key)
	// Output:
	// created key file: true
	// sk_live_abc123
	// true
	// [REDACTED]
}

func ExampleParseKey() {
	// For instance from TRIBUTARY_SECRET_KEY, generated with: openssl rand -hex 32
	_, err := secrets.ParseKey("not-a-key")
	fmt.Println(err)
	// Output:
	// secrets: invalid key: want 64 hex characters or the base64 of 32 bytes, got 9 characters (generate one with: openssl rand -hex 32)
}
