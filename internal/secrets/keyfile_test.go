package secrets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func keyPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "secret.key")
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is subject to the umask; set it exactly.
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := keyPath(t)

	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call = created %v, err %v; want created", created, err)
	}
	if k1 == (Key{}) {
		t.Fatal("created the zero key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}

	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call = created %v, err %v; want read", created, err)
	}
	if k2 != k1 {
		t.Error("second call returned a different key")
	}
	k3, err := LoadKeyFile(path)
	if err != nil || k3 != k1 {
		t.Errorf("LoadKeyFile = same %v, err %v", k3 == k1, err)
	}
	assertOnlyKeyFile(t, path)
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	testConcurrentCreation(t)
}

// TestLoadOrCreateKeyFileNoHardLinks exercises the O_EXCL fallback, in which a
// loser may read the file before the winner has written it. Not parallel: it
// replaces linkFile.
func TestLoadOrCreateKeyFileNoHardLinks(t *testing.T) {
	linkFile = func(_, _ string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
	t.Cleanup(func() { linkFile = os.Link })
	testConcurrentCreation(t)
}

func testConcurrentCreation(t *testing.T) {
	t.Helper()
	const n = 16
	path := keyPath(t)
	var (
		wg      sync.WaitGroup
		keys    [n]Key
		created [n]bool
		errs    [n]error
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			keys[i], created[i], errs[i] = LoadOrCreateKeyFile(path)
		})
	}
	close(start)
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("caller %d got a different key", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d callers report creating the file, want 1", creators)
	}
	if k, err := LoadKeyFile(path); err != nil || k != keys[0] {
		t.Errorf("LoadKeyFile afterwards: same %v, err %v", k == keys[0], err)
	}
	assertOnlyKeyFile(t, path)
}

// assertOnlyKeyFile checks that no temporary files were left beside the key.
func assertOnlyKeyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, filepath.Base(path))
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	t.Parallel()
	key := GenerateKey()
	secretText := key.Hex()
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantIs  error
		wantMsg string
	}{
		{
			name:    "missing",
			setup:   func(*testing.T, string) {},
			wantIs:  fs.ErrNotExist,
			wantMsg: "no such file",
		},
		{
			name:    "directory",
			setup:   func(t *testing.T, path string) { _ = os.Mkdir(path, 0o700) },
			wantMsg: "not a regular file",
		},
		{
			name:    "empty",
			setup:   func(t *testing.T, path string) { writeFile(t, path, "", 0o600) },
			wantIs:  ErrInvalidKey,
			wantMsg: "empty",
		},
		{
			name:    "garbage",
			setup:   func(t *testing.T, path string) { writeFile(t, path, "not a key at all\n", 0o600) },
			wantIs:  ErrInvalidKey,
			wantMsg: "64 hex characters",
		},
		{
			name:    "truncated key",
			setup:   func(t *testing.T, path string) { writeFile(t, path, secretText[:40], 0o600) },
			wantIs:  ErrInvalidKey,
			wantMsg: "got 40 characters",
		},
		{
			name:    "too large",
			setup:   func(t *testing.T, path string) { writeFile(t, path, strings.Repeat(secretText+"\n", 100), 0o600) },
			wantIs:  ErrInvalidKey,
			wantMsg: "larger than",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := keyPath(t)
			tt.setup(t, path)
			k, err := LoadKeyFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want it to name the file", err)
			}
			if strings.Contains(err.Error(), secretText[:16]) {
				t.Errorf("err = %q contains file content", err)
			}
			if k != (Key{}) {
				t.Error("non-zero key returned with an error")
			}
			// LoadOrCreateKeyFile must not overwrite a bad file, only a missing one.
			if errors.Is(err, fs.ErrNotExist) {
				return
			}
			if _, created, err := LoadOrCreateKeyFile(path); err == nil || created {
				t.Errorf("LoadOrCreateKeyFile on a bad file = created %v, err %v", created, err)
			}
		})
	}
}

func TestLoadKeyFileUnreadable(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("file modes do not stop this user from reading")
	}
	path := keyPath(t)
	writeFile(t, path, GenerateKey().Hex(), 0o000)
	_, err := LoadKeyFile(path)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("err = %v, want fs.ErrPermission", err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("LoadOrCreateKeyFile err = %v, want fs.ErrPermission", err)
	}
}

func TestLoadKeyFileLoosePermissions(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	for _, perm := range []os.FileMode{0o644, 0o640, 0o444, 0o602} {
		path := keyPath(t)
		want := GenerateKey()
		writeFile(t, path, want.Hex()+"\n", perm)

		k, err := LoadKeyFile(path)
		if !errors.Is(err, ErrKeyFilePermissions) {
			t.Fatalf("mode %04o: err = %v, want ErrKeyFilePermissions", perm, err)
		}
		if k != want {
			t.Errorf("mode %04o: key not returned with the warning", perm)
		}
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err = %q does not say what to do", perm, err)
		}
		k, created, err := LoadOrCreateKeyFile(path)
		if !errors.Is(err, ErrKeyFilePermissions) || created || k != want {
			t.Errorf("mode %04o: LoadOrCreateKeyFile = same key %v, created %v, err %v", perm, k == want, created, err)
		}
	}
	for _, perm := range []os.FileMode{0o600, 0o400} {
		path := keyPath(t)
		writeFile(t, path, GenerateKey().Hex(), perm)
		if _, err := LoadKeyFile(path); err != nil {
			t.Errorf("mode %04o: %v", perm, err)
		}
	}
}

func TestLoadOrCreateKeyFileMissingDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent", "secret.key")
	_, created, err := LoadOrCreateKeyFile(path)
	if err == nil || created {
		t.Fatalf("created %v, err %v; want an error", created, err)
	}
	if !strings.Contains(err.Error(), "absent") {
		t.Errorf("err = %q does not name the path", err)
	}
}

func TestLoadKeyFileFormats(t *testing.T) {
	t.Parallel()
	// An operator may write the key file by hand, in any form ParseKey accepts.
	path := keyPath(t)
	want := GenerateKey()
	writeFile(t, path, "\n  "+want.Hex()+"  \r\n", 0o600)
	if k, err := LoadKeyFile(path); err != nil || k != want {
		t.Errorf("LoadKeyFile = same %v, err %v", k == want, err)
	}
}
