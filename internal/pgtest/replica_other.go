//go:build !unix

package pgtest

import "testing"

// Primary is a PostgreSQL server of a test's own; unix-only.
type Primary struct {
	// URL is its superuser URL, over TCP, to database "postgres".
	URL string
}

// StartPrimary is unix-only (setuid to the postgres user): it skips.
func StartPrimary(t testing.TB) *Primary {
	t.Skip("pgtest: StartPrimary needs a unix system")
	return nil
}

// DatabaseURL is unreachable: StartPrimary skips.
func (p *Primary) DatabaseURL(t testing.TB, name string) string { return "" }

// Stop is unreachable: StartPrimary skips.
func (p *Primary) Stop(t testing.TB, mode string) {}

// Start is unreachable: StartPrimary skips.
func (p *Primary) Start(t testing.TB) {}

// Replica is a streaming replica; unix-only.
type Replica struct{}

// StartReplica is unix-only: it skips.
func StartReplica(t testing.TB, adminURL string) *Replica {
	t.Skip("pgtest: StartReplica needs a unix system")
	return nil
}

// URL is unreachable: StartReplica skips.
func (r *Replica) URL(dbURL string) string { return "" }

// Addr is unreachable: StartReplica skips.
func (r *Replica) Addr() string { return "" }

// Stop is unreachable: StartReplica skips.
func (r *Replica) Stop(t testing.TB) {}

// Start is unreachable: StartReplica skips.
func (r *Replica) Start(t testing.TB) {}

// PauseReplay is unreachable: StartReplica skips.
func (r *Replica) PauseReplay(t testing.TB) {}

// ResumeReplay is unreachable: StartReplica skips.
func (r *Replica) ResumeReplay(t testing.TB) {}
