//go:build unix

package filelock_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-dev/tributary/internal/filelock"
)

// TestTryLock: a second open file of the same path cannot take the lock
// while the first holds it, and can once the first is closed.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := open(), open()
	defer b.Close()
	if ok, err := filelock.TryLock(a); !ok || err != nil {
		t.Fatalf("first lock: %v, %v", ok, err)
	}
	if ok, err := filelock.TryLock(b); ok || err != nil {
		t.Fatalf("second lock while the first is held: %v, %v", ok, err)
	}
	a.Close()
	if ok, err := filelock.TryLock(b); !ok || err != nil {
		t.Fatalf("second lock after the first closed: %v, %v", ok, err)
	}
}
