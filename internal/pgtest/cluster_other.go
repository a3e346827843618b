//go:build !unix

package pgtest

import "context"

// sharedCluster is unix-only (flock, setuid to the postgres user); elsewhere
// tests need TRIBUTARY_TEST_DATABASE_URL.
func sharedCluster(context.Context) (string, error) { return "", errUnavailable }
