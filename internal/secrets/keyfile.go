package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// maxKeyFileSize bounds what LoadKeyFile reads, so that a path pointing at a
// large file or a device fails fast. A key file holds at most a few dozen bytes.
const maxKeyFileSize = 4 << 10

// linkFile is os.Link; tests replace it to exercise the fallback for file
// systems without hard links.
var linkFile = os.Link

// LoadKeyFile reads a key from the file at path, in any form [ParseKey]
// accepts; surrounding white space (a trailing newline) is ignored.
//
// Errors say which file and what is wrong, never what it contains. A missing
// file gives an error wrapping [fs.ErrNotExist]. If the file is readable or
// writable by group or others (not checked on Windows), LoadKeyFile returns
// the key together with an error wrapping [ErrKeyFilePermissions]; see the
// package documentation.
func LoadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("secrets: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("secrets: stat key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("secrets: key file %s is not a regular file (mode %s)", path, fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("secrets: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return Key{}, fmt.Errorf("%w: key file %s is larger than %d bytes; it should hold only the key", ErrInvalidKey, path, maxKeyFileSize)
	}
	k, err := parseKey(string(data))
	if errors.Is(err, errEmptyKey) {
		return Key{}, fmt.Errorf("%w: key file %s: %w; if nothing was ever sealed with it, delete it and a new key is created at the next start", ErrInvalidKey, path, err)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%w in key file %s: %w", ErrInvalidKey, path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return k, fmt.Errorf("%w: %s has mode %04o; run chmod 600 on it", ErrKeyFilePermissions, path, perm)
	}
	return k, nil
}

// LoadOrCreateKeyFile loads the key file at path like [LoadKeyFile] and, if
// the file does not exist, creates it with a new random key and mode 0600.
// created reports whether this call created the file.
//
// Creation never replaces an existing file and never exposes a partly written
// one: the key is written and synced to a temporary file in the same
// directory, which is then hard-linked to path (failing if path exists, like
// O_EXCL). When several processes start at once, one creates the key and the
// others read it. On file systems without hard links it falls back to
// creating path with O_EXCL and writing it in place; a concurrent reader that
// finds it still empty waits briefly. The directory must exist.
func LoadOrCreateKeyFile(path string) (key Key, created bool, err error) {
	const (
		attempts = 40
		wait     = 25 * time.Millisecond
	)
	for range attempts {
		key, err = LoadKeyFile(path)
		switch {
		case err == nil || errors.Is(err, ErrKeyFilePermissions):
			return key, false, err
		case errors.Is(err, errEmptyKey):
			// Possibly another process in the O_EXCL fallback, between creating
			// the file and writing it.
			time.Sleep(wait)
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return Key{}, false, err
		}
		key = GenerateKey()
		err = createKeyFile(path, key)
		if err == nil {
			return key, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return Key{}, false, err
		}
		// Another process created it first: read theirs.
	}
	// Still empty after all the waiting: report it as it is.
	key, err = LoadKeyFile(path)
	return key, false, err
}

// createKeyFile writes k to a new file at path. It returns an error wrapping
// fs.ErrExist if path already exists.
func createKeyFile(path string, k Key) error {
	dir := filepath.Dir(path)
	content := []byte(k.Hex() + "\n")

	// os.CreateTemp creates the file with mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secrets: create key file %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link, path keeps the content
	if err := writeAndSync(tmp, content); err != nil {
		return fmt.Errorf("secrets: write key file %s: %w", path, err)
	}

	err = linkFile(tmpName, path)
	if err == nil {
		syncDir(dir)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	// No hard links here (some FUSE, SMB or FAT mounts): create in place.
	return createExclusive(path, content)
}

// createExclusive creates path with O_EXCL and writes content to it, removing
// the file again if the write fails.
func createExclusive(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("secrets: create key file: %w", err)
	}
	if err := writeAndSync(f, content); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("secrets: write key file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeAndSync writes content to f, syncs and closes it.
func writeAndSync(f *os.File, content []byte) error {
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a new directory entry durable. Not every platform can sync a
// directory; failing to is not worth failing the start for.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
