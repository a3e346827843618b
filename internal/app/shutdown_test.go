package app_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startSlowRequest starts a login whose body the server has asked for
// but not received: it sends the headers with Expect: 100-continue and
// waits for the 100 Continue, which the server sends only when the handler
// reads the body, so the request is provably in flight. It returns the
// connection, a reader of its responses and the body to send.
func startSlowRequest(t *testing.T, ts *testServer) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	body := `{"email": "nobody@example.com", "password": "not the password"}`
	_, err = fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		addr, len(body))
	must(t, err)
	must(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	r := bufio.NewReader(conn)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("waiting for 100 Continue: %v", err)
	}
	if res.StatusCode != http.StatusContinue {
		t.Fatalf("got %d, want 100 Continue", res.StatusCode)
	}
	must(t, conn.SetReadDeadline(time.Time{}))
	return conn, r, body
}

// waitListenerClosed polls until the server no longer accepts connections,
// which is how its shutdown begins.
func waitListenerClosed(t *testing.T, ts *testServer) {
	t.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	eventually(t, 10*time.Second, "the server stops accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

type stopResult struct {
	err  error
	took time.Duration
}

func stopAsync(ts *testServer) <-chan stopResult {
	ch := make(chan stopResult, 1)
	go func() {
		took, err := ts.Stop()
		ch <- stopResult{err, took}
	}()
	return ch
}

func TestGracefulShutdown(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		t.Run("idle", func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, backend)
			ts.client().do("GET", "/healthz", nil).want(http.StatusOK)
			took, err := ts.Stop()
			if err != nil {
				t.Fatalf("Serve returned %v after cancel, want nil", err)
			}
			if took > ts.Config.ShutdownTimeout {
				t.Errorf("Serve took %s to stop, more than the shutdown timeout %s", took, ts.Config.ShutdownTimeout)
			}
		})

		t.Run("in-flight request finishes", func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, backend)
			conn, r, body := startSlowRequest(t, ts)
			stopped := stopAsync(ts)
			waitListenerClosed(t, ts)
			select {
			case r := <-stopped:
				t.Fatalf("Serve returned (%v) while a request was in flight", r.err)
			default:
			}
			// The request in flight is still served.
			_, err := io.WriteString(conn, body)
			must(t, err)
			must(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			res, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("the request in flight got no response: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("the request in flight got %d, want 401", res.StatusCode)
			}
			select {
			case r := <-stopped:
				if r.err != nil {
					t.Errorf("Serve returned %v, want nil", r.err)
				}
			case <-time.After(ts.Config.ShutdownTimeout):
				t.Fatalf("Serve did not return within the shutdown timeout after the last request finished")
			}
		})

		t.Run("stuck request is bounded", func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			cfg.ShutdownTimeout = 500 * time.Millisecond
			ts := serveConfig(t, backend, cfg)
			ts.StopMayFail = true
			conn, _, _ := startSlowRequest(t, ts)
			took, err := ts.Stop()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Serve returned %v, want an error saying the shutdown timed out", err)
			}
			// River is given a few seconds on top to cancel its jobs.
			if limit := cfg.ShutdownTimeout + 6*time.Second; took > limit {
				t.Errorf("Serve took %s to stop, more than %s", took, limit)
			}
			// Once Serve has returned, the store is closed: nothing of the
			// server may still be serving, so the stuck connection is closed.
			must(t, conn.SetReadDeadline(time.Now().Add(2*time.Second)))
			n, rerr := conn.Read(make([]byte, 1))
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				t.Errorf("the stuck connection is still open after Serve returned, with its handler running against a closed store")
			} else if rerr == nil {
				t.Errorf("read %d bytes from the stuck connection after Serve returned", n)
			}
		})
	})
}
