//go:build !unix

package jobs

import (
	"errors"
	"os"
)

// tryLock cannot tell a live holder without flock: the caller runs
// without an identity, and the jobs of a crashed process wait for River's
// rescue.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("job slots need flock, which this system lacks")
}
