package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
)

// TestAlertRuleBadInput: a rule on a field the pipeline does not produce,
// a threshold of the wrong type and a window longer than the pipeline's
// retention answer 422, each naming the problem at its location.
func TestAlertRuleBadInput(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	c, err := client.New(srv.URL, srv.Token)
	must(t, err)
	_, err = c.CreatePipeline(t.Context(), json.RawMessage(`{"name": "weather", "kind": "webhook", "retention": "2h",
		"mapping": {"fields": {"temp": {"type": "number"}, "city": {"type": "string"}}}}`))
	must(t, err)
	for _, tc := range []struct{ name, threshold, location, want string }{
		{"field not produced", `{"field": "humidity", "op": ">", "value": 1, "window": "5m"}`, "threshold.field", `does not produce a field "humidity"`},
		{"field not a number", `{"field": "city", "op": ">", "value": 1, "window": "5m"}`, "threshold.field", "not a number"},
		{"threshold of the wrong type", `{"field": "temp", "op": ">", "value": "high", "window": "5m"}`, "threshold.value", "must be a number"},
		{"window beyond retention", `{"field": "temp", "op": ">", "value": 1, "window": "3h"}`, "threshold.window", "longer than pipeline weather keeps its data (retention 2h0m0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateAlertRule(t.Context(), json.RawMessage(`{"name": "x", "pipeline": "weather", "threshold": `+tc.threshold+`}`))
			var e *client.Error
			if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity {
				t.Fatalf("err = %v, want 422", err)
			}
			for _, d := range e.Errors {
				if strings.HasSuffix(d.Location, tc.location) && strings.Contains(d.Message, tc.want) {
					return
				}
			}
			t.Fatalf("errors %+v do not name %s: %s", e.Errors, tc.location, tc.want)
		})
	}
}
