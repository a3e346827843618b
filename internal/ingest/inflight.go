package ingest

import (
	"sync"

	"github.com/google/uuid"
)

// DefaultMaxInFlight is how many webhook requests of one team a node
// works on at once unless Config.MaxInFlight says otherwise.
const DefaultMaxInFlight = 64

// busyRetryAfter is the Retry-After of a BusyError: a team's requests in
// progress finish within about a commit, or a slice of mapping each.
const busyRetryAfter = 1 // second

// inFlight counts each team's requests in progress, so that a team
// flooding a node waits in its own bounded queue, answered 429, rather
// than holding an unbounded number of decoded bodies in the CPU share's
// queue. The map holds only teams with requests in progress.
type inFlight struct {
	limit int
	mu    sync.Mutex
	n     map[uuid.UUID]int
}

// newInFlight returns a counter of limit requests per team; limit < 0
// turns it off (nil), 0 means DefaultMaxInFlight.
func newInFlight(limit int) *inFlight {
	switch {
	case limit < 0:
		return nil
	case limit == 0:
		limit = DefaultMaxInFlight
	}
	return &inFlight{limit: limit, n: make(map[uuid.UUID]int)}
}

// enter counts one request of team in, unless team has limit of them in
// progress. A request counted in must leave.
func (f *inFlight) enter(team uuid.UUID) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[team] >= f.limit {
		return false
	}
	f.n[team]++
	return true
}

// leave counts a request of team out.
func (f *inFlight) leave(team uuid.UUID) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[team] <= 1 {
		delete(f.n, team)
		return
	}
	f.n[team]--
}
