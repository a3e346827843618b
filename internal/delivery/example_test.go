package delivery_test

import (
	"encoding/json"
	"fmt"

	"github.com/tributary-dev/tributary/internal/delivery"
)

// A pipeline spec's sinks array, read for its shape: each sink has a
// unique name, is enabled unless it says otherwise, and names exactly one
// kind, whose settings the kind checks (Service.Check).
func ExampleParseSinks() {
	sinks, problems := delivery.ParseSinks([]json.RawMessage{
		json.RawMessage(`{"name": "alerts", "http": {"url": "https://hooks.example.com/weather", "signing_secret": "alerts-key"}}`),
		json.RawMessage(`{"name": "archive", "enabled": false, "blob": {"url": "s3://bucket/weather", "format": "parquet"}}`),
		json.RawMessage(`{"name": "alerts", "kafka": {"brokers": ["b:9092"], "topic": "t"}}`),
	})
	for _, s := range sinks {
		fmt.Println(s.Name, s.Kind, s.Enabled)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	for _, ref := range delivery.SecretRefs([]json.RawMessage{json.RawMessage(`{"name": "alerts", "http": {"signing_secret": "alerts-key"}}`)}) {
		fmt.Println(ref.Path, ref.Name)
	}
	// Output:
	// alerts http true
	// archive blob false
	// alerts kafka true
	// sinks[2].name: "alerts" is the name of sinks[0] already: sink names are unique in a pipeline
	// sinks[0].http.signing_secret alerts-key
}
