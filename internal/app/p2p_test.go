package app_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
)

// flowKit drives pipelines of one team through the API: create, ingest,
// read back. It is shared by the p2p and upload tests.
type flowKit struct {
	t  *testing.T
	ts *testServer
	c  *client // an editor token of the team
}

// flowPipeline is the part of a pipeline response the tests read.
type flowPipeline struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Version   int             `json:"version"`
	Status    string          `json:"status"`
	IngestURL string          `json:"ingest_url"`
	Spec      json.RawMessage `json:"spec"`
}

type flowRecord struct {
	ID   int64          `json:"id"`
	TS   time.Time      `json:"ts"`
	Data map[string]any `json:"data"`
}

type flowRun struct {
	Trigger  string `json:"trigger"`
	Fetched  int    `json:"fetched"`
	Stored   int    `json:"stored"`
	Rejected int    `json:"rejected"`
	Error    string `json:"error"`
}

func newFlowKit(t *testing.T, ts *testServer, email, team string) (*flowKit, uuid.UUID) {
	t.Helper()
	_, tm := ts.createUser(email, team, "")
	_, secret := ts.issueToken(tm.ID, auth.Editor)
	return &flowKit{t: t, ts: ts, c: ts.bearer(secret)}, tm.ID
}

func (k *flowKit) create(doc string) flowPipeline {
	k.t.Helper()
	var p flowPipeline
	k.c.do("POST", "/api/v1/pipelines", doc).want(http.StatusCreated).json(&p)
	return p
}

func (k *flowKit) update(p flowPipeline, doc string) *response {
	k.t.Helper()
	return k.c.do("PUT", "/api/v1/pipelines/"+p.ID.String(), doc)
}

// ingest posts a webhook body to p.
func (k *flowKit) ingest(p flowPipeline, body string) {
	k.t.Helper()
	u := strings.TrimPrefix(p.IngestURL, k.ts.URL)
	k.ts.client().do("POST", u, body).want(http.StatusAccepted)
}

// records lists p's newest records (up to 1000), oldest first.
func (k *flowKit) records(p flowPipeline) []flowRecord {
	k.t.Helper()
	var out struct {
		Records []flowRecord `json:"records"`
	}
	k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/records?limit=1000", nil).want(http.StatusOK).json(&out)
	for i, j := 0, len(out.Records)-1; i < j; i, j = i+1, j-1 {
		out.Records[i], out.Records[j] = out.Records[j], out.Records[i]
	}
	return out.Records
}

func (k *flowKit) runs(p flowPipeline) []flowRun {
	k.t.Helper()
	var out struct {
		Runs []flowRun `json:"runs"`
	}
	k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/runs?limit=1000", nil).want(http.StatusOK).json(&out)
	return out.Runs
}

// waitRecords waits until p has n records and returns them.
func (k *flowKit) waitRecords(p flowPipeline, n int) []flowRecord {
	k.t.Helper()
	var got []flowRecord
	eventually(k.t, 30*time.Second, p.Name+" has "+strconv.Itoa(n)+" records", func() bool {
		got = k.records(p)
		return len(got) >= n
	})
	if len(got) != n {
		k.t.Fatalf("%s has %d records, want %d", p.Name, len(got), n)
	}
	return got
}

// jobsDone counts the completed jobs of a kind.
func (k *flowKit) jobsDone(kind string) int {
	return k.ts.count(`SELECT count(*) FROM river_job WHERE kind = ? AND state = 'completed'`, kind)
}

func TestP2PChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")

		a := k.create(`{"name":"a","kind":"webhook"}`)
		// b reads a by name, maps its own fields and keeps a's event time.
		b := k.create(`{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"a"}},
			"mapping":{"timestamp":{"path":"ts"},"fields":{"temp_f":{"path":"temp","expr":"value * 9 / 5 + 32","type":"number"},"station":{"type":"string"}}}}`)
		// c reads b by id and validates: hot records are rejected.
		c := k.create(`{"name":"c","kind":"p2p","source":{"pipeline":{"upstream":"` + b.ID.String() + `"}},
			"validation":{"schema":{"type":"object","properties":{"temp_f":{"type":"number","maximum":100}}}}}`)
		if b.Kind != "p2p" || b.IngestURL != "" {
			t.Fatalf("p2p pipeline = %+v", b)
		}

		k.ingest(a, `[{"ts":"2026-03-01T10:00:00Z","temp":20,"station":"berlin"},{"ts":"2026-03-01T10:01:00Z","temp":50,"station":"cairo"},{"ts":"2026-03-01T10:02:00Z","temp":-10,"station":"oslo"}]`)

		gotB := k.waitRecords(b, 3)
		if gotB[0].Data["temp_f"] != 68.0 || gotB[0].Data["station"] != "berlin" || !gotB[0].TS.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("b's first record = %+v", gotB[0])
		}
		if _, ok := gotB[0].Data["temp"]; ok {
			t.Errorf("b kept a's field temp: %+v", gotB[0].Data)
		}
		gotC := k.waitRecords(c, 2) // cairo is 122°F: rejected by c's schema
		if gotC[0].Data["station"] != "berlin" || gotC[1].Data["station"] != "oslo" || !gotC[1].TS.Equal(time.Date(2026, 3, 1, 10, 2, 0, 0, time.UTC)) {
			t.Errorf("c's records = %+v", gotC)
		}
		eventually(t, 10*time.Second, "c's run counts the rejected record", func() bool {
			runs := k.runs(c)
			return len(runs) == 1 && runs[0].Trigger == "p2p" && runs[0].Stored == 2 && runs[0].Rejected == 1
		})
		if runs := k.runs(b); len(runs) != 1 || runs[0].Trigger != "p2p" || runs[0].Stored != 3 {
			t.Errorf("b's runs = %+v", runs)
		}

		// A second batch travels the same way; nothing is delivered twice.
		k.ingest(a, `{"ts":"2026-03-01T11:00:00Z","temp":0,"station":"rome"}`)
		k.waitRecords(c, 3)
		if got := k.waitRecords(b, 4); got[3].Data["temp_f"] != 32.0 {
			t.Errorf("b's newest record = %+v", got[3])
		}
	})
}

func TestP2PNotPersistedUpstream(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")
		up := k.create(`{"name":"relay","kind":"webhook","persist":false,"mapping":{"fields":{"v":{"path":"value","type":"integer"},"ts":{"path":"at","type":"time"}}}}`)
		down := k.create(`{"name":"kept","kind":"p2p","source":{"pipeline":{"upstream":"relay"}}}`)

		k.ingest(up, `[{"value":1,"at":"2026-01-02T03:04:05Z"},{"value":2,"at":"2026-01-02T03:04:06Z"},{"value":"x","at":"2026-01-02T03:04:07Z"}]`)
		got := k.waitRecords(down, 2)
		if got[0].Data["v"] != 1.0 || !got[0].TS.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || got[1].Data["v"] != 2.0 {
			t.Fatalf("downstream records = %+v", got)
		}
		if n := ts.count(`SELECT count(*) FROM records WHERE pipeline_id = ?`, up.ID); n != 0 {
			t.Fatalf("the persist=false upstream stored %d records", n)
		}

		// A paused downstream skips the batches that arrive meanwhile.
		k.c.do("POST", "/api/v1/pipelines/"+down.ID.String()+"/pause", nil).want(http.StatusOK)
		jobs := ts.count(`SELECT count(*) FROM river_job WHERE kind = 'p2p_run'`)
		k.ingest(up, `{"value":3,"at":"2026-01-02T03:04:08Z"}`)
		eventually(t, 30*time.Second, "the p2p job of the paused pipeline ran", func() bool { return k.jobsDone("p2p_run") == jobs+1 })
		if n := len(k.records(down)); n != 2 {
			t.Fatalf("paused downstream has %d records, want 2", n)
		}
		k.c.do("POST", "/api/v1/pipelines/"+down.ID.String()+"/resume", nil).want(http.StatusOK)
		k.ingest(up, `{"value":4,"at":"2026-01-02T03:04:09Z"}`)
		if got := k.waitRecords(down, 3); got[2].Data["v"] != 4.0 {
			t.Fatalf("after resume: %+v", got)
		}
	})
}

func TestP2PRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")
		a := k.create(`{"name":"a","kind":"webhook"}`)
		b := k.create(`{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"a"}}}`)
		c := k.create(`{"name":"c","kind":"p2p","source":{"pipeline":{"upstream":"b"}}}`)

		wantRefused := func(res *response, what string) {
			t.Helper()
			p := res.wantProblem(http.StatusUnprocessableEntity)
			if len(p.Errors) != 1 || p.Errors[0].Location != "body.source.pipeline.upstream" || !strings.Contains(p.Errors[0].Message, what) {
				t.Fatalf("%s: problem %+v does not say %q at body.source.pipeline.upstream", res.req, p, what)
			}
		}
		// A cycle: b reading from c (c reads from b).
		wantRefused(k.update(b, `{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"c"}}}`),
			`would form a cycle: "b" → "c" → "b"`)
		// A longer one, by id.
		d := k.create(`{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":"c"}}}`)
		wantRefused(k.update(b, `{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"`+d.ID.String()+`"}}}`),
			`"b" → "d" → "c" → "b"`)
		wantRefused(k.update(b, `{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"b"}}}`), "cannot read from itself")
		wantRefused(k.c.do("POST", "/api/v1/pipelines", `{"name":"e","kind":"p2p","source":{"pipeline":{"upstream":"nope"}}}`),
			`there is no pipeline "nope" in this team`)
		// Nothing of the refusals changed b.
		var got flowPipeline
		k.c.do("GET", "/api/v1/pipelines/"+b.ID.String(), nil).want(http.StatusOK).json(&got)
		if got.Version != 1 {
			t.Fatalf("refused updates changed b to version %d", got.Version)
		}

		// Another team cannot read a's records, by id or by name.
		other, _ := newFlowKit(t, ts, "eve@example.com", "Evil")
		wantRefused(other.c.do("POST", "/api/v1/pipelines", `{"name":"spy","kind":"p2p","source":{"pipeline":{"upstream":"`+a.ID.String()+`"}}}`),
			"in this team")
		wantRefused(other.c.do("POST", "/api/v1/pipelines", `{"name":"spy","kind":"p2p","source":{"pipeline":{"upstream":"a"}}}`),
			"in this team")
		if n := ts.count(`SELECT count(*) FROM pipelines WHERE name = 'spy'`); n != 0 {
			t.Fatalf("%d refused pipelines were stored", n)
		}

		// Moving c to read from a directly works; so does the chain again.
		k.update(c, `{"name":"c","kind":"p2p","source":{"pipeline":{"upstream":"a"}}}`).want(http.StatusOK)
		// b → d → c → a has no cycle any more.
		k.update(b, `{"name":"b","kind":"p2p","source":{"pipeline":{"upstream":"d"}}}`).want(http.StatusOK)
		// Deleting an upstream leaves its downstream without one; naming
		// the deleted pipeline again is refused.
		k.c.do("DELETE", "/api/v1/pipelines/"+a.ID.String(), nil).want(http.StatusNoContent)
		wantRefused(k.update(c, `{"name":"c","kind":"p2p","source":{"pipeline":{"upstream":"a"}}}`), `there is no pipeline "a"`)
	})
}
