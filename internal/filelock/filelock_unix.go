//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes f's exclusive flock without waiting; false when another
// open file (of this or another process) holds it. Closing f, or the
// death of the process, releases it.
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
