package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestUploadsSurviveKill9 uploads NDJSON files of numbered records and
// kills the server process with SIGKILL while it commits them (at least
// TRIBUTARY_PROOF_KILLS times, 1 by default; TRIBUTARY_PROOF_UPLOAD_ROWS
// rows a file): afterwards every upload is done, every number is stored
// exactly once, and each upload counts all its rows — an upload is fully
// processed after the restarts, never half-stored silently.
func TestUploadsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	k9OnBackends(t, nil, testUploadKill9)
}

// uploadState is what the test reads of an upload.
type uploadState struct {
	ID        uuid.UUID `json:"id"`
	Status    string    `json:"status"`
	RowsTotal *int64    `json:"rows_total"`
	RowsDone  int64     `json:"rows_done"`
	Accepted  int64     `json:"accepted"`
	Rejected  int64     `json:"rejected"`
	Error     string    `json:"error"`
}

func testUploadKill9(t *testing.T, bin string, env []string) {
	rows := proofInt(t, "TRIBUTARY_PROOF_UPLOAD_ROWS", 20000)
	kills := proofInt(t, "TRIBUTARY_PROOF_KILLS", 1)
	f := k9Setup(t, bin, env, k9Account{email: "up@example.com", password: "kill-9-password", team: "uploads", tokenName: "uploader"},
		`{"name": "uploads", "kind": "webhook", "persist": true}`)
	p, token := f.p, f.token
	uploads := p.base + "/api/v1/pipelines/" + f.pipeline.String() + "/uploads"

	// upload sends the next file: the numbers after total.
	var (
		ids   []uuid.UUID
		total int
	)
	upload := func() {
		var b strings.Builder
		for i := total + 1; i <= total+rows; i++ {
			fmt.Fprintf(&b, "{\"id\":%d}\n", i)
		}
		req, _ := http.NewRequest(http.MethodPost, uploads+"?format=ndjson&filename=n.ndjson",
			strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		var u uploadState
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("upload: %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
		total += rows
	}
	state := func(id uuid.UUID) uploadState {
		var u uploadState
		k9API(t, http.MethodGet, uploads+"/"+id.String(), token, "", &u)
		return u
	}
	upload()

	var (
		peakRSS   int64
		midUpload int
		maxResume time.Duration
	)
	for round := range kills {
		if round > 0 {
			p = k9Start(t, bin, env)
			uploads = p.base + "/api/v1/pipelines/" + f.pipeline.String() + "/uploads"
		}
		// Kill while the last upload is being committed: once its rows
		// advance in this process, after a random moment more. A finished
		// upload is followed by the next one.
		last := ids[len(ids)-1]
		prev := state(last)
		if prev.Status == "done" {
			upload()
			last = ids[len(ids)-1]
			prev = state(last)
		}
		started := time.Now()
		for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			u := state(last)
			if u.Status == "failed" {
				t.Fatalf("round %d: upload %s failed: %s", round, last, u.Error)
			}
			if u.RowsDone > prev.RowsDone || u.Status == "done" {
				if u.Status != "done" {
					midUpload++
				}
				maxResume = max(maxResume, time.Since(started))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: upload %s made no progress in 4 minutes (%+v); logs:\n%s", round, last, u, p.logs)
			}
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		peakRSS = max(peakRSS, p.kill9(t))
	}

	// Restart and wait for every upload to be done.
	final := k9Start(t, bin, env)
	uploads = final.base + "/api/v1/pipelines/" + f.pipeline.String() + "/uploads"
	for _, id := range ids {
		var done int64 = -1
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			u := state(id)
			if u.Status == "failed" {
				t.Fatalf("upload %s failed: %s", id, u.Error)
			}
			if u.Status == "done" {
				if u.RowsTotal == nil || *u.RowsTotal != int64(rows) || u.RowsDone != int64(rows) || u.Accepted != int64(rows) || u.Rejected != 0 {
					t.Errorf("upload %s done with %+v, want %d rows done and accepted", id, u, rows)
				}
				break
			}
			if u.RowsDone > done {
				done, deadline = u.RowsDone, time.Now().Add(3*time.Minute)
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %s not done after the restart (%+v); logs:\n%s", id, u, final.logs)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := k9OpenStore(t, ctx, env)
	counts := storedIDs(t, ctx, st, f.team, f.pipeline)
	gaps, dups := 0, 0
	for id := 1; id <= total; id++ {
		if counts[id] == 0 {
			gaps++
		}
		dups += max(counts[id]-1, 0)
	}
	t.Logf("%d uploads of %d rows over %d kills (%d while rows were being committed): %d missing, %d duplicates; progress resumed after a restart within %s",
		len(ids), rows, kills, midUpload, gaps, dups, maxResume.Round(time.Millisecond))
	proofReport(t, proofRow{Promise: "crash: uploads fully processed after kill -9, never half-stored", Runs: kills, Failed: gaps > 0 || dups > 0 || t.Failed(),
		Figures: map[string]any{"rows": total, "uploads": len(ids), "kills while committing": midUpload, "missing": gaps, "duplicates": dups,
			"peak_rss_mb": peakRSS >> 20, "longest wait for progress after a restart": maxResume.Round(time.Millisecond).String()}})
	if gaps > 0 || dups > 0 {
		t.Fatalf("%d missing and %d duplicate rows in %d uploaded", gaps, dups, total)
	}
}
