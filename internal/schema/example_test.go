package schema_test

import (
	"encoding/json"
	"fmt"

	"github.com/tributary-dev/tributary/internal/schema"
)

func Example() {
	// The validation section of a pipeline spec.
	s, err := schema.Compile(json.RawMessage(`{
		"type": "object",
		"required": ["temperature_c", "station"],
		"properties": {
			"temperature_c": {"type": "number", "minimum": -90, "maximum": 60},
			"station": {"type": "string"}
		}
	}`))
	if err != nil {
		panic(err) // reported to the user when the pipeline is saved
	}

	// Mapped records, as mapping.Result.Fields.Map() gives them.
	for _, rec := range []map[string]any{
		{"temperature_c": 21.5, "station": "10384"},
		{"temperature_c": int64(75)},
	} {
		if err := s.Validate(rec); err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		fmt.Println("ok")
	}
	// Output:
	// ok
	// rejected: station: required but missing; temperature_c: must be <= 60 but found 75
}

func ExampleInfer() {
	doc := schema.Infer([]map[string]any{
		{"temperature_c": 21.5, "station": "10384"},
		{"temperature_c": int64(20), "station": "10385", "note": "calibrated"},
	})
	fmt.Println(string(doc))
	// Output:
	// {"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"note":{"type":"string"},"station":{"type":"string"},"temperature_c":{"type":"number"}},"required":["station","temperature_c"],"type":"object"}
}
