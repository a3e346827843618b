package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDrainOnSIGTERM sends SIGTERM to a real `tributary serve` while a
// webhook request is half sent, a poll job waits on its source and a live
// stream is open: /readyz answers 503 at once while the node still serves,
// the stream gets a "reconnect" event, the webhook request and the poll
// finish and are acknowledged, and the process exits cleanly.
func TestDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server process")
	}
	bin := buildBinary(t)
	env := []string{"TRIBUTARY_DATA_DIR=" + t.TempDir(), "TRIBUTARY_LOG_LEVEL=info", "TRIBUTARY_ALLOW_NETWORKS=127.0.0.0/8",
		"TRIBUTARY_DRAIN_DELAY=3s", "TRIBUTARY_SHUTDOWN_TIMEOUT=30s"}
	k9CLI(t, bin, env, "user", "create", "--email", "drain@example.com", "--password", "drain-password-1", "--team", "drain")
	token := k9CLI(t, bin, env, "token", "create", "--team", "drain", "--role", "editor", "--name", "writer")
	p := k9Start(t, bin, env)

	// A source that answers only when told to.
	polled, release := make(chan struct{}, 1), make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case polled <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"n":1},{"n":2}]`)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	var hook, poll struct {
		ID        uuid.UUID `json:"id"`
		IngestURL string    `json:"ingest_url"`
	}
	k9API(t, http.MethodPost, p.base+"/api/v1/pipelines", token, `{"name": "hook", "kind": "webhook", "persist": true}`, &hook)
	k9API(t, http.MethodPost, p.base+"/api/v1/pipelines", token,
		`{"name": "poll", "kind": "polling", "persist": true, "source": {"interval": "1h", "http": {"url": "`+upstream.URL+`"}}}`, &poll)
	select {
	case <-polled: // the poll job is running, waiting on the source
	case <-time.After(30 * time.Second):
		t.Fatal("the poll did not reach the source")
	}
	events := openSSE(t, p.base, token, hook.ID)
	if ev := nextEvent(t, events); ev.name != "recent" {
		t.Fatalf("first event %q, want recent", ev.name)
	}

	// A webhook request whose body is half sent.
	body, writeBody := io.Pipe()
	hookDone := make(chan error, 1)
	go func() {
		resp, err := http.Post(p.base+hook.IngestURL[strings.Index(hook.IngestURL, "/hooks/"):], "application/json", body)
		if err != nil {
			hookDone <- err
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			err = fmt.Errorf("webhook answered %d %s", resp.StatusCode, b)
		}
		hookDone <- err
	}()
	if _, err := io.WriteString(writeBody, `[{"k":1},`); err != nil {
		t.Fatal(err)
	}

	exited := make(chan error, 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- p.cmd.Wait() }()

	// Unready at once, while still serving.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz before it answered 503: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(string(b), "draining") {
				t.Errorf("/readyz said %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %d", resp.StatusCode)
		}
	}
	// The stream is told to reconnect, and ends.
	for ev := range events {
		if ev.name == "reconnect" {
			if !strings.Contains(ev.data, `"retry_ms"`) {
				t.Errorf("reconnect event %q", ev.data)
			}
			break
		}
		if ev.name != "records" {
			t.Fatalf("event %q %s before reconnect", ev.name, ev.data)
		}
	}

	// The requests and the job in flight finish.
	if _, err := io.WriteString(writeBody, `{"k":2}]`); err != nil {
		t.Fatal(err)
	}
	writeBody.Close()
	close(release)
	if err := <-hookDone; err != nil {
		t.Fatalf("webhook request in flight: %v\n%s", err, p.logs.String())
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("serve exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit\n%s", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", p.logs.String())
	}

	// Everything acknowledged is there after a restart, the poll's run too.
	p = k9Start(t, bin, env)
	var records struct {
		Records []struct {
			Data map[string]any `json:"data"`
		} `json:"records"`
	}
	k9API(t, http.MethodGet, p.base+"/api/v1/pipelines/"+hook.ID.String()+"/records", token, "", &records)
	if len(records.Records) != 2 {
		t.Errorf("webhook pipeline holds %d records, want 2", len(records.Records))
	}
	var runs struct {
		Runs []struct {
			Trigger string `json:"trigger"`
			Stored  int    `json:"stored"`
			Error   string `json:"error"`
		} `json:"runs"`
	}
	k9API(t, http.MethodGet, p.base+"/api/v1/pipelines/"+poll.ID.String()+"/runs", token, "", &runs)
	if len(runs.Runs) == 0 || runs.Runs[len(runs.Runs)-1].Stored != 2 {
		t.Errorf("poll runs = %+v, want the interrupted poll with 2 records", runs.Runs)
	}
}
