package delivery_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
)

func raws(docs ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = json.RawMessage(d)
	}
	return out
}

// checker is a Service with only the http kind and the default SSRF guard,
// enough for save-time checks.
func checker(t *testing.T) *delivery.Service {
	t.Helper()
	g := netguard.New(netguard.Config{MaxRedirects: -1})
	svc, err := delivery.New(delivery.Config{}, sink.NewRegistry(sink.HTTPKind), sink.Deps{HTTPClient: g.Client(), CheckURL: g.CheckURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(t.Context()) })
	return svc
}

func TestCheckSinks(t *testing.T) {
	t.Parallel()
	svc := checker(t)
	tests := []struct {
		name  string
		sinks []json.RawMessage
		want  []pipeline.Problem // path and a part of the message
	}{
		{"good", raws(`{"name":"a","http":{"url":"https://h.example.com"}}`, `{"name":"b","enabled":false,"http":{"url":"https://h.example.com"}}`), nil},
		{"no name", raws(`{"http":{"url":"https://h.example.com"}}`), []pipeline.Problem{{Path: "sinks[0].name", Message: "is required"}}},
		{"bad name", raws(`{"name":"a b","http":{"url":"https://h.example.com"}}`), []pipeline.Problem{{Path: "sinks[0].name", Message: "letters, digits"}}},
		{"duplicate", raws(`{"name":"a","http":{"url":"https://h.example.com"}}`, `{"name":"a","http":{"url":"https://h.example.com"}}`),
			[]pipeline.Problem{{Path: "sinks[1].name", Message: "sinks[0] already"}}},
		{"unknown kind", raws(`{"name":"a","ftp":{"url":"ftp://x"}}`), []pipeline.Problem{{Path: "sinks[0].ftp", Message: `"ftp" is not a sink kind: use one of "http"`}}},
		{"two kinds", raws(`{"name":"a","http":{},"blob":{}}`), []pipeline.Problem{{Path: "sinks[0]", Message: "exactly one kind"}}},
		{"no kind", raws(`{"name":"a"}`), []pipeline.Problem{{Path: "sinks[0]", Message: "names no kind"}}},
		{"enabled not a bool", raws(`{"name":"a","enabled":"yes","http":{"url":"https://h.example.com"}}`), []pipeline.Problem{{Path: "sinks[0].enabled", Message: "true or false"}}},
		{"settings not an object", raws(`{"name":"a","http":"https://h.example.com"}`), []pipeline.Problem{{Path: "sinks[0].http", Message: "must be an object"}}},
		{"literal loopback", raws(`{"name":"a","http":{"url":"http://127.0.0.1:8080/x"}}`), []pipeline.Problem{{Path: "sinks[0].http.url", Message: "loopback"}}},
		{"metadata address", raws(`{"name":"a","http":{"url":"http://169.254.169.254/"}}`), []pipeline.Problem{{Path: "sinks[0].http.url", Message: "169.254.169.254"}}},
		{"bad settings", raws(`{"name":"a","http":{"url":"https://h.example.com","mode":"x","timeout":"y"}}`),
			[]pipeline.Problem{{Path: "sinks[0].http.mode", Message: "is not a mode"}, {Path: "sinks[0].http.timeout", Message: "not a duration"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := svc.Check(tc.sinks)
			if len(got) != len(tc.want) {
				t.Fatalf("problems = %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].Path != w.Path || !strings.Contains(got[i].Message, w.Message) {
					t.Errorf("problem %d = %v, want %v", i, got[i], w)
				}
			}
		})
	}
	var many []string
	for i := range delivery.MaxSinks + 1 {
		many = append(many, `{"name":"s`+strings.Repeat("x", i)+`","http":{"url":"https://h.example.com"}}`)
	}
	if got, _ := svc.Check(raws(many...)); len(got) != 1 || got[0].Path != "sinks" {
		t.Errorf("too many sinks: %v", got)
	}
}

func TestSecretRefs(t *testing.T) {
	t.Parallel()
	refs := delivery.SecretRefs(raws(
		`{"name":"a","http":{"url":"https://x","signing_secret":"sig","auth":{"type":"bearer","secret":"tok"}}}`,
		`{"name":"b","blob":{"url":"s3://b","access_key_id_secret":"ak","secret_access_key_secret":"sk","format":"csv"}}`,
		`{"name":"c","kafka":{"brokers":["b:9092"],"sasl":{"password_secret":"pw","username":"u"}}}`,
		`not json`,
	))
	want := []delivery.SecretRef{
		{Path: "sinks[0].http.auth.secret", Name: "tok"},
		{Path: "sinks[0].http.signing_secret", Name: "sig", Signing: true},
		{Path: "sinks[1].blob.access_key_id_secret", Name: "ak"},
		{Path: "sinks[1].blob.secret_access_key_secret", Name: "sk"},
		{Path: "sinks[2].kafka.sasl.password_secret", Name: "pw"},
	}
	if len(refs) != len(want) {
		t.Fatalf("refs = %+v", refs)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Errorf("ref %d = %+v, want %+v", i, refs[i], want[i])
		}
	}
}

func TestSinkSpecCanonicalForm(t *testing.T) {
	t.Parallel()
	s, ps := delivery.ParseSink(json.RawMessage(`{ "http": {"url": "https://x" }, "name": "a" }`), "sinks[0]")
	if len(ps) != 0 || !s.Enabled || s.Kind != "http" {
		t.Fatalf("parsed %+v %v", s, ps)
	}
	b, err := json.Marshal(s)
	if err != nil || string(b) != `{"name":"a","enabled":true,"http":{"url":"https://x"}}` {
		t.Fatalf("canonical form %s %v", b, err)
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	got, err := delivery.ParseSchedule(" 1s, 2m,3h ")
	if err != nil || len(got) != 3 || got[0] != time.Second || got[1] != 2*time.Minute || got[2] != 3*time.Hour {
		t.Fatalf("schedule %v %v", got, err)
	}
	if got, err := delivery.ParseSchedule(""); err != nil || got != nil {
		t.Fatalf("empty schedule %v %v", got, err)
	}
	for _, bad := range []string{"1s,,2s", "0s", "-1s", "soon"} {
		if _, err := delivery.ParseSchedule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
