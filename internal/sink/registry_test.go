package sink_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tributary-dev/tributary/internal/sink"
)

// Every kind's example satisfies its settings schema, decodes strictly
// into its settings type and passes the kind's own validation, and the
// schema refuses an unknown setting.
func TestKindsDescribeThemselves(t *testing.T) {
	t.Parallel()
	deps := sink.Deps{CheckURL: func(string) error { return nil }}
	for _, k := range sink.Builtin(sink.BlobConfig{FileRoot: t.TempDir()}).Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			sch := compileSchema(t, k.Schema())
			if err := sch.Validate(decodeAny(t, k.Example)); err != nil {
				t.Errorf("the example does not satisfy the schema: %v", err)
			}
			dec := json.NewDecoder(strings.NewReader(k.Example))
			dec.DisallowUnknownFields()
			if err := dec.Decode(k.NewSettings()); err != nil {
				t.Errorf("the example does not decode strictly: %v", err)
			}
			secrets, err := k.Validate(json.RawMessage(k.Example), deps)
			if err != nil {
				t.Errorf("the kind refuses its example: %v", err)
			}
			// What Secrets declares is what Validate finds.
			declared := sink.Builtin(sink.BlobConfig{}).SecretsOf(k.Name, json.RawMessage(k.Example))
			if len(declared) != len(secrets) {
				t.Errorf("Secrets declares %v, Validate found %v", declared, secrets)
			}
			for i := range min(len(declared), len(secrets)) {
				if declared[i].Name != secrets[i] {
					t.Errorf("secret %d: declared %v, Validate found %q", i, declared[i], secrets[i])
				}
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
	reg := sink.Builtin(sink.BlobConfig{})
	got := reg.SecretsOf("http", json.RawMessage(`{"url":"https://x","auth":{"type":"bearer","secret":"a"},"signing_secret":"s"}`))
	want := []sink.SecretRef{{Path: "auth.secret", Name: "a"}, {Path: "signing_secret", Name: "s", Signing: true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("http: %v, want %v", got, want)
	}
	// Settings that no longer validate still name their secrets.
	if got := reg.SecretsOf("kafka", json.RawMessage(`{"brokers":"x","sasl":{"password_secret":"pw"}}`)); len(got) != 1 || got[0].Path != "sasl.password_secret" {
		t.Errorf("kafka: %v", got)
	}
	if got := reg.SecretsOf("ftp", json.RawMessage(`{"secret":"x"}`)); got != nil {
		t.Errorf("unknown kind: %v", got)
	}
}

func TestRegistryRefusesDuplicates(t *testing.T) {
	t.Parallel()
	for name, kinds := range map[string][]sink.Kind{
		"twice":      {sink.HTTPKind, sink.PostgresKind, sink.HTTPKind},
		"incomplete": {{Name: "bare"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("NewRegistry did not panic")
				}
			}()
			sink.NewRegistry(kinds...)
		})
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

func TestCanonicalSink(t *testing.T) {
	r := sink.Builtin(sink.BlobConfig{})
	out, changed := r.CanonicalSink([]byte(`{"name":"a","http":{"url":"https://x.example.com","auth":{"type":"header","header":"X-K","secret":"k"}}}`))
	if !changed || !strings.Contains(string(out), `"type":"api_key"`) || !strings.Contains(string(out), `"header":"X-K"`) {
		t.Fatalf("canonical %s (changed %v)", out, changed)
	}
	for _, in := range []string{
		`{"name":"a","http":{"url":"https://x.example.com","auth":{"type":"api_key","header":"X-K","secret":"k"}}}`,
		`{"name":"a","http":{"url":"https://x.example.com"}}`,
		`not json`,
	} {
		if out, changed := r.CanonicalSink([]byte(in)); changed || string(out) != in {
			t.Errorf("%s: changed to %s", in, out)
		}
	}
}
