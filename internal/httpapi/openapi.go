package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/schema"
)

// The pipeline document keeps its kind parts (source.http, mapping, the
// sinks' settings) as raw JSON, which huma can only describe as "any
// value". These functions publish their real schemas in the OpenAPI
// document instead: the same JSON Schemas GET /api/v1/source-kinds and
// /sink-kinds serve, derived from the kinds' settings types, registered as
// components.

// kindSchema registers the JSON Schema raw (draft 2020-12, as
// schema.FromType writes it) as the component name, with its $defs as
// components prefixed by name, and returns a reference to it.
func kindSchema(reg huma.Registry, name string, raw json.RawMessage) *huma.Schema {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(fmt.Sprintf("httpapi: schema of %s: %v", name, err))
	}
	delete(doc, "$schema")
	defs := doc["$defs"]
	delete(doc, "$defs")
	refs := func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), `"#/$defs/`, `"#/components/schemas/`+name))
	}
	decode := func(what string, b []byte) *huma.Schema {
		var v any
		if err := json.Unmarshal(refs(b), &v); err != nil {
			panic(fmt.Sprintf("httpapi: schema of %s: %v", what, err))
		}
		b, _ = json.Marshal(nullableTypes(v))
		var s huma.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			panic(fmt.Sprintf("httpapi: schema of %s: %v", what, err))
		}
		return &s
	}
	if len(defs) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(defs, &m); err != nil {
			panic(fmt.Sprintf("httpapi: schema of %s: %v", name, err))
		}
		for def, b := range m {
			reg.Map()[name+def] = decode(name+def, b)
		}
	}
	top, _ := json.Marshal(doc)
	reg.Map()[name] = decode(name, top)
	return &huma.Schema{Ref: "#/components/schemas/" + name}
}

// nullableTypes rewrites a JSON Schema the way huma.Schema decodes it:
// type lists such as ["array", "null"] as a type and Nullable, and $ref as
// Ref (huma.Schema's JSON names are those of its MarshalJSON only).
func nullableTypes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = nullableTypes(e)
		}
		if ref, ok := v["$ref"]; ok { // huma.Schema decodes it as Ref
			delete(v, "$ref")
			v["Ref"] = ref
		}
		if ts, ok := v["type"].([]any); ok {
			delete(v, "type")
			for _, t := range ts {
				if t == "null" {
					v["Nullable"] = true
				} else if _, set := v["type"]; !set {
					v["type"] = t
				}
			}
		}
	case []any:
		for i, e := range v {
			v[i] = nullableTypes(e)
		}
	}
	return v
}

// componentName makes a component name of a kind's name: "http" → "Http".
func componentName(prefix, kind string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for part := range strings.FieldsFuncSeq(kind, func(r rune) bool { return r == '_' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// documentSpec publishes the pipeline document's schema as the component
// PipelineSpec, with the source parts, the mapping and the sinks typed,
// and makes the create and update operations refer to it.
func (s *Server) documentSpec() {
	api := s.api
	reg := api.OpenAPI().Components.Schemas
	spec := huma.SchemaFromType(reg, reflect.TypeFor[pipeline.Spec]())
	if spec.Ref != "" {
		spec = reg.SchemaFromRef(spec.Ref)
	}
	spec = cloneSchema(spec)
	spec.Description = "The pipeline document. `source` holds the part of the pipeline's kind: `webhook` (optional; a webhook pipeline " +
		"may leave out `source` altogether), one polled kind such as `http` or `graphql` with `interval`, or `pipeline` for p2p."
	// A webhook pipeline needs no source: only name and kind are required.
	spec.Required = slices.DeleteFunc(slices.Clone(spec.Required), func(f string) bool { return f == "source" })

	// The source: webhook, interval and state are fields of Source; every
	// other kind is a part named for it.
	source := cloneSchema(reg.SchemaFromRef(spec.Properties["source"].Ref))
	source.Description = "Exactly the part of the pipeline's kind: webhook, a polled kind (with interval and state), or pipeline."
	source.Properties = maps(source.Properties)
	for _, k := range s.compiler.SourceKinds() {
		if k.Name == "webhook" {
			continue // a field of Source, typed already
		}
		ref := kindSchema(reg, componentName("Source", k.Name), k.Schema)
		source.Properties[k.Name] = &huma.Schema{
			Description: fmt.Sprintf("%s pipelines: %s", k.Pipeline, k.Summary),
			AllOf:       []*huma.Schema{ref},
		}
	}
	reg.Map()["PipelineSource"] = source
	spec.Properties = maps(spec.Properties)
	spec.Properties["source"] = &huma.Schema{Ref: "#/components/schemas/PipelineSource"}

	spec.Properties["mapping"] = &huma.Schema{
		Description: "How input records become stored records; absent or null passes records through unchanged.",
		AllOf:       []*huma.Schema{kindSchema(reg, "Mapping", schema.FromType(reflect.TypeFor[mapping.Spec]()))},
	}
	sinks := cloneSchema(spec.Properties["sinks"])
	sinks.Items = s.sinkItemSchema(reg)
	spec.Properties["sinks"] = sinks
	reg.Map()["PipelineSpec"] = spec

	ref := &huma.Schema{Ref: "#/components/schemas/PipelineSpec"}
	paths := api.OpenAPI().Paths
	// PreviewInput.spec stays "any value": huma validates that body, and
	// the service reports a spec's problems better (all, with paths).
	for _, op := range []*huma.Operation{paths["/api/v1/pipelines"].Post, paths["/api/v1/pipelines/{id}"].Put} {
		op.RequestBody.Content["application/json"].Schema = ref
	}
}

// sinkItemSchema registers the schema of one sink of a spec as the
// component SinkSpec: a name, enabled, and the settings of exactly one
// kind under the kind's name.
func (s *Server) sinkItemSchema(reg huma.Registry) *huma.Schema {
	if _, ok := reg.Map()["SinkSpec"]; ok {
		return &huma.Schema{Ref: "#/components/schemas/SinkSpec"}
	}
	item := &huma.Schema{
		Type:        "object",
		Description: "A sink: its name, whether it is enabled, and the settings of exactly one kind under the kind's name.",
		Properties: map[string]*huma.Schema{
			"name":    {Type: "string", Description: "Unique in the pipeline: letters, digits, '_' and '-'."},
			"enabled": {Type: "boolean", Description: "Default true."},
		},
		Required:             []string{"name"},
		AdditionalProperties: false,
	}
	var kinds []string
	for _, k := range s.compiler.Sinks().Kinds() {
		kinds = append(kinds, k.Name)
		item.Properties[k.Name] = &huma.Schema{
			Description: k.Summary,
			AllOf:       []*huma.Schema{kindSchema(reg, componentName("Sink", k.Name), k.Schema())},
		}
		item.OneOf = append(item.OneOf, &huma.Schema{Required: []string{k.Name}})
	}
	item.Description += " Kinds: " + strings.Join(kinds, ", ") + "."
	reg.Map()["SinkSpec"] = item
	return &huma.Schema{Ref: "#/components/schemas/SinkSpec"}
}

// documentSinkBodies makes the create sink operation take a SinkSpec,
// and the update one a SinkSpec whose name may be left out.
func (s *Server) documentSinkBodies(base string) {
	api := s.api
	reg := api.OpenAPI().Components.Schemas
	ref := s.sinkItemSchema(reg)
	update := cloneSchema(reg.SchemaFromRef(ref.Ref))
	update.Required = nil
	update.Description += " In an update, name may be left out; if given, it must be the one in the path."
	reg.Map()["SinkUpdate"] = update
	paths := api.OpenAPI().Paths
	paths[base].Post.RequestBody.Content["application/json"].Schema = ref
	paths[base+"/{sink}"].Put.RequestBody.Content["application/json"].Schema = &huma.Schema{Ref: "#/components/schemas/SinkUpdate"}
}

// cloneSchema returns a shallow copy of s, so that a registered schema
// other operations share is not changed in place. The copies only
// document bodies that handlers decode themselves (RawBody), which huma
// does not validate.
func cloneSchema(s *huma.Schema) *huma.Schema {
	c := *s
	return &c
}

func maps(m map[string]*huma.Schema) map[string]*huma.Schema {
	out := make(map[string]*huma.Schema, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// documentHooks adds POST /hooks/{token}, which is served outside huma,
// to the OpenAPI document.
func documentHooks(api huma.API) {
	reg := api.OpenAPI().Components.Schemas
	problem := &huma.Schema{Ref: "#/components/schemas/Problem"}
	errResp := func(desc string) *huma.Response {
		return &huma.Response{Description: desc, Content: map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}}
	}
	anyJSON := &huma.Schema{Description: "One JSON object, an array of objects, or NDJSON (one object per line)."}
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "post-hook", Method: http.MethodPost, Path: "/hooks/{token}", Tags: []string{"Webhooks"},
		Summary: "Send records to a webhook pipeline",
		Description: "The URL is the pipeline's `ingest_url`: the token in it is the credential, so no Authorization header is needed. " +
			"The body may be gzip-compressed (Content-Encoding: gzip). With a signing secret, the request must carry valid " +
			"Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature). The answer comes once the records are durable.",
		Security: []map[string][]string{},
		Parameters: []*huma.Param{
			{Name: "token", In: "path", Required: true, Description: "The pipeline's ingest token.", Schema: &huma.Schema{Type: "string"}},
			{Name: "webhook-id", In: "header", Description: "Standard Webhooks: the message id (signed pipelines).", Schema: &huma.Schema{Type: "string"}},
			{Name: "webhook-timestamp", In: "header", Description: "Standard Webhooks: the Unix time of signing (signed pipelines).", Schema: &huma.Schema{Type: "string"}},
			{Name: "webhook-signature", In: "header", Description: "Standard Webhooks: v1,<base64 HMAC-SHA256> (signed pipelines).", Schema: &huma.Schema{Type: "string"}},
		},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json":     {Schema: anyJSON},
			"application/x-ndjson": {Schema: &huma.Schema{Type: "string"}},
		}},
		Responses: map[string]*huma.Response{
			"202": {Description: "The records are stored (or, with persist off, handed to sinks); rejected ones are kept with their reason.",
				Content: map[string]*huma.MediaType{"application/json": {Schema: huma.SchemaFromType(reg, reflect.TypeFor[IngestBody]())}}},
			"400": errResp("The body is not JSON or NDJSON records."),
			"401": errResp("The signature is missing, wrong, or its timestamp is out of tolerance (signed pipelines)."),
			"404": errResp("No webhook pipeline has this token (deleted, rotated, or never existed)."),
			"409": errResp("The pipeline is paused."),
			"413": errResp("The body, once decompressed, or its number of records is over the pipeline's limit."),
			"415": errResp("The Content-Type or Content-Encoding is not one the webhook reads."),
			"429": errResp("The team sends faster than its rate limit; retry after Retry-After seconds."),
			"503": errResp("The server is shutting down or overloaded; retry."),
		},
	})
}
