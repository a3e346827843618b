//go:build !unix

package filelock

import "os"

// TryLock cannot tell a live holder without flock.
func TryLock(*os.File) (bool, error) { return false, ErrUnsupported }
