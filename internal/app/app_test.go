package app_test

import (
	"net/http"
	"testing"
)

func TestProbes(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		c := ts.client()
		c.do("GET", "/healthz", nil).want(http.StatusOK)
		c.do("GET", "/readyz", nil).want(http.StatusOK)
	})
}
