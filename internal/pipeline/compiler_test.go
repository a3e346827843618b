package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

// Kind parts decode generically and round-trip through Canonical in the
// stored format.
func TestSourcePartsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"name":"p","kind":"polling","source":{"http":{"url":"https://x.example.com"},"interval":"60s","state":{"s":{"from":"ts"}}},"persist":true,"retention":"30d"}`,
		`{"name":"g","kind":"polling","source":{"graphql":{"url":"https://x.example.com","query":"{ a { b } }","records":"a"},"interval":"5m"},"persist":true,"retention":"30d"}`,
		`{"name":"d","kind":"p2p","source":{"pipeline":{"upstream":"u"}},"persist":false,"retention":"forever"}`,
		`{"name":"h","kind":"webhook","source":{"webhook":{"signing_secret":"k","tolerance":"5m","max_body_bytes":10485760}},"persist":true,"retention":"30d"}`,
	} {
		c, err := compiler.Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		got, err := c.Spec.Canonical()
		if err != nil || string(got) != doc {
			t.Errorf("Canonical:\n got %s\nwant %s (%v)", got, doc, err)
		}
	}
}

func TestUnknownSourceKind(t *testing.T) {
	t.Parallel()
	_, err := compiler.Parse([]byte(`{"name":"p","kind":"polling","source":{"ftp":{"url":"ftp://x"},"Http":{}}}`))
	var se *pipeline.SpecError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	want := []pipeline.Problem{
		{Path: "source", Message: "a polling pipeline needs an http or a graphql source"},
		{Path: "source.Http", Message: `unknown field; did you mean "http"?`},
		{Path: "source.ftp", Message: "unknown field; known fields are webhook, http, graphql, pipeline, interval, state"},
	}
	slices.SortFunc(se.Problems, func(a, b pipeline.Problem) int { return compareStrings(a.Path, b.Path) })
	if !slices.Equal(se.Problems, want) {
		t.Errorf("problems\n got %v\nwant %v", se.Problems, want)
	}

	// A registry of its own: a kind added is a kind known.
	ticks := source.Kind{
		Name: "ticks", Summary: "Counts.", Example: `{}`,
		NewSpec: func() any { return new(struct{}) },
		Build: func(any, *source.Builder) source.Fetcher {
			return fetcherFunc(func(context.Context, *source.Run) error { return nil })
		},
	}
	own := pipeline.NewCompiler(source.NewRegistry(ticks), sink.NewRegistry())
	c, err := own.Parse([]byte(`{"name":"t","kind":"polling","source":{"ticks":{}}}`))
	if err != nil || c.Source == nil || c.Source.Kind() != "ticks" {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := own.Parse([]byte(`{"name":"t","kind":"polling","source":{"http":{"url":"https://x"}}}`)); err == nil {
		t.Error("a compiler without the http kind accepted source.http")
	}
}

type fetcherFunc func(context.Context, *source.Run) error

func (f fetcherFunc) Fetch(ctx context.Context, r *source.Run) error { return f(ctx, r) }

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestSecretRefs(t *testing.T) {
	t.Parallel()
	doc := `{"name":"p","kind":"polling","source":{"http":{"url":"https://x.example.com","auth":{"type":"bearer","secret":"api-token"}}},
		"sinks":[{"name":"a","http":{"url":"https://h.example.com","signing_secret":"hook-key","auth":{"type":"bearer","secret":"hook-token"}}},
		{"name":"b","enabled":false,"http":{"url":"https://h.example.com"}}]}`
	want := []pipeline.SecretRef{
		{Path: "source.http.auth.secret", Name: "api-token"},
		{Path: "sinks[0].http.auth.secret", Name: "hook-token"},
		{Path: "sinks[0].http.signing_secret", Name: "hook-key", Signing: true},
	}
	c, err := compiler.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SecretRefs(); !slices.Equal(got, want) {
		t.Errorf("SecretRefs\n got %v\nwant %v", got, want)
	}
	if got := compiler.SecretRefsOf([]byte(doc)); !slices.Equal(got, want) {
		t.Errorf("SecretRefsOf\n got %v\nwant %v", got, want)
	}

	// A stored spec that no longer compiles still names its secrets.
	stale := `{"name":"","kind":"webhook","source":{"webhook":{"signing_secret":"wh","max_body_bytes":"big"}},"sinks":[{"name":"x","http":{"url":3,"signing_secret":"sk"}},7]}`
	want = []pipeline.SecretRef{
		{Path: "source.webhook.signing_secret", Name: "wh", Signing: true},
		{Path: "sinks[0].http.signing_secret", Name: "sk", Signing: true},
	}
	if got := compiler.SecretRefsOf([]byte(stale)); !slices.Equal(got, want) {
		t.Errorf("SecretRefsOf a stale spec\n got %v\nwant %v", got, want)
	}
	if got := compiler.SecretRefsOf([]byte(`not json`)); got != nil {
		t.Errorf("SecretRefsOf garbage = %v", got)
	}
}

func TestSourceKinds(t *testing.T) {
	t.Parallel()
	var names []string
	for _, k := range compiler.SourceKinds() {
		names = append(names, k.Name)
		if !json.Valid(k.Schema) || !json.Valid(k.Example) || k.Summary == "" {
			t.Errorf("%s: schema %s example %s summary %q", k.Name, k.Schema, k.Example, k.Summary)
		}
	}
	if want := []string{"webhook", "http", "graphql", "pipeline"}; !slices.Equal(names, want) {
		t.Errorf("SourceKinds = %v, want %v", names, want)
	}
}

func TestNewCompilerRefusesReservedNames(t *testing.T) {
	t.Parallel()
	k := source.HTTPKind
	k.Name = "state"
	defer func() {
		if recover() == nil {
			t.Error("NewCompiler accepted a source kind named state")
		}
	}()
	pipeline.NewCompiler(source.NewRegistry(k), sink.NewRegistry())
}
