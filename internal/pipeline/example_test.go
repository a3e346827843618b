package pipeline_test

import (
	"errors"
	"fmt"

	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

// An API handler parses the request body, answers 422 with every problem,
// and stores the canonical document.
func Example() {
	// The composition root builds one compiler from the registries of
	// source and sink kinds.
	compiler := pipeline.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))

	_, err := compiler.Parse([]byte(`{
		"name": "weather",
		"kind": "webhook",
		"source": {"webhook": {"tolerance": "5 minutes"}},
		"mapping": {"fields": {"temp": {"path": "t", "expr": "value -", "typ": "number"}}},
		"retention": "30d"
	}`))
	var se *pipeline.SpecError
	if errors.As(err, &se) {
		for _, p := range se.Problems {
			fmt.Printf("%s: %s\n", p.Path, p.Message)
		}
	}

	c, err := compiler.Parse([]byte(`{"name":"weather","kind":"webhook","source":{}}`))
	if err != nil {
		panic(err)
	}
	doc, _ := c.Spec.Canonical()
	fmt.Printf("%s\n", doc)
	// Output:
	// source.webhook.tolerance: "5 minutes" is not a duration: write it like "90s", "15m", "12h" or "7d"
	// mapping.fields.temp.typ: unknown field; known fields are path, expr, type, format, required, default
	// mapping.fields.temp.expr: unexpected token EOF (line 1, column 7)
	// {"name":"weather","kind":"webhook","source":{"webhook":{"max_body_bytes":10485760}},"persist":true,"retention":"30d"}
}
