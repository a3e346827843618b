package pipeline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pipeline"
)

func TestPollingSpec(t *testing.T) {
	t.Parallel()
	// The interval defaults to 60s and is written into the stored spec.
	c, err := compiler.Parse([]byte(`{"name":"p","kind":"polling","source":{"http":{"url":"https://api.example.com/v1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != time.Minute || c.Source == nil || c.Source.Kind() != "http" {
		t.Fatalf("interval %v source %v", c.Interval, c.Source)
	}
	canonical, err := c.Spec.Canonical()
	if err != nil || !strings.Contains(string(canonical), `"interval":"60s"`) {
		t.Fatalf("canonical %s, %v", canonical, err)
	}

	// Every problem of the source, with its path, together with the rest.
	_, err = compiler.Parse([]byte(`{"name":"p","kind":"polling","source":{
		"http":{"url":"https://api.example.com/{{ state.cursor }}","auth":{"type":"bearer"},"pagination":{"type":"cursor","max_page":3},"retries":2},
		"state":{"since":{"from":"ts","keep":"min"}}},
		"mapping":{"fields":{"x":{"expr":"("}}}}`))
	var se *pipeline.SpecError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	got := map[string]string{}
	for _, p := range se.Problems {
		got[p.Path] = p.Message
	}
	for path, msg := range map[string]string{
		"source.http.pagination.max_page": "known fields are type, param, start, limit, limit_param, next, max_pages",
		"source.http.retries":             "unknown field",
		"source.http.auth.secret":         "is required",
		"source.http.pagination.next":     "is required",
		"source.http.url":                 "refers to {{ state.cursor }}, but source.state has no variable cursor",
		"source.state.since.keep":         `"min" is not "max" or "last"`,
		"mapping.fields.x.expr":           "line 1",
	} {
		if !strings.Contains(got[path], msg) {
			t.Errorf("problem at %s = %q, want it to say %q (all: %v)", path, got[path], msg, se.Problems)
		}
	}

	// GraphQL, and a state whose shape is wrong.
	_, err = compiler.Parse([]byte(`{"name":"g","kind":"polling","source":{"graphql":{"url":"https://api.example.com/graphql","query":"{ a }"},"state":{"s":"ts"}}}`))
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	if len(se.Problems) != 1 || se.Problems[0].Path != "source.state.s" || !strings.Contains(se.Problems[0].Message, "must be an object") {
		t.Fatalf("problems %v", se.Problems)
	}
}
