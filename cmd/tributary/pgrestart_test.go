package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// pgRestartPromise is the row of docs/proof.md that TestPostgresRestart
// reports.
const pgRestartPromise = "dependency faults: PostgreSQL stopped (fast and immediate) and restarted mid-ingest"

// TestPostgresRestart stops PostgreSQL itself (pg_ctl stop, fast and
// immediate shutdown in turn) under a server process while webhook
// writers post numbered records, keeps them posting for a while, and
// starts it again: while it is down every answer is 503 with Retry-After,
// never a 2xx; every record that got a 202 is stored; ingest recovers
// without restarting the server (the time from PostgreSQL accepting
// connections to the first 202 is reported); the server's goroutines come
// back to their baseline. CI runs one stop of each kind;
// TRIBUTARY_PROOF_PG_RESTARTS sets how many of each `make proof` runs.
func TestPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process and a PostgreSQL server of its own")
	}
	perMode := proofInt(t, "TRIBUTARY_PROOF_PG_RESTARTS", 1)
	const downFor = 3 * time.Second
	t.Run("postgres", func(t *testing.T) {
		primary := pgtest.StartPrimary(t)
		// The test cluster commits without waiting for the WAL flush
		// (synchronous_commit = off), which an immediate shutdown may lose
		// after a 202; production settings wait for it.
		setSyncCommit(t, primary.URL)
		db := primary.DatabaseURL(t, "tributary")

		ft := startFaultTarget(t, "restart", db)
		// A well-behaved sender pauses after a refusal; it also keeps the
		// writers from spinning on refusals.
		writers := startHookWriters(ft.hookURL, 4, 20*time.Millisecond)
		now := time.Now()
		ft.waitFor(t, "first acknowledgement", func() bool { return !writers.firstAck(now).IsZero() }, 30*time.Second)
		baseline := ft.goroutines(t)

		// down is a span during which PostgreSQL was stopped: from pg_ctl
		// stop returning to pg_ctl start being called.
		type span struct{ from, to time.Time }
		var (
			downs      []span
			recoveries = map[string][]time.Duration{}
		)
		for i := range 2 * perMode {
			mode := []string{"fast", "immediate"}[i%2]
			// Some records stored since the last restart, so that the stop
			// comes mid-ingest.
			since := time.Now()
			ft.waitFor(t, "an acknowledgement before the stop", func() bool { return !writers.firstAck(since).IsZero() }, 60*time.Second)
			primary.Stop(t, mode)
			d := span{from: time.Now()}
			time.Sleep(downFor) // requests arrive while it is down
			d.to = time.Now()
			downs = append(downs, d)
			primary.Start(t)
			up := time.Now()
			var ack time.Time
			ft.waitFor(t, "recovery after a "+mode+" stop", func() bool { ack = writers.firstAck(up); return !ack.IsZero() }, 120*time.Second)
			recoveries[mode] = append(recoveries[mode], ack.Sub(up))
			t.Logf("%s stop: PostgreSQL accepting connections to the first 202: %s", mode, ack.Sub(up).Round(time.Millisecond))
		}
		// Some more records after the last recovery.
		time.Sleep(time.Second)
		results := writers.stop()
		after := ft.goroutinesBackTo(t, baseline)

		stored := ft.storedKeys(t, db)

		var lost, dups, ackedN, whileDown, down503, downAcked, noRetryAfter, noAnswer, badStatus int
		var longestDown time.Duration
		for _, r := range results {
			isDown := slices.ContainsFunc(downs, func(d span) bool { return !r.start.Before(d.from) && r.start.Before(d.to) })
			if isDown {
				whileDown++
				longestDown = max(longestDown, r.end.Sub(r.start))
			}
			switch {
			case r.status == http.StatusAccepted:
				ackedN += len(r.keys)
				for _, k := range r.keys {
					switch stored[k] {
					case 0:
						lost++
					case 1:
					default:
						dups++
					}
				}
				if isDown {
					downAcked++
				}
			case r.status == http.StatusServiceUnavailable:
				if isDown {
					down503++
				}
				if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
					noRetryAfter++
				}
			case r.status == 0:
				noAnswer++ // the client gave up after 30 s: a hang
			default:
				badStatus++
				t.Errorf("status %d around a PostgreSQL restart", r.status)
			}
		}
		maxOf := func(ds []time.Duration) int64 {
			if len(ds) == 0 {
				return 0
			}
			return slices.Max(ds).Milliseconds()
		}
		proofReport(t, proofRow{Promise: pgRestartPromise, Runs: 2 * perMode,
			Failed: lost > 0 || dups > 0 || downAcked > 0 || noRetryAfter > 0 || noAnswer > 0 || badStatus > 0 || down503 == 0,
			Figures: map[string]any{
				"acknowledged": ackedN, "lost": lost, "duplicates": dups,
				"requests while down": whileDown, "503 while down": down503, "2xx while down": downAcked,
				"503 without Retry-After": noRetryAfter, "unanswered": noAnswer,
				"longest answer while down ms": longestDown.Milliseconds(),
				"recovery max ms after fast":   maxOf(recoveries["fast"]), "recovery max ms after immediate": maxOf(recoveries["immediate"]),
				"goroutines": fmt.Sprintf("%d before, %d after", baseline, after)}})
		if lost > 0 {
			t.Errorf("%d acknowledged records are not stored", lost)
		}
		if dups > 0 {
			t.Errorf("%d records stored twice", dups)
		}
		if downAcked > 0 {
			t.Errorf("%d requests made while PostgreSQL was down were acknowledged", downAcked)
		}
		if down503 == 0 {
			t.Errorf("no request made while PostgreSQL was down was answered 503")
		}
		if noRetryAfter > 0 {
			t.Errorf("%d answers 503 without a Retry-After", noRetryAfter)
		}
		if noAnswer > 0 {
			t.Errorf("%d requests were not answered within 30 s", noAnswer)
		}
	})
}

// setSyncCommit makes the server at adminURL wait for the WAL flush at
// every commit again.
func setSyncCommit(t *testing.T, adminURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM SET synchronous_commit = on`, `SELECT pg_reload_conf()`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
