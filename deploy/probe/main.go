// Command probe is the container health check of the Tributary image: the
// final image has no shell, curl or wget, so HEALTHCHECK runs this small
// static program instead. It asks the server on this container for a path
// (default /readyz) and exits 0 on a 2xx answer, 1 otherwise.
//
// The port comes from TRIBUTARY_ADDR (as the server reads it), so the check
// follows a changed listen address without being rewritten.
//
//	probe            # GET http://127.0.0.1:PORT/readyz
//	probe /healthz   # liveness only
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	path := "/readyz"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := check(os.Getenv("TRIBUTARY_ADDR"), path); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// check asks the server listening on addr (host:port; empty means the
// server's default 127.0.0.1:8080) for path. A server listening on every
// interface (0.0.0.0, :: or no host) is asked on the loopback address.
func check(addr, path string) error {
	host, port := "127.0.0.1", "8080"
	if addr != "" {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("TRIBUTARY_ADDR %q is not host:port: %w", addr, err)
		}
		port = p
		if h != "" && h != "0.0.0.0" && h != "::" {
			host = h
		}
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}
