package mapping_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
)

func Example() {
	// The mapping section of a pipeline spec, as a user writes it.
	var spec mapping.Spec
	err := json.Unmarshal([]byte(`{
		"records": "data.items",
		"timestamp": {"path": "observed_at", "format": "unix"},
		"fields": {
			"temperature_c": {"path": "temp_k", "expr": "round(value - 273.15, 1)", "type": "number"},
			"station":       {"path": "station.id", "type": "string", "required": true},
			"city":          {"path": "station.name", "expr": "upper(value)", "default": "UNKNOWN"}
		}
	}`), &spec)
	if err != nil {
		panic(err)
	}
	m, err := mapping.Compile(spec) // once per pipeline version
	if err != nil {
		panic(err)
	}

	// A decoded request body; UseNumber keeps large integers exact.
	dec := json.NewDecoder(strings.NewReader(`{"data": {"items": [
		{"observed_at": 1714557600, "temp_k": 293.4, "station": {"id": 10384, "name": "Berlin"}},
		{"observed_at": 1714557660, "temp_k": 294.1}
	]}}`))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil {
		panic(err)
	}

	results, err := m.Apply(body, time.Now())
	if err != nil {
		panic(err) // no records where the spec says
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Println("rejected:", r.Err)
			continue
		}
		out, _ := json.Marshal(r.Fields)
		fmt.Println(r.TS.Format(time.RFC3339), string(out))
	}
	// Output:
	// 2024-05-01T10:00:00Z {"city":"BERLIN","station":"10384","temperature_c":20.3}
	// rejected: field station: required, but missing at station.id
}

func ExampleCompile_errors() {
	_, err := mapping.Compile(mapping.Spec{
		Fields: map[string]mapping.FieldSpec{
			"temperature_c": {Path: "temp_k", Expr: "value - 273.15 +", Type: "number"},
			"station":       {Path: "station.id", Type: "text"},
		},
	})
	if ce, ok := err.(*mapping.CompileError); ok {
		for _, p := range ce.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// fields.station.type: unknown type "text": use string, number, integer, boolean, time, object or array
	// fields.temperature_c.expr: unexpected token EOF (line 1, column 16)
}
