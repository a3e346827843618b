package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/engine"
)

// A webhook handler processes a request's records in its own goroutine
// before it submits them (Submit needs a store; see the package doc).
func ExampleEngine_Process() {
	eng, err := engine.New(engine.Config{Compiler: compiler}, nil, nil, nil, nil)
	if err != nil {
		panic(err)
	}
	c, err := compiler.Parse([]byte(`{"name":"weather","kind":"webhook","source":{},
		"mapping":{"timestamp":{"path":"at"},"fields":{"temp_c":{"path":"temp_k","expr":"round(value - 273.15, 1)","type":"number"}}}}`))
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(strings.NewReader(`[{"at":"2026-01-01T12:00:00Z","temp_k":294.65},{"at":"noon","temp_k":290}]`))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil {
		panic(err)
	}
	accepted, rejected := eng.Process(c, []any{body}, time.Now())
	for _, m := range accepted {
		fmt.Println(m.TS.Format(time.RFC3339), string(m.Data))
	}
	for _, r := range rejected {
		fmt.Println(string(r.Raw), "=>", r.Reason)
	}
	// Output:
	// 2026-01-01T12:00:00Z {"temp_c":21.5}
	// {"at":"noon","temp_k":290} => mapping: timestamp: expected an RFC 3339 time, got string "noon" at at
}
