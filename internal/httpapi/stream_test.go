package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pubsub"
)

// event is one Server-Sent Event, or a comment (event "").
type event struct {
	name    string
	data    string
	comment string
}

// sse is a live stream being read.
type sse struct {
	t      testing.TB
	events chan event
	cancel context.CancelFunc
	res    *http.Response
}

// stream connects to a pipeline's live stream and reads it in the
// background; it fails the test unless the answer is 200.
func (e *env) stream(id uuid.UUID, token string) *sse {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/pipelines/"+id.String()+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		res.Body.Close()
		e.t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{t: e.t, events: make(chan event, 1024), cancel: cancel, res: res}
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				s.events <- ev
				ev = event{}
			case strings.HasPrefix(line, ":"):
				ev.comment = line
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next event that is not a comment.
func (s *sse) next() event {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the stream ended")
			}
			if ev.name != "" {
				return ev
			}
		case <-timeout:
			s.t.Fatal("no event within 10s")
		}
	}
}

// streamRecord is an element of the records of "recent" and "records".
type streamRecord struct {
	ID   int64           `json:"id"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

type streamBatch struct {
	Pipeline uuid.UUID      `json:"pipeline"`
	Count    int            `json:"count"`
	Rejected int            `json:"rejected"`
	Records  []streamRecord `json:"records"`
}

// compact returns JSON without insignificant space (PostgreSQL's jsonb
// adds some).
func compact(t testing.TB, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return buf.String()
}

func (s *sse) batch(ev event, name string) streamBatch {
	s.t.Helper()
	if ev.name != name {
		s.t.Fatalf("event %q (%s), want %q", ev.name, ev.data, name)
	}
	var b streamBatch
	if err := json.Unmarshal([]byte(ev.data), &b); err != nil {
		s.t.Fatalf("event data %s: %v", ev.data, err)
	}
	return b
}

func TestStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("live", `"mapping": {"fields": {"n": {"type": "integer"}}}`))
		want(t, e.hook(p.IngestURL, []byte(`[{"n": 1}, {"n": 2}]`)), http.StatusAccepted)
		want(t, e.hook(p.IngestURL, []byte(`{"n": 3}`)), http.StatusAccepted)

		// A fresh process (cache empty) starts streams with the stored
		// records.
		e.cache.Forget(p.ID)
		s := e.stream(p.ID, tm.viewer)
		recent := s.batch(s.next(), "recent")
		if recent.Pipeline != p.ID || recent.Count != 3 || len(recent.Records) != 3 {
			t.Fatalf("recent = %+v", recent)
		}
		for i, r := range recent.Records {
			if compact(t, r.Data) != fmt.Sprintf(`{"n":%d}`, i+1) || r.ID == 0 {
				t.Fatalf("recent record %d = %+v (oldest first)", i, r)
			}
		}

		// A batch posted after connecting arrives as it commits.
		want(t, e.hook(p.IngestURL, []byte(`[{"n": 4}, {"n": "four"}]`)), http.StatusAccepted)
		b := s.batch(s.next(), "records")
		if b.Count != 1 || b.Rejected != 1 || len(b.Records) != 1 || compact(t, b.Records[0].Data) != `{"n":4}` || b.Records[0].ID <= recent.Records[2].ID {
			t.Fatalf("batch = %+v", b)
		}

		// Changes of the pipeline are announced; deletion ends the stream.
		want(t, e.do("POST", "/api/v1/pipelines/"+p.ID.String()+"/pause", tm.editor, nil), http.StatusOK)
		if ev := s.next(); ev.name != "control" || !strings.Contains(ev.data, `"event":"paused"`) {
			t.Fatalf("after pause: %+v", ev)
		}
		want(t, e.do("DELETE", "/api/v1/pipelines/"+p.ID.String(), tm.editor, nil), http.StatusNoContent)
		if ev := s.next(); ev.name != "control" || !strings.Contains(ev.data, `"event":"deleted"`) {
			t.Fatalf("after delete: %+v", ev)
		}
		select {
		case _, ok := <-s.events:
			if ok {
				t.Fatal("the stream goes on after the pipeline was deleted")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not end after the pipeline was deleted")
		}
	})
}

func TestStreamHeartbeatAndShutdown(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *envConfig) { c.StreamHeartbeat = 50 * time.Millisecond })
	tm := e.newTeam()
	p := e.createPipeline(tm, webhookSpec("quiet"))
	s := e.stream(p.ID, tm.viewer)
	if b := s.batch(s.next(), "recent"); b.Count != 0 || len(b.Records) != 0 {
		t.Fatalf("recent of an empty pipeline: %+v", b)
	}
	timeout := time.After(5 * time.Second)
	for pings := 0; pings < 2; {
		select {
		case ev := <-s.events:
			if ev.comment != "" {
				pings++
			}
		case <-timeout:
			t.Fatal("no heartbeat")
		}
	}
	// A graceful shutdown ends the streams instead of waiting for them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
}

// TestStreamLagged makes a stream fall behind: the client stops reading,
// the server's writes block, the subscription overflows. The client is
// then told it lagged and gets the recent records again.
func TestStreamLagged(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite", func(c *envConfig) { c.StreamBuffer = 1 })
	tm := e.newTeam()
	p := e.createPipeline(tm, webhookSpec("firehose"))
	want(t, e.hook(p.IngestURL, []byte(`{"n": 1}`)), http.StatusAccepted)

	// Read the stream by hand so that reading can pause.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/pipelines/"+p.ID.String()+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tm.viewer)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}

	// While the client does not read, publish far more than the socket
	// buffers hold.
	big := strings.Repeat("x", 256<<10)
	payload, _ := json.Marshal(pubsub.Batch{Pipeline: p.ID, Count: 1, Records: json.RawMessage(`[{"id":0,"ts":"2026-01-01T00:00:00Z","data":{"big":"` + big + `"}}]`)})
	for range 200 {
		if err := e.broker.Publish(context.Background(), pubsub.PipelineTopic(p.ID), pubsub.Message{Kind: pubsub.KindRecords, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	// Now read: somewhere after the records that fitted comes "lagged",
	// then "recent".
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var lagged, recentAfter bool
	for sc.Scan() && !recentAfter {
		switch line := sc.Text(); {
		case line == "event: lagged":
			lagged = true
		case line == "event: recent" && lagged:
			recentAfter = true
		case lagged && strings.HasPrefix(line, "data: {\"dropped\":"):
			t.Logf("lagged %s", line)
		}
	}
	if !lagged || !recentAfter {
		t.Fatalf("lagged %v, recent after it %v (err %v)", lagged, recentAfter, sc.Err())
	}
}

func TestStreamAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := e.newTeam(), e.newTeam()
		p := e.createPipeline(a, webhookSpec("private"))
		path := "/api/v1/pipelines/" + p.ID.String() + "/stream"
		want(t, e.do("GET", path, "", nil), http.StatusUnauthorized)
		want(t, e.do("GET", path, b.owner, nil), http.StatusNotFound)
		want(t, e.do("GET", path+"?team="+a.id.String(), b.owner, nil), http.StatusNotFound)
		want(t, e.do("GET", "/api/v1/pipelines/not-a-uuid/stream", a.viewer, nil), http.StatusNotFound)
		want(t, e.do("GET", path+"?team=nope", a.viewer, nil), http.StatusUnprocessableEntity)
	})
}
