package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sign-in throttling as internal/account sets it: an account may fail
// this many times, an address that many, before each failure locks it
// out for a second, then two, four…
const (
	accountFreeFailures = 5
	clientFreeFailures  = 50
)

// TestLoginUnderWrongPasswordFlood floods the sign-in with wrong passwords
// from 40 goroutines while a user signs in again and again, and checks
// that every one of the user's sign-ins succeeds, that the flood is
// refused with 429 and Retry-After before any hashing, and that the
// hashes it got are bounded by the throttle. The server takes the client
// address from the connection (it trusts no X-Forwarded-For), so the
// flood comes from distinct loopback addresses. It logs the user's median
// and p99 sign-in latency with and without the flood; timing is not
// asserted, the machine may be shared.
func TestLoginUnderWrongPasswordFlood(t *testing.T) {
	if !canBindLoopback("127.0.1.1") {
		t.Skip("cannot bind loopback addresses other than 127.0.0.1 here")
	}
	ts := startServer(t, "sqlite")
	ts.createUser("ada@example.com", "Acme", "")
	ts.createUser("victim@example.com", "Acme", "")

	const signIns = 30
	user := clientFrom(t, "127.0.0.1")
	signInAll := func() []time.Duration {
		t.Helper()
		var took []time.Duration
		for i := range signIns {
			start := time.Now()
			status, _ := postLogin(t, user, ts.URL, "ada@example.com", password)
			took = append(took, time.Since(start))
			if status != http.StatusOK {
				t.Fatalf("the user's sign-in %d: status %d, want 200", i+1, status)
			}
		}
		return took
	}
	hashesAtStart := metricValue(t, ts.URL, `tributary_password_hashes_total{purpose="sign_in"}`)
	quiet := signInAll()

	// The flood: each group is one kind of attacker, every goroutine
	// sends wrong passwords back to back, ignoring Retry-After.
	type group struct {
		name      string
		workers   int
		addr      func(i int) string
		email     func(i, n int) string
		addresses int // distinct addresses, for the bound
		free      int // failures before the throttle locks out a key
		keys      int // keys the throttle bounds (accounts or addresses)

		unauthorized, refused, other atomic.Int64
		badRetryAfter                atomic.Int64
	}
	groups := []*group{
		{name: "one account from 16 addresses", workers: 16, addresses: 16, free: accountFreeFailures, keys: 1,
			addr:  func(i int) string { return fmt.Sprintf("127.0.1.%d", i+1) },
			email: func(int, int) string { return "victim@example.com" }},
		{name: "unknown emails from one address", workers: 16, addresses: 1, free: clientFreeFailures, keys: 1,
			addr:  func(int) string { return "127.0.2.1" },
			email: func(i, n int) string { return fmt.Sprintf("nobody-%d-%d@example.com", i, n) }},
		{name: "unknown emails from 8 addresses", workers: 8, addresses: 8, free: clientFreeFailures, keys: 8,
			addr:  func(i int) string { return fmt.Sprintf("127.0.3.%d", i+1) },
			email: func(i, n int) string { return fmt.Sprintf("spray-%d-%d@example.com", i, n) }},
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	floodStart := time.Now()
	for _, g := range groups {
		for i := range g.workers {
			c := clientFrom(t, g.addr(i))
			wg.Go(func() {
				// Every request runs to its end (no cancellation), so each
				// hash the server computes shows as a 401 here.
				for n := 0; !stop.Load(); n++ {
					status, retryAfter := postLogin(t, c, ts.URL, g.email(i, n), "not the password at all")
					switch status {
					case http.StatusUnauthorized:
						g.unauthorized.Add(1)
					case http.StatusTooManyRequests:
						g.refused.Add(1)
						if s, err := strconv.Atoi(retryAfter); err != nil || s < 1 {
							g.badRetryAfter.Add(1)
						}
					default:
						g.other.Add(1)
					}
				}
			})
		}
	}
	time.Sleep(500 * time.Millisecond) // the flood is under way
	flooded := signInAll()
	stop.Store(true)
	wg.Wait()
	floodFor := time.Since(floodStart)

	hashes := metricValue(t, ts.URL, `tributary_password_hashes_total{purpose="sign_in"}`) - hashesAtStart
	refusedCounted := metricValue(t, ts.URL, `tributary_sign_in_attempts_total{outcome="throttled"}`) +
		metricValue(t, ts.URL, `tributary_sign_in_attempts_total{outcome="busy"}`)
	floodHashes := hashes - 2*signIns
	var unauthorized, refused int64
	// After free failures a key is locked out for 1 s, 2 s, 4 s…: within
	// the flood's time each key gets one more attempt per lockout that
	// ends, floor(log2(seconds+1)); one more for the edges.
	lockouts := int64(math.Floor(math.Log2(floodFor.Seconds()+1))) + 1
	for _, g := range groups {
		unauthorized += g.unauthorized.Load()
		refused += g.refused.Load()
		bound := int64(g.keys) * (int64(g.free) + lockouts)
		t.Logf("flood %q: %d wrong (hashed), %d refused with 429, %d other; throttle bound %d hashes",
			g.name, g.unauthorized.Load(), g.refused.Load(), g.other.Load(), bound)
		if g.other.Load() != 0 {
			t.Errorf("flood %q: %d answers neither 401 nor 429", g.name, g.other.Load())
		}
		if g.badRetryAfter.Load() != 0 {
			t.Errorf("flood %q: %d answers 429 without a Retry-After of at least 1 s", g.name, g.badRetryAfter.Load())
		}
		if g.unauthorized.Load() > bound {
			t.Errorf("flood %q: %d passwords checked in %v, more than the throttle's bound of %d", g.name, g.unauthorized.Load(), floodFor.Round(time.Millisecond), bound)
		}
	}
	// The user's sign-ins were each one hash; everything else the flood
	// got, and each of its 401s is one hash: its 429s were refused before
	// hashing.
	if floodHashes != float64(unauthorized) {
		t.Errorf("the flood got %v hashes and %d answers 401: a refused attempt was hashed, or a checked one not counted", floodHashes, unauthorized)
	}
	if refusedCounted != float64(refused) {
		t.Errorf("the server counted %v refused attempts, the flood got %d answers 429", refusedCounted, refused)
	}
	if groups[0].refused.Load() == 0 || groups[1].refused.Load() == 0 {
		t.Errorf("the flood on one account or from one address was never refused")
	}

	qMed, qP99 := percentile(quiet, 50), percentile(quiet, 99)
	fMed, fP99 := percentile(flooded, 50), percentile(flooded, 99)
	t.Logf("the user's %d sign-ins without the flood: median %v, p99 %v", signIns, qMed.Round(time.Millisecond), qP99.Round(time.Millisecond))
	t.Logf("the user's %d sign-ins during the flood:  median %v, p99 %v (ratio median %.1fx, p99 %.1fx)", signIns,
		fMed.Round(time.Millisecond), fP99.Round(time.Millisecond), fMed.Seconds()/qMed.Seconds(), fP99.Seconds()/qP99.Seconds())
	t.Logf("the flood ran %v: %d attempts, %d hashed, %d refused with 429 before hashing",
		floodFor.Round(time.Millisecond), unauthorized+refused, unauthorized, refused)
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address addr.
func clientFrom(t *testing.T, addr string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// canBindLoopback reports whether connections may come from addr.
func canBindLoopback(addr string) bool {
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// postLogin signs in through the API and returns the status and the
// Retry-After header.
func postLogin(t *testing.T, c *http.Client, base, email, pw string) (int, string) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	req, err := http.NewRequestWithContext(context.Background(), "POST", base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("sign in as %s: %v", email, err)
		return 0, ""
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Retry-After")
}

// metricValue reads one series of the server's /metrics.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/metrics", nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			must(t, err)
			return f
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return 0
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}
