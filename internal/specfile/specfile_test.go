package specfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/specfile"
)

const good = `# the orders pipeline
name: orders
kind: webhook
mapping:
  fields:
    total: { path: amount, type: number }
    id: { path: id, type: string }
retention: 7d
sinks:
  - name: alerts
    http: { url: "https://hooks.example.com/orders", signing_secret: alerts-key }
---
pipelines:
  - name: weather
    kind: polling
    source:
      interval: 5m
      http:
        url: https://api.example.com/v1/obs
        auth: { type: bearer, secret: weather-token }
  - {"name": "json-style", "kind": "webhook", "persist": false}
`

func TestReadAndEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	ps, probs := specfile.Read(compiler, "good.yaml", []byte(good))
	if probs != nil {
		t.Fatalf("problems: %v", probs)
	}
	if len(ps) != 3 || ps[0].Name != "orders" || ps[1].Name != "weather" || ps[2].Name != "json-style" {
		t.Fatalf("pipelines: %+v", ps)
	}
	if ps[0].Line != 2 || ps[0].LineOf("sinks[0].http.url") != 11 || ps[1].LineOf("source.http.auth.secret") != 20 {
		t.Errorf("lines: %d %d %d", ps[0].Line, ps[0].LineOf("sinks[0].http.url"), ps[1].LineOf("source.http.auth.secret"))
	}
	if got := specfile.SecretRefs(ps[0].Spec); len(got) != 1 || got[0] != "alerts-key" {
		t.Errorf("secret refs %v", got)
	}
	for _, p := range ps {
		y, err := specfile.Encode(p.Spec)
		if err != nil {
			t.Fatal(err)
		}
		again, probs := specfile.Read(compiler, "again.yaml", y)
		if probs != nil || len(again) != 1 || !specfile.Equal(again[0].Spec, p.Spec) {
			t.Errorf("%s does not round-trip:\n%s\n%s\n%s (%v)", p.Name, p.Spec, y, again[0].Spec, probs)
		}
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		want      []string // each must appear in one problem
	}{
		{"syntax", "name: a\n  kind: [\n", []string{"bad.yaml:", "not valid YAML"}},
		{"spec problems with lines", "name: a\nkind: webhook\nretention: soon\nmapping:\n  fields:\n    x: { path: a, type: nonsense }\n",
			[]string{"bad.yaml:3: retention:", "bad.yaml:6: mapping.fields.x"}},
		{"unknown field", "name: a\nkind: webhook\nsauce: {}\n", []string{"bad.yaml:3: sauce:"}},
		{"inline signing secret", "name: a\nkind: webhook\nsinks:\n  - name: s\n    http: { url: \"https://h.example.com\", signing_secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n",
			[]string{"bad.yaml:5: sinks[0].http.signing_secret", "create a secret"}},
		{"secret value object", "name: a\nkind: polling\nsource:\n  http:\n    url: https://x.example.com\n    auth:\n      type: bearer\n      secret:\n        value: hunter2\n",
			[]string{"bad.yaml:9: source.http.auth.secret", "create a secret"}},
		{"password", "name: a\nkind: webhook\nsinks:\n  - name: k\n    kafka: { brokers: [\"k:9092\"], topic: t, sasl: { mechanism: plain, username: u, password: hunter2 } }\n",
			[]string{"sinks[0].kafka.sasl.password", "create a secret"}},
		{"authorization header", "name: a\nkind: webhook\nsinks:\n  - name: h\n    http:\n      url: https://h.example.com\n      headers: { Authorization: Bearer abc }\n",
			[]string{"bad.yaml:7: sinks[0].http.headers.Authorization", "create a secret"}},
		{"password in URL", "name: a\nkind: polling\nsource:\n  http: { url: \"https://u:pw@x.example.com\" }\n", []string{"source.http.url", "password"}},
		{"not a spec", "- a\n- b\n", []string{"bad.yaml:1", "pipeline spec"}},
		{"empty", "", []string{"no pipeline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, probs := specfile.Read(compiler, "bad.yaml", []byte(tc.doc))
			if len(probs) == 0 {
				t.Fatal("no problem found")
			}
			all := probs.Error()
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems do not mention %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "hunter2") || strings.Contains(all, "whsec_MfKQ") || strings.Contains(all, "Bearer abc") {
				t.Errorf("a problem repeats the secret:\n%s", all)
			}
		})
	}
}

func TestLoadDirectoryAndDuplicates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "name: a\nkind: webhook\n")
	write("b.json", `{"name": "b", "kind": "webhook"}`)
	write("notes.txt", "ignored")
	ps, err := specfile.Load(compiler, dir)
	if err != nil || len(ps) != 2 {
		t.Fatalf("Load = %v, %v", ps, err)
	}
	write("c.yml", "name: a\nkind: webhook\n")
	_, err = specfile.Load(compiler, dir)
	if err == nil || !strings.Contains(err.Error(), "c.yml:1: name: pipeline \"a\" is also defined at") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := specfile.Load(compiler, filepath.Join(dir, "missing.yaml")); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing file: %v", err)
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"orders": "orders.yaml", "Weather Berlin!": "weather-berlin.yaml", "ÄÖ": "pipeline.yaml"} {
		if got := specfile.FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEqualIgnoresKeyOrder(t *testing.T) {
	t.Parallel()
	a := []byte(`{"name":"a","kind":"webhook","mapping":{"fields":{"x":{"path":"a","type":"number"},"b":{"type":"string","path":"b"}}}}`)
	b := []byte(`{"kind": "webhook", "mapping": {"fields": {"b": {"path": "b", "type": "string"}, "x": {"type": "number", "path": "a"}}}, "name": "a"}`)
	if !specfile.Equal(a, b) {
		t.Error("specs differing in key order only are not equal")
	}
	if specfile.Equal(a, []byte(`{"name":"a","kind":"webhook"}`)) {
		t.Error("different specs are equal")
	}
	y, err := specfile.Encode(b)
	if err != nil || !strings.HasPrefix(string(y), "name: a\nkind: webhook\nmapping:\n  fields:\n    b:\n      type: string\n      path: b\n") {
		t.Errorf("Encode:\n%s (%v)", y, err)
	}
}
