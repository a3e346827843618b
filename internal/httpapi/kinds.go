package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// The kind routes publish the source and sink kinds the server knows,
// each with the JSON Schema of its settings and an example, so that
// clients can build forms and check specs before sending them.

// SourceKindBody is a part a pipeline's source may hold.
type SourceKindBody struct {
	Name        string          `json:"name" doc:"The part's key in the spec's source object."`
	Pipeline    string          `json:"pipeline" enum:"polling,webhook,p2p" doc:"The kind of pipeline the part is for."`
	Summary     string          `json:"summary"`
	Description string          `json:"description" doc:"More about the kind, in Markdown."`
	Settings    json.RawMessage `json:"settings" doc:"The JSON Schema (draft 2020-12) of the part."`
	Example     json.RawMessage `json:"example" doc:"A valid part."`
}

// SinkKindBody is a kind of sink this server knows.
type SinkKindBody struct {
	Name        string          `json:"name" doc:"The key of the kind's settings in a sink of the spec."`
	Summary     string          `json:"summary"`
	Doc         string          `json:"doc" doc:"The summary again, for older clients."`
	Description string          `json:"description" doc:"More about the kind, in Markdown."`
	MaxBatch    int             `json:"max_batch,omitempty" doc:"The most records one delivery carries; bigger batches are split."`
	Settings    json.RawMessage `json:"settings" doc:"The JSON Schema (draft 2020-12) of the kind's settings."`
	Example     json.RawMessage `json:"example" doc:"Valid settings."`
}

type sourceKindsOutput struct {
	Body struct {
		Kinds []SourceKindBody `json:"kinds"`
	}
}

type sinkKindsOutput struct {
	Body struct {
		Kinds []SinkKindBody `json:"kinds"`
	}
}

func (s *Server) registerKindRoutes() {
	if s.compiler == nil {
		panic("httpapi: Deps.Compiler is required")
	}
	tags := []string{"Kinds"}
	huma.Register(s.api, huma.Operation{
		OperationID: "list-source-kinds", Method: http.MethodGet, Path: "/api/v1/source-kinds", Tags: tags,
		Summary:     "List the source kinds this server reads from",
		Description: "The parts a pipeline's source may hold (webhook, the polled kinds, pipeline), with the JSON Schema of their settings and an example. Any signed-in user or API token.",
	}, func(ctx context.Context, _ *struct{}) (*sourceKindsOutput, error) {
		if _, err := principal(ctx); err != nil {
			return nil, err
		}
		out := &sourceKindsOutput{}
		out.Body.Kinds = []SourceKindBody{}
		for _, k := range s.compiler.SourceKinds() {
			out.Body.Kinds = append(out.Body.Kinds, SourceKindBody{
				Name: k.Name, Pipeline: string(k.Pipeline), Summary: k.Summary, Description: k.Description,
				Settings: k.Schema, Example: k.Example,
			})
		}
		return out, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "list-sink-kinds", Method: http.MethodGet, Path: "/api/v1/sink-kinds", Tags: tags,
		Summary:     "List the sink kinds this server delivers to",
		Description: "By name, with the JSON Schema of their settings and an example. Any signed-in user or API token.",
	}, func(ctx context.Context, _ *struct{}) (*sinkKindsOutput, error) {
		if _, err := principal(ctx); err != nil {
			return nil, err
		}
		out := &sinkKindsOutput{}
		out.Body.Kinds = []SinkKindBody{}
		for _, k := range s.compiler.Sinks().Kinds() {
			out.Body.Kinds = append(out.Body.Kinds, SinkKindBody{
				Name: k.Name, Summary: k.Summary, Doc: k.Summary, Description: k.Description, MaxBatch: k.MaxBatch,
				Settings: k.Schema(), Example: json.RawMessage(k.Example),
			})
		}
		return out, nil
	})
}
