package source_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tributary-dev/tributary/internal/source"
)

// Every kind's example satisfies its settings schema and decodes strictly
// into its spec type, and the schema refuses an unknown setting.
func TestKindsDescribeThemselves(t *testing.T) {
	t.Parallel()
	for _, k := range source.Builtin().Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			sch := compileSchema(t, k.Schema())
			if err := sch.Validate(decodeAny(t, k.Example)); err != nil {
				t.Errorf("the example does not satisfy the schema: %v", err)
			}
			dec := json.NewDecoder(strings.NewReader(k.Example))
			dec.DisallowUnknownFields()
			if err := dec.Decode(k.NewSpec()); err != nil {
				t.Errorf("the example does not decode strictly: %v", err)
			}
			var ex map[string]any
			_ = json.Unmarshal([]byte(k.Example), &ex)
			ex["no_such_setting"] = 1
			b, _ := json.Marshal(ex)
			if sch.Validate(decodeAny(t, string(b))) == nil {
				t.Error("the schema accepts an unknown setting")
			}
			if k.Description == "" {
				t.Error("no description")
			}
		})
	}
}

func TestRegistrySecretsOf(t *testing.T) {
	t.Parallel()
	reg := source.Builtin()
	for _, tc := range []struct {
		kind, part string
		want       []source.SecretRef
	}{
		{"http", `{"url":"https://x","auth":{"type":"bearer","secret":"tok"}}`, []source.SecretRef{{Path: "http.auth.secret", Name: "tok"}}},
		{"graphql", `{"auth":{"secret":"gh"}}`, []source.SecretRef{{Path: "graphql.auth.secret", Name: "gh"}}},
		// A part that no longer builds still names its secret.
		{"http", `{"url":5,"auth":{"type":"nope","secret":"tok"}}`, []source.SecretRef{{Path: "http.auth.secret", Name: "tok"}}},
		{"http", `{"url":"https://x"}`, nil},
		{"http", `[1]`, nil},
		{"ftp", `{"auth":{"secret":"tok"}}`, nil},
	} {
		got := reg.SecretsOf(tc.kind, json.RawMessage(tc.part))
		if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
			t.Errorf("SecretsOf(%s, %s) = %v, want %v", tc.kind, tc.part, got, tc.want)
		}
	}
}

func TestRegistryRefusesDuplicates(t *testing.T) {
	t.Parallel()
	for name, kinds := range map[string][]source.Kind{
		"twice":      {source.HTTPKind, source.GraphQLKind, source.HTTPKind},
		"incomplete": {{Name: "bare"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("NewRegistry did not panic")
				}
			}()
			source.NewRegistry(kinds...)
		})
	}
	if got := source.Builtin().Kinds(); len(got) != 2 || got[0].Name != "http" || got[1].Name != "graphql" {
		t.Errorf("Kinds() = %v, want http and graphql in registration order", got)
	}
}

func compileSchema(t *testing.T, raw json.RawMessage) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("settings.json", decodeAny(t, string(raw))); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("settings.json")
	if err != nil {
		t.Fatalf("compile the schema %s: %v", raw, err)
	}
	return s
}

func decodeAny(t *testing.T, doc string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
