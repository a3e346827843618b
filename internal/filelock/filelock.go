// Package filelock takes exclusive advisory locks on files that the
// kernel drops when their holder dies, so that a lock held tells a live
// process from a crashed one.
package filelock

import "errors"

// ErrUnsupported is returned where the system has no flock.
var ErrUnsupported = errors.New("file locks need flock, which this system lacks")
