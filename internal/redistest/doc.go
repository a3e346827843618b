// Package redistest starts throwaway redis-server processes for tests, on
// a free loopback port in a temporary directory, and stops them when the
// test ends.
//
// redis-server comes from the distribution's package (.ci/run installs
// it). When it is missing the test is skipped, unless the CI environment
// variable is set, in which case it fails: CI must never silently skip
// Redis.
package redistest
