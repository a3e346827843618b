package web

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A spec read into the form and built again is the same spec, settings
// the form does not show included.
func TestSpecFormRoundTrip(t *testing.T) {
	docs := []string{
		`{"name":"w","kind":"webhook","source":{"webhook":{"signing_secret":"wh","tolerance":"5m","max_body_bytes":1024}},
		  "mapping":{"records":"items","timestamp":{"path":"at"},"fields":{"t":{"path":"temp","type":"number","expr":"value * 2"}}},
		  "validation":{"schema":{"required":["t"]}},"persist":true,"retention":"7d",
		  "sinks":[{"name":"out","webhook":{"url":"https://example.com/in"}}]}`,
		`{"name":"p","kind":"polling","source":{"interval":"60s","state":{"since":"2025-01-01"},
		  "http":{"url":"https://api.example.com/x","query":{"since":"{{ state.since }}"},"records":"data",
		    "auth":{"type":"bearer","secret":"tok"},"pagination":{"type":"offset","param":"offset","limit":50}}},
		  "persist":false,"retention":"forever"}`,
		`{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":"w"}},"mapping":{"expr":"record"},"persist":true}`,
	}
	for _, doc := range docs {
		f := formFromSpec([]byte(doc))
		got, err := f.spec()
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var want, have any
		_ = json.Unmarshal([]byte(doc), &want)
		_ = json.Unmarshal(got, &have)
		if !reflect.DeepEqual(want, have) {
			t.Errorf("round trip changed the spec:\n was %s\n now %s", doc, got)
		}
	}
}

// Switching kind drops the other kinds' settings; bad JSON in the schema
// or sinks is the form's error at that field.
func TestSpecFormEdits(t *testing.T) {
	f := formFromSpec([]byte(`{"name":"p","kind":"polling","source":{"interval":"60s","http":{"url":"https://x.example"}}}`))
	f.Kind, f.Upstream = "p2p", "up"
	got, err := f.spec()
	if err != nil || strings.Contains(string(got), "http") || strings.Contains(string(got), "interval") || !strings.Contains(string(got), `"upstream":"up"`) {
		t.Fatalf("to p2p: %s %v", got, err)
	}
	f.Schema, f.Sinks = `{"required": [`, `[{`
	_, err = f.spec()
	_, ps, ok := problemsOf(err)
	if !ok || f.FieldErrors["validation.schema"] == "" || f.FieldErrors["sinks"] == "" || len(ps) != 2 {
		t.Fatalf("bad JSON: %v %v", err, f.FieldErrors)
	}
	f.Problems = ps
	if got := f.problemsAt("validation"); len(got) != 1 || !strings.Contains(got[0], "schema: is not valid JSON") {
		t.Fatalf("the schema's problems: %v", got)
	}
	if got := f.problemsAt("sinks"); len(got) != 1 {
		t.Fatalf("the sinks' problems: %v", got)
	}
}

func TestCustomRange(t *testing.T) {
	now := mustTime(t, "2025-06-01T12:00:00Z")
	for _, c := range []struct{ from, to, err string }{
		{"2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z", ""},
		{"2025-05-01T00:00", "2025-05-01T06:30", ""},
		{"", "2025-05-02T00:00", "needs a start and an end"},
		{"yesterday", "2025-05-02T00:00", "needs a start and an end"},
		{"2025-05-02T00:00", "2025-05-01T00:00", "after its start"},
		{"2023-01-01T00:00", "2025-05-01T00:00", "at most 400 days"},
		{"2025-07-01T00:00", "2025-07-02T00:00", "in the future"},
	} {
		_, _, msg := customRange(c.from, c.to, now)
		if c.err == "" && msg != "" || c.err != "" && !strings.Contains(msg, c.err) {
			t.Errorf("customRange(%q, %q) = %q, want %q", c.from, c.to, msg, c.err)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
