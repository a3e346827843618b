//go:build !race

package ingest_test

// raceEnabled is true when the tests run under the race detector, whose
// instrumentation inflates allocations.
const raceEnabled = false
