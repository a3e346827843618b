package jobs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/filelock"
)

// Identity names this process among the job runners, so that a node
// restarted after a crash (kill -9, OOM, power loss) knows which running
// jobs were its own and requeues them at once, instead of waiting for
// River's rescue (a job's timeout, minutes).
//
// A data directory holds numbered slots; a process takes the first slot
// no live process holds (an exclusive flock that the kernel drops when
// the holder dies) and keeps it while it runs. Each slot has a node name
// (a random UUID written once). Two live processes never hold the same
// slot, so the jobs a slot's node name was running, when a process takes
// the slot, belong to a process that is gone. River's client ID is the
// node name, "@" and the start time.
type Identity struct {
	// Node is the slot's name, the same across restarts.
	Node string
	// ClientID is River's client ID of this process: Node@start time.
	ClientID string
	lock     *os.File
}

// maxSlots bounds the processes sharing a data directory.
const maxSlots = 64

// ClaimIdentity takes the first free slot of dir.
func ClaimIdentity(dir string, now time.Time) (*Identity, error) {
	for n := range maxSlots {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("node-%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("job identity: %w", err)
		}
		ok, err := filelock.TryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("job identity: %w", err)
		}
		if !ok {
			f.Close()
			continue
		}
		node, err := slotName(filepath.Join(dir, fmt.Sprintf("node-%d.id", n)))
		if err != nil {
			f.Close()
			return nil, err
		}
		return &Identity{Node: node, ClientID: node + "@" + now.UTC().Format("20060102T150405.000000Z"), lock: f}, nil
	}
	return nil, fmt.Errorf("job identity: all %d slots of %s are held by running processes", maxSlots, dir)
}

// slotName reads the node name of a slot, writing a new one the first time.
func slotName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if id, err := uuid.Parse(strings.TrimSpace(string(b))); err == nil {
			return id.String(), nil
		}
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("job identity: %w", err)
	}
	id := uuid.NewString()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("job identity: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("job identity: %w", err)
	}
	return id, nil
}

// Close gives the slot up.
func (id *Identity) Close() error {
	if id == nil || id.lock == nil {
		return nil
	}
	return id.lock.Close()
}
