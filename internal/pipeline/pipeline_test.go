package pipeline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

func TestParseGood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		doc   string
		check func(t *testing.T, c *pipeline.Compiled)
	}{
		{
			name: "minimal webhook gets every default",
			doc:  `{"name":"hooks","kind":"webhook","source":{}}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if !c.Persist || c.Retention != 30*pipeline.Day || c.Mapping != nil || c.Schema != nil {
					t.Errorf("persist %v retention %v mapping %v schema %v", c.Persist, c.Retention, c.Mapping, c.Schema)
				}
				if c.MaxBodyBytes != pipeline.DefaultMaxBodyBytes || c.WebhookTolerance != 5*time.Minute || c.SigningSecret != "" || c.MaxRecords != pipeline.DefaultMaxRecords {
					t.Errorf("webhook settings %d %v %q %d", c.MaxBodyBytes, c.WebhookTolerance, c.SigningSecret, c.MaxRecords)
				}
			},
		},
		{
			name: "webhook with everything",
			doc: `{
				"name": "Weather — Berlin & Potsdam",
				"kind": "webhook",
				"source": {"webhook": {"signing_secret": "hook-key_1", "tolerance": "30s", "max_body_bytes": 1048576, "max_records": 500}},
				"mapping": {
					"timestamp": {"path": "observed_at", "format": "rfc3339"},
					"fields": {
						"temperature_c": {"path": "temp_k", "expr": "value - 273.15", "type": "number"},
						"station": {"path": "station.id", "type": "string", "required": true},
						"big": {"path": "n", "type": "integer", "default": 1234567890123456789}
					}
				},
				"validation": {"schema": {"type": "object", "required": ["temperature_c"],
					"properties": {"temperature_c": {"type": "number", "minimum": -90, "maximum": 60}}}},
				"persist": false,
				"retention": "forever",
				"sinks": [{"name": "later", "http": {"url": "https://example.com"}}]
			}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Persist || c.Retention != 0 || c.Mapping == nil || c.Schema == nil {
					t.Errorf("persist %v retention %v mapping %v schema %v", c.Persist, c.Retention, c.Mapping, c.Schema)
				}
				if c.MaxBodyBytes != 1<<20 || c.WebhookTolerance != 30*time.Second || c.SigningSecret != "hook-key_1" || c.MaxRecords != 500 {
					t.Errorf("webhook settings %d %v %q %d", c.MaxBodyBytes, c.WebhookTolerance, c.SigningSecret, c.MaxRecords)
				}
				if len(c.Spec.Sinks) != 1 {
					t.Errorf("sinks %s", c.Spec.Sinks)
				}
			},
		},
		{
			name: "polling over http",
			doc: `{"name":"p","kind":"polling","source":{"http":{"url":"https://api.example.com"},"interval":"60s",
				"state":{"cursor":{"from":"id"}}},"retention":"12h"}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Interval != time.Minute || c.Retention != 12*time.Hour || c.MaxBodyBytes != 0 || c.Spec.Source.Webhook != nil || c.Source == nil || c.Source.Kind() != "http" {
					t.Errorf("interval %v retention %v body %d webhook %v", c.Interval, c.Retention, c.MaxBodyBytes, c.Spec.Source.Webhook)
				}
			},
		},
		{
			name: "polling over graphql, interval in days",
			doc:  `{"name":"g","kind":"polling","source":{"graphql":{"url":"https://api.example.com/graphql","query":"{ events { nodes { id } } }","records":"events.nodes"},"interval":"1d"},"retention":"1y"}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Interval != pipeline.Day || c.Retention != pipeline.Year {
					t.Errorf("interval %v retention %v", c.Interval, c.Retention)
				}
			},
		},
		{
			name: "p2p",
			doc:  `{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"up"}},"retention":"2w"}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Retention != 14*pipeline.Day || c.Upstream != "up" {
					t.Errorf("retention %v upstream %q", c.Retention, c.Upstream)
				}
			},
		},
		{
			name: "nulls mean absent",
			doc:  `{"name":"n","kind":"webhook","source":{"webhook":null,"http":null},"mapping":null,"validation":null,"persist":null,"sinks":null}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if !c.Persist || c.Mapping != nil || c.Schema != nil || c.Spec.Source.Part("http") != nil {
					t.Errorf("persist %v mapping %v schema %v http %s", c.Persist, c.Mapping, c.Schema, c.Spec.Source.Part("http"))
				}
			},
		},
		{
			name: "empty mapping and validation are none",
			doc:  `{"name":"e","kind":"webhook","source":{"webhook":{}},"mapping":{},"validation":{}}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Mapping != nil || c.Schema != nil || c.Spec.Validation != nil {
					t.Errorf("mapping %v schema %v validation %v", c.Mapping, c.Schema, c.Spec.Validation)
				}
			},
		},
		{
			name: "boolean schema, longest name, go duration retention",
			doc:  `{"name":"` + strings.Repeat("é", 100) + `","kind":"webhook","source":{},"validation":{"schema":true},"retention":"36h"}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.Schema == nil || c.Retention != 36*time.Hour {
					t.Errorf("schema %v retention %v", c.Schema, c.Retention)
				}
			},
		},
		{
			name: "limits of the webhook settings",
			doc:  `{"name":"l","kind":"webhook","source":{"webhook":{"signing_secret":"k","tolerance":"1h","max_body_bytes":104857600}}}`,
			check: func(t *testing.T, c *pipeline.Compiled) {
				if c.WebhookTolerance != time.Hour || c.MaxBodyBytes != 100<<20 {
					t.Errorf("tolerance %v body %d", c.WebhookTolerance, c.MaxBodyBytes)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := compiler.Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, c)

			// The canonical form is stable and compiles to the same thing.
			canon, err := c.Spec.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := compiler.Parse(canon)
			if err != nil {
				t.Fatalf("Parse(canonical %s): %v", canon, err)
			}
			canon2, err := c2.Spec.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(canon, canon2) {
				t.Errorf("canonical form changed:\n%s\n%s", canon, canon2)
			}
			tc.check(t, c2)
		})
	}
}

func TestParseBad(t *testing.T) {
	t.Parallel()
	const hook = `"name":"h","kind":"webhook","source":{}`
	type want struct{ path, msg string }
	for _, tc := range []struct {
		name string
		doc  string
		want []want // every problem, in order
	}{
		// Not a document.
		{"empty", ``, []want{{"", "the document is empty"}}},
		{"blank", " \n\t", []want{{"", "the document is empty"}}},
		{"not JSON", `name: x`, []want{{"", "invalid JSON at line 1, column 2: invalid character 'a'"}}},
		{"syntax error position", "{\n  \"name\": \"x\",\n  \"kind\": }", []want{{"", "invalid JSON at line 3, column 11"}}},
		{"truncated", `{"name":"x",`, []want{{"", "ends too early"}}},
		{"trailing data", `{` + hook + `} {}`, []want{{"", "unexpected data after the document at line 1, column"}}},
		{"array", `[{` + hook + `}]`, []want{{"", "must be a JSON object, not an array"}}},
		{"string", `"pipeline"`, []want{{"", "must be a JSON object, not a string"}}},
		{"null", `null`, []want{{"name", "is required"}, {"kind", "is required"}}},

		// Unknown, misspelt and repeated fields.
		{"unknown field", `{` + hook + `,"colour":"red"}`, []want{{"colour", "unknown field; known fields are name, kind, source"}}},
		{"other case", `{` + hook + `,"Persist":true}`, []want{{"Persist", `did you mean "persist"?`}}},
		{"repeated field", `{` + hook + `,"name":"again"}`, []want{{"name", "appears more than once"}}},
		{"unknown source", `{"name":"h","kind":"webhook","source":{"kafka":{}}}`, []want{{"source.kafka", "unknown field"}}},
		{"unknown webhook setting", `{"name":"h","kind":"webhook","source":{"webhook":{"secret":"k"}}}`, []want{{"source.webhook.secret", "known fields are signing_secret, tolerance, max_body_bytes"}}},
		{"unknown validation field", `{` + hook + `,"validation":{"schema":{},"strict":true}}`, []want{{"validation.strict", "unknown field"}}},
		{"unknown mapping field, other problems still found", `{` + hook + `,"mapping":{"fields":{"t":{"path":"a","expr":"value +","typ":"number"}}},"retention":"soon"}`, []want{
			{"mapping.fields.t.typ", `unknown field`},
			{"mapping.fields.t.expr", "(line 1, column"},
			{"retention", `"soon" is not a duration`},
		}},
		{"repeated mapping field", `{` + hook + `,"mapping":{"fields":{"a":{},"a":{}}}}`, []want{{"mapping.fields.a", "appears more than once"}}},

		// Wrong JSON types.
		{"name is a number", `{"name":5,"kind":"webhook","source":{}}`, []want{{"name", "must be a string, not the number 5"}}},
		{"persist is a string", `{` + hook + `,"persist":"yes"}`, []want{{"persist", "must be true or false, not a string"}}},
		{"source is an array", `{"name":"h","kind":"webhook","source":[]}`, []want{{"source", "must be an object, not an array"}}},
		{"sinks is an object", `{` + hook + `,"sinks":{}}`, []want{{"sinks", "must be an array, not an object"}}},
		{"fractional body limit", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":1.5}}}`, []want{{"source.webhook.max_body_bytes", "must be an integer, not the number 1.5"}}},
		{"body limit as text", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":"10MB"}}}`, []want{{"source.webhook.max_body_bytes", "must be an integer, not a string"}}},
		{"mapping is an array", `{` + hook + `,"mapping":[]}`, []want{{"mapping", "must be an object"}}},
		{"mapping type is a number", `{` + hook + `,"mapping":{"fields":{"t":{"type":1}}}}`, []want{{"mapping.fields.t.type", "must be a string, not the number 1"}}},
		{"several wrong types at once", `{"name":["x"],"kind":true,"source":{"webhook":{"tolerance":5,"max_body_bytes":1e9}},"persist":0}`, []want{
			{"name", "must be a string, not an array"},
			{"kind", "must be a string, not a boolean"},
			{"source.webhook.tolerance", "must be a string, not the number 5"},
			{"source.webhook.max_body_bytes", "must be an integer, not the number 1e9"},
			{"persist", "must be true or false, not the number 0"},
		}},
		{"huge integer", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":99999999999999999999}}}`, []want{{"source.webhook.max_body_bytes", "must be an integer, not the number 99999999999999999999"}}},
		{"source part is text", `{"name":"p","kind":"polling","source":{"http":"https://x","interval":"1m"}}`, []want{{"source.http", "must be an object"}}},

		// Name.
		{"no name", `{"kind":"webhook","source":{}}`, []want{{"name", "is required"}}},
		{"empty name", `{"name":"","kind":"webhook","source":{}}`, []want{{"name", "is required"}}},
		{"long name", `{"name":"` + strings.Repeat("x", 101) + `","kind":"webhook","source":{}}`, []want{{"name", "has 101 characters, more than the limit of 100"}}},
		{"name with spaces around", `{"name":" x ","kind":"webhook","source":{}}`, []want{{"name", "starts or ends with a space"}}},
		{"name with a newline", `{"name":"a\nb","kind":"webhook","source":{}}`, []want{{"name", "control character"}}},

		// Kind and source.
		{"no kind", `{"name":"h","source":{}}`, []want{{"kind", "is required"}}},
		{"unknown kind", `{"name":"h","kind":"cron","source":{}}`, []want{{"kind", `"cron" is not a kind`}}},
		{"webhook with http", `{"name":"h","kind":"webhook","source":{"http":{"url":"https://x"}}}`, []want{{"source.http", "is for polling pipelines; a webhook pipeline has no http"}}},
		{"webhook with interval and state", `{"name":"h","kind":"webhook","source":{"interval":"1m","state":{}}}`, []want{{"source.interval", "a webhook pipeline has no interval"}, {"source.state", "a webhook pipeline has no state"}}},
		{"polling with webhook", `{"name":"p","kind":"polling","source":{"webhook":{},"http":{"url":"https://x"},"interval":"1m"}}`, []want{{"source.webhook", "is for webhook pipelines"}}},
		{"polling without source", `{"name":"p","kind":"polling","source":{"interval":"1m"}}`, []want{{"source", "needs an http or a graphql source"}}},
		{"polling with both sources", `{"name":"p","kind":"polling","source":{"http":{},"graphql":{},"interval":"1m"}}`, []want{{"source", "either http or graphql"}}},
		{"polling interval not a duration", `{"name":"p","kind":"polling","source":{"http":{"url":"https://x"},"interval":"often"}}`, []want{{"source.interval", `"often" is not a duration`}}},
		{"polling interval zero", `{"name":"p","kind":"polling","source":{"http":{"url":"https://x"},"interval":"0s"}}`, []want{{"source.interval", "shorter than the minimum of 1s"}}},
		{"polling interval too long", `{"name":"p","kind":"polling","source":{"http":{"url":"https://x"},"interval":"31d"}}`, []want{{"source.interval", "longer than the maximum of 30d"}}},
		{"p2p without upstream", `{"name":"d","kind":"p2p","source":{}}`, []want{{"source.pipeline", "is required"}}},
		{"p2p with graphql", `{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":"u"},"graphql":{}}}`, []want{{"source.graphql", "a p2p pipeline has no graphql"}}},
		{"p2p with empty upstream", `{"name":"d","kind":"p2p","source":{"pipeline":{}}}`, []want{{"source.pipeline.upstream", "is required"}}},
		{"p2p upstream misspelt", `{"name":"d","kind":"p2p","source":{"pipeline":{"upstraem":"u"}}}`, []want{{"source.pipeline.upstraem", "unknown field"}, {"source.pipeline.upstream", "is required"}}},
		{"p2p upstream not a string", `{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":7}}}`, []want{{"source.pipeline.upstream", ""}}},
		{"p2p upstream with spaces", `{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":" u"}}}`, []want{{"source.pipeline.upstream", "starts or ends with a space"}}},

		// Webhook settings.
		{"bad secret name", `{"name":"h","kind":"webhook","source":{"webhook":{"signing_secret":"My Key"}}}`, []want{{"source.webhook.signing_secret", "must name a team secret"}}},
		{"tolerance not a duration", `{"name":"h","kind":"webhook","source":{"webhook":{"signing_secret":"k","tolerance":"5 minutes"}}}`, []want{{"source.webhook.tolerance", "not a duration"}}},
		{"tolerance zero", `{"name":"h","kind":"webhook","source":{"webhook":{"signing_secret":"k","tolerance":"0s"}}}`, []want{{"source.webhook.tolerance", "shorter than the minimum of 1s"}}},
		{"tolerance too long", `{"name":"h","kind":"webhook","source":{"webhook":{"tolerance":"2h"}}}`, []want{{"source.webhook.tolerance", "longer than the maximum of 1h"}}},
		{"body limit too small", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":10}}}`, []want{{"source.webhook.max_body_bytes", "10 is not between 1024 (1 KiB) and 104857600 (100 MiB)"}}},
		{"body limit negative", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":-1}}}`, []want{{"source.webhook.max_body_bytes", "-1 is not between"}}},
		{"body limit too large", `{"name":"h","kind":"webhook","source":{"webhook":{"max_body_bytes":104857601}}}`, []want{{"source.webhook.max_body_bytes", "is not between"}}},
		{"record limit negative", `{"name":"h","kind":"webhook","source":{"webhook":{"max_records":-1}}}`, []want{{"source.webhook.max_records", "-1 is not between 1 and 1000000"}}},
		{"record limit too large", `{"name":"h","kind":"webhook","source":{"webhook":{"max_records":1000001}}}`, []want{{"source.webhook.max_records", "is not between"}}},

		// Retention.
		{"retention zero", `{` + hook + `,"retention":"0d"}`, []want{{"retention", `"0d" is shorter than the minimum of 1h (or say "forever")`}}},
		{"retention in words", `{` + hook + `,"retention":"30 days"}`, []want{{"retention", "not a duration"}}},
		{"retention negative", `{` + hook + `,"retention":"-1d"}`, []want{{"retention", "whole number"}}},
		{"retention fractional days", `{` + hook + `,"retention":"1.5d"}`, []want{{"retention", "whole number"}}},
		{"retention too short", `{` + hook + `,"retention":"30m"}`, []want{{"retention", "shorter than the minimum of 1h"}}},
		{"retention too long", `{` + hook + `,"retention":"101y"}`, []want{{"retention", "longer than the maximum of 100y"}}},
		{"retention overflows", `{` + hook + `,"retention":"9999999999999d"}`, []want{{"retention", "too long"}}},
		{"retention misspelt forever", `{` + hook + `,"retention":"Forever"}`, []want{{"retention", "not a duration"}}},

		// Mapping.
		{"expression syntax", `{` + hook + `,"mapping":{"fields":{"temp":{"path":"t","expr":"value * * 2"}}}}`, []want{{"mapping.fields.temp.expr", "(line 1, column"}}},
		{"unknown field type", `{` + hook + `,"mapping":{"fields":{"t":{"type":"numbr"}}}}`, []want{{"mapping.fields.t.type", `unknown type "numbr"`}}},
		{"bad records path", `{` + hook + `,"mapping":{"records":"a..b"}}`, []want{{"mapping.records", "empty segment"}}},
		{"expr and fields", `{` + hook + `,"mapping":{"expr":"record","fields":{"a":{}}}}`, []want{{"mapping.expr", "either expr or fields"}}},
		{"bad timestamp format", `{` + hook + `,"mapping":{"timestamp":{"path":"t","format":"%Q"}}}`, []want{{"mapping.timestamp.format", ""}}},

		// Validation.
		{"schema with a bad keyword value", `{` + hook + `,"validation":{"schema":{"type":"objekt"}}}`, []want{{"validation.schema", "/type"}}},
		{"schema is a number", `{` + hook + `,"validation":{"schema":5}}`, []want{{"validation.schema", "must be a JSON Schema"}}},
		{"schema with a remote reference", `{` + hook + `,"validation":{"schema":{"$ref":"https://example.com/s.json"}}}`, []want{{"validation.schema", "only references inside the schema"}}},

		// Sinks.
		{"sink not an object", `{` + hook + `,"sinks":[{},1,null]}`, []want{{"sinks[1]", "must be an object"}, {"sinks[2]", "must be an object"}}},

		// Many problems at once, in document order.
		{"everything wrong", `{"name":"","kind":"polling","source":{"webhook":{}},"mapping":{"fields":{"x":{"expr":"("}}},"retention":"x","sinks":[1]}`, []want{
			{"name", "is required"},
			{"source.webhook", "is for webhook pipelines"},
			{"source", "needs an http or a graphql source"},
			{"mapping.fields.x.expr", "line 1"},
			{"retention", "not a duration"},
			{"sinks[0]", "must be an object"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := compiler.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("Parse accepted the document")
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("error %v does not match core.ErrInvalid", err)
			}
			var se *pipeline.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SpecError", err)
			}
			if len(se.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(se.Problems), len(tc.want), se)
			}
			for i, w := range tc.want {
				p := se.Problems[i]
				if p.Path != w.path || !strings.Contains(p.Message, w.msg) {
					t.Errorf("problem %d = %q: %q, want %q: ...%q...", i, p.Path, p.Message, w.path, w.msg)
				}
			}
		})
	}
}

func TestDecodeReportsShapeOnly(t *testing.T) {
	t.Parallel()
	// Decode accepts what is well formed even when its content is wrong.
	s, err := pipeline.Decode([]byte(`{"name":"","kind":"cron","source":{},"retention":"x"}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if s.Kind != "cron" {
		t.Errorf("kind %q", s.Kind)
	}
	_, err = compiler.Compile(s)
	var se *pipeline.SpecError
	if !errors.As(err, &se) || len(se.Problems) != 3 {
		t.Errorf("Compile: %v", err)
	}
	// And refuses what is not.
	if _, err := pipeline.Decode([]byte(`{"name":"x","kind":"webhook","source":{},"extra":1}`)); err == nil {
		t.Error("Decode accepted an unknown field")
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	s, err := pipeline.Decode([]byte(`{
		"name": "a <b> & c",
		"kind": "webhook",
		"source": {"webhook": {"signing_secret": "key"}},
		"mapping": { "fields": { "x": { "path": "y" } } },
		"validation": {"schema": null}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"a <b> & c","kind":"webhook","source":{"webhook":{"signing_secret":"key","tolerance":"5m","max_body_bytes":10485760}},` +
		`"mapping":{"fields":{"x":{"path":"y"}}},"persist":true,"retention":"30d"}`
	if string(got) != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
	// Normalize does not touch the spec it was called on.
	if s.Persist != nil || s.Retention != "" || s.Source.Webhook.Tolerance != "" {
		t.Errorf("Normalize changed its receiver: %+v", s)
	}
	// A programmatic spec with invalid raw JSON cannot be made canonical.
	bad := pipeline.Spec{Name: "x", Kind: core.KindWebhook, Mapping: json.RawMessage(`{`)}
	if _, err := bad.Canonical(); err == nil {
		t.Error("Canonical accepted invalid raw JSON")
	}
	if _, err := compiler.Compile(bad); err == nil {
		t.Error("Compile accepted invalid raw JSON")
	}
}

func TestSpecErrorMessage(t *testing.T) {
	t.Parallel()
	err := &pipeline.SpecError{Problems: []pipeline.Problem{{Path: "", Message: "bad JSON"}, {Path: "name", Message: "is required"}}}
	if got, want := err.Error(), "invalid pipeline: bad JSON; name: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCompileSpecBuiltInGo(t *testing.T) {
	t.Parallel()
	// JSON decoding replaces invalid UTF-8, but a spec built in Go may
	// carry it.
	_, err := compiler.Compile(pipeline.Spec{Name: "a\xffb", Kind: core.KindWebhook})
	if err == nil || !strings.Contains(err.Error(), "name: is not valid UTF-8") {
		t.Errorf("Compile: %v", err)
	}
	off := false
	c, err := compiler.Compile(pipeline.Spec{Name: "go", Kind: core.KindWebhook, Persist: &off})
	if err != nil || c.Persist || c.Spec.Retention != pipeline.DefaultRetention {
		t.Errorf("Compile: %v %+v", err, c)
	}
}
