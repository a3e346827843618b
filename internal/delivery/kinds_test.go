package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// recorder is a sink kind of the test: it keeps the batches it gets,
// fails as its settings say, and counts opens and closes. The machinery
// knows nothing of it but the Kind.
type recorder struct {
	mu      sync.Mutex
	batches []sink.Batch
	opened  int
	closed  int
}

func (r *recorder) kind() sink.Kind {
	return sink.Kind{
		Name: "memory", Summary: "keeps batches in memory", MaxBatch: 4,
		NewSettings: func() any {
			return new(struct {
				Fail string `json:"fail,omitempty"`
			})
		},
		Example: `{}`,
		Validate: func(settings json.RawMessage, _ sink.Deps) ([]string, error) {
			var s struct {
				Fail string `json:"fail"`
			}
			if err := json.Unmarshal(settings, &s); err != nil {
				return nil, err
			}
			if s.Fail != "" && s.Fail != "permanent" && s.Fail != "open" {
				return nil, errors.New("fail: must be permanent or open")
			}
			return nil, nil
		},
		Open: func(_ context.Context, _ uuid.UUID, settings json.RawMessage, _ sink.Deps) (sink.Sink, error) {
			var s struct {
				Fail string `json:"fail"`
			}
			_ = json.Unmarshal(settings, &s)
			if s.Fail == "open" {
				return nil, sink.Permanent(errors.New("cannot open: no such table"))
			}
			r.mu.Lock()
			r.opened++
			r.mu.Unlock()
			return &recorderSink{r: r, fail: s.Fail}, nil
		},
	}
}

type recorderSink struct {
	r    *recorder
	fail string
}

func (s *recorderSink) Deliver(_ context.Context, b sink.Batch) error {
	if s.fail == "permanent" {
		return sink.Permanent(errors.New("the table has no column temp"))
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.batches = append(s.r.batches, b)
	return nil
}

func (s *recorderSink) Close() error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.closed++
	return nil
}

func TestAnyKind(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		rec := &recorder{}
		b := setupWith(t, st, sink.NewRegistry(sink.HTTPKind, rec.kind()))
		p := b.pipeline(t, `{"name":"kinds","kind":"webhook","source":{},
			"mapping":{"fields":{"n":{"type":"integer"},"label":{"path":"n","expr":"string(value)","type":"string"}}},
			"sinks":[{"name":"mem","memory":{}},{"name":"broken","memory":{"fail":"permanent"}},{"name":"closed","memory":{"fail":"open"}}]}`)
		b.ingest(t, p, 0, 10)
		ds := b.waitStatus(t, p, "mem", 1, core.DeliveryDelivered)
		rec.mu.Lock()
		batches := append([]sink.Batch(nil), rec.batches...)
		rec.mu.Unlock()
		// Split to the kind's MaxBatch, with the mapped fields.
		if len(batches) != 3 || len(batches[0].Records) != 4 || len(batches[2].Records) != 2 {
			t.Fatalf("batches %+v", batches)
		}
		for i, bt := range batches {
			if bt.DeliveryID != ds[0].Key+"."+string(rune('0'+i)) || bt.Pipeline != "kinds" || bt.Sink != "mem" || bt.TeamID != b.team.ID ||
				len(bt.Fields) != 2 || bt.Fields[0] != (sink.Field{Name: "label", Type: "string"}) || bt.Fields[1] != (sink.Field{Name: "n", Type: "integer"}) {
				t.Errorf("batch %d = %+v", i, bt)
			}
			for _, r := range bt.Records {
				if r.ID == 0 || r.TS.IsZero() || !strings.Contains(string(r.Data), `"label"`) {
					t.Errorf("record %+v", r)
				}
			}
		}
		// A permanent failure is not retried. attempts counts the times
		// the records were sent: once to broken, never to closed, which
		// could not be opened.
		for name, sent := range map[string]int{"broken": 1, "closed": 0} {
			d := b.waitStatus(t, p, name, 1, core.DeliveryDead)[0]
			if d.Attempts != sent {
				t.Errorf("%s: attempts %d, want %d: %+v", name, d.Attempts, sent, d)
			}
		}
		// The open sinks (mem and broken) are reused, and closed with the
		// service.
		b.ingest(t, p, 10, 1)
		b.waitStatus(t, p, "mem", 2, core.DeliveryDelivered)
		if err := b.svc.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.opened != 2 || rec.closed != 2 {
			t.Fatalf("opened %d, closed %d; want 2 and 2", rec.opened, rec.closed)
		}
	})
}

func TestBlobKindDelivers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		root := t.TempDir()
		b := setupWith(t, st, sink.NewRegistry(sink.HTTPKind, sink.BlobKind(sink.BlobConfig{FileRoot: root})))
		p := b.pipeline(t, spec("files", `{"name":"archive","blob":{"url":"file:///archive","format":"ndjson","compression":"none"}}`))
		b.ingest(t, p, 0, 25)
		b.waitStatus(t, p, "archive", 1, core.DeliveryDelivered)
		if err := b.svc.Close(context.Background()); err != nil { // writes the pending files
			t.Fatal(err)
		}
		lines := 0
		err := filepath.WalkDir(filepath.Join(root, b.team.ID.String(), "archive"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, "_tributary") {
				return err
			}
			data, err := readFile(path)
			lines += strings.Count(data, "\n")
			return err
		})
		if err != nil || lines != 25 {
			t.Fatalf("%d records in files under %s, want 25 (%v)", lines, root, err)
		}
	})
}
