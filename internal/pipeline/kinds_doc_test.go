package pipeline_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

var update = flag.Bool("update", false, "rewrite docs/kinds.md and docs/pipelines.md from the code")

// docs/kinds.md lists every source and sink kind with its settings; it is
// written from the registries (go test ./internal/pipeline -run
// TestKindsDoc -update) and this test fails when it is stale.
func TestKindsDoc(t *testing.T) {
	t.Parallel()
	c := pipeline.NewCompiler(source.Builtin(), sink.Builtin(sink.BlobConfig{}))
	checkDoc(t, "kinds.md", kindsDoc(c))
}

// checkDoc fails the test when docs/name is not got, the document the test
// writes; with -update it rewrites the file first.
func checkDoc(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./internal/pipeline -run %s -update", path, t.Name())
	}
}

func kindsDoc(c *pipeline.Compiler) []byte {
	var b bytes.Buffer
	b.WriteString("# Source and sink kinds\n\n")
	b.WriteString("<!-- Written by `go test ./internal/pipeline -run TestKindsDoc -update` from the registries; do not edit. -->\n\n")
	b.WriteString("The server publishes the same list, with each kind's JSON Schema (draft 2020-12), at\n")
	b.WriteString("`GET /api/v1/source-kinds` and `GET /api/v1/sink-kinds`.\n\n")
	b.WriteString("## Sources\n\nA pipeline's `source` holds the part of its kind:\n\n")
	for _, k := range c.SourceKinds() {
		fmt.Fprintf(&b, "### `source.%s` (%s pipelines)\n\n%s\n\n%s\n\n", k.Name, k.Pipeline, k.Summary, k.Description)
		settingsTable(&b, k.Schema)
		example(&b, k.Name, k.Example)
	}
	b.WriteString("## Sinks\n\nEach entry of a pipeline's `sinks` is `{\"name\": …, \"enabled\": true, \"<kind>\": {settings}}`.\n\n")
	b.WriteString(sinkPromises)
	for _, k := range c.Sinks().Kinds() {
		fmt.Fprintf(&b, "### `%s`\n\n%s.\n\n%s\n\n", k.Name, capitalize(k.Summary), k.Description)
		if k.MaxBatch > 0 {
			fmt.Fprintf(&b, "One delivery carries at most %d records.\n\n", k.MaxBatch)
		}
		settingsTable(&b, k.Schema())
		example(&b, k.Name, json.RawMessage(k.Example))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type jsonSchema struct {
	Type                 any                    `json:"type"`
	Ref                  string                 `json:"$ref"`
	Description          string                 `json:"description"`
	Properties           map[string]*jsonSchema `json:"properties"`
	Required             []string               `json:"required"`
	Items                *jsonSchema            `json:"items"`
	AdditionalProperties any                    `json:"additionalProperties"`
	Defs                 map[string]*jsonSchema `json:"$defs"`
}

// settingsTable lists the settings of a schema, nested objects with
// dotted names.
func settingsTable(b *bytes.Buffer, raw json.RawMessage) {
	var s jsonSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(err)
	}
	defs := s.Defs
	b.WriteString("| setting | type | required |\n| --- | --- | --- |\n")
	var rows func(prefix string, s *jsonSchema)
	rows = func(prefix string, s *jsonSchema) {
		for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
			p := s.Properties[name]
			if p.Ref != "" {
				p = defs[strings.TrimPrefix(p.Ref, "#/$defs/")]
			}
			req := ""
			if slices.Contains(s.Required, name) {
				req = "yes"
			}
			fmt.Fprintf(b, "| `%s%s` | %s | %s |\n", prefix, name, typeName(p), req)
			if p.Properties != nil {
				rows(prefix+name+".", p)
			}
		}
	}
	rows("", &s)
	b.WriteString("\n")
}

func typeName(s *jsonSchema) string {
	switch t := s.Type.(type) {
	case string:
		if t == "array" && s.Items != nil {
			return "array of " + typeName(s.Items)
		}
		return t
	case []any:
		var parts []string
		for _, p := range t {
			if p != "null" {
				parts = append(parts, fmt.Sprint(p))
			}
		}
		if len(parts) == 1 && parts[0] == "array" && s.Items != nil {
			return "array of " + typeName(s.Items)
		}
		return strings.Join(parts, " or ")
	}
	return "any"
}

func example(b *bytes.Buffer, name string, raw json.RawMessage) {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		panic(err)
	}
	fmt.Fprintf(b, "Example:\n\n```json\n\"%s\": %s\n```\n\n", name, out.String())
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sinkPromises is what every sink kind promises, written before the kinds.
const sinkPromises = `What every sink kind promises:

- **At least once.** Each committed batch becomes one delivery per enabled
  sink, retried with backoff until it succeeds or is dead (then you can
  retry or replay it). A delivery may arrive twice (a retry after an
  answer that was lost, a node killed mid-send): an HTTP delivery carries
  a stable ` + "`webhook-id`" + ` to drop repeats by, a ` + "`postgres`" + ` sink with
  ` + "`upsert.key`" + ` overwrites instead of adding a row, and for files and
  Kafka messages dedupe on a key of your records.
- **Usually in commit order, not strictly.** Deliveries of a sink are sent
  in the order their batches committed, but a delivery waiting to be
  retried does not hold back the ones after it, and a cluster may send
  two batches of one sink at once from different nodes. A receiver that
  needs order should sort by the records' timestamps or ids, not by
  arrival.

`
