package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/schema"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

// Compiler checks and compiles pipeline documents against the source and
// sink kinds a process knows. It is built once, in the composition root,
// from the two registries, and is immutable and safe for concurrent use;
// tests build their own.
type Compiler struct {
	sources *source.Registry
	sinks   *sink.Registry
}

// NewCompiler returns a compiler of specs whose polled sources are kinds
// of sources and whose sinks are kinds of sinks. It panics on a nil
// registry, or on a source kind named like a fixed member of a source
// (webhook, interval, state, pipeline): programming errors.
func NewCompiler(sources *source.Registry, sinks *sink.Registry) *Compiler {
	if sources == nil || sinks == nil {
		panic("pipeline: NewCompiler needs a source and a sink registry")
	}
	for _, name := range sources.Names() {
		if name == "webhook" || name == "interval" || name == "state" || name == p2pPart {
			panic(fmt.Sprintf("pipeline: source kind %q has the name of a fixed member of a pipeline's source", name))
		}
	}
	return &Compiler{sources: sources, sinks: sinks}
}

// Sources returns the source kinds the compiler knows.
func (cc *Compiler) Sources() *source.Registry { return cc.sources }

// Sinks returns the sink kinds the compiler knows.
func (cc *Compiler) Sinks() *sink.Registry { return cc.sinks }

// CanonicalSpec returns a stored spec with its sinks in their kinds'
// current vocabulary (see sink.Kind.Canonical), for specs saved before a
// spelling changed; a spec that needs no change is returned as it is.
func (cc *Compiler) CanonicalSpec(doc json.RawMessage) json.RawMessage {
	var members map[string]json.RawMessage
	if !bytes.Contains(doc, []byte(`"sinks"`)) || json.Unmarshal(doc, &members) != nil {
		return doc
	}
	var sinks []json.RawMessage
	if json.Unmarshal(members["sinks"], &sinks) != nil {
		return doc
	}
	changed := false
	for i, raw := range sinks {
		if out, ok := cc.sinks.CanonicalSink(raw); ok {
			sinks[i], changed = out, true
		}
	}
	if !changed {
		return doc
	}
	var err error
	if members["sinks"], err = json.Marshal(sinks); err != nil {
		return doc
	}
	out, err := json.Marshal(members)
	if err != nil {
		return doc
	}
	return out
}

// Parse decodes and compiles a document, and reports the problems of both
// steps in one *SpecError: when the document's shape is sound but for
// unknown fields, the content is checked too, so that a user sees
// everything to fix at once.
func (cc *Compiler) Parse(doc []byte) (*Compiled, error) {
	s, ps, typed := decode(doc)
	if !typed {
		return nil, ps.err()
	}
	c, err := cc.Compile(s)
	if se, ok := err.(*SpecError); ok {
		ps = append(ps, se.Problems...)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// sourceKindOrder lists the polled source kinds in registration order.
func (cc *Compiler) sourceKindOrder() []string {
	kinds := cc.sources.Kinds()
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.Name
	}
	return out
}

// sourceFields lists what a source may hold, for unknown-field problems.
func (cc *Compiler) sourceFields() []string {
	out := append([]string{"webhook"}, cc.sourceKindOrder()...)
	return append(out, p2pPart, "interval", "state")
}

// SecretRef is a team secret a pipeline spec names.
type SecretRef struct {
	// Path is where, from the spec's root: "source.http.auth.secret",
	// "source.webhook.signing_secret", "sinks[0].http.signing_secret".
	Path string
	// Name is the secret's name.
	Name string
	// Signing is set for a Standard Webhooks signing secret: the secret
	// must hold "whsec_" followed by base64.
	Signing bool
}

// SecretRefs lists the team secrets the spec names, as its source and
// sink kinds declare them: the webhook's signing secret, the polled
// source's, then each sink's in order.
func (c *Compiled) SecretRefs() []SecretRef { return slices.Clone(c.secrets) }

// SecretRefsOf lists the team secrets a stored document names, like
// Compiled.SecretRefs, for a document that may no longer compile (or even
// decode strictly): it reads what it can, so that a secret a stored
// pipeline refers to is found whatever else the spec holds.
func (cc *Compiler) SecretRefsOf(doc []byte) []SecretRef {
	// A value of the wrong type leaves its field empty; the others are
	// still read, and a document that is not JSON names nothing. The
	// source is read on its own, as a type error inside it would stop
	// the reading of the rest.
	var top struct {
		Source json.RawMessage   `json:"source"`
		Sinks  []json.RawMessage `json:"sinks"`
	}
	_ = json.Unmarshal(doc, &top)
	s := Spec{Sinks: top.Sinks}
	if len(top.Source) > 0 {
		_ = json.Unmarshal(top.Source, &s.Source)
	}
	return cc.secretRefs(s)
}

func (cc *Compiler) secretRefs(s Spec) []SecretRef {
	var refs []SecretRef
	if w := s.Source.Webhook; w != nil && w.SigningSecret != "" {
		refs = append(refs, SecretRef{Path: "source.webhook.signing_secret", Name: w.SigningSecret, Signing: true})
	}
	for _, name := range cc.sourceKindOrder() {
		if raw := s.Source.Parts[name]; raw != nil {
			for _, r := range cc.sources.SecretsOf(name, raw) {
				refs = append(refs, SecretRef{Path: "source." + r.Path, Name: r.Name})
			}
		}
	}
	for i, raw := range s.Sinks {
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			continue
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			if k != "name" && k != "enabled" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, r := range cc.sinks.SecretsOf(k, members[k]) {
				refs = append(refs, SecretRef{Path: fmt.Sprintf("sinks[%d].%s.%s", i, k, r.Path), Name: r.Name, Signing: r.Signing})
			}
		}
	}
	return refs
}

// SourceKind describes one part a pipeline's source may hold, for the
// docs and the API: the polled source kinds of the registry, the webhook
// endpoint's settings and a p2p pipeline's upstream.
type SourceKind struct {
	// Name is the part's key in the source object.
	Name string
	// Pipeline is the kind of pipeline the part is for.
	Pipeline core.PipelineKind
	// Summary says in one sentence what the part configures.
	Summary string
	// Description says more, in Markdown.
	Description string
	// Schema is the JSON Schema (draft 2020-12) of the part.
	Schema json.RawMessage
	// Example is a valid part.
	Example json.RawMessage
}

// SourceKinds lists the parts a pipeline's source may hold: webhook, the
// polled source kinds in registration order, then pipeline.
func (cc *Compiler) SourceKinds() []SourceKind {
	out := []SourceKind{{
		Name: "webhook", Pipeline: core.KindWebhook,
		Summary: "Receives records POSTed to the pipeline's ingest URL, optionally signed with Standard Webhooks.",
		Description: "All settings are optional. `signing_secret` names a team secret holding a Standard Webhooks secret (whsec_…): " +
			"requests must then carry a valid signature whose timestamp is within `tolerance` of the clock. " +
			"`max_body_bytes` bounds a request's body after decompression (1 KiB to 100 MiB, default 10 MiB); " +
			"`max_records` bounds the records of one request (1 to 1,000,000, default 10,000): a request holding more is refused whole with 413.",
		Schema:  schema.FromType(reflect.TypeFor[WebhookSource]()),
		Example: json.RawMessage(`{"signing_secret":"hook-key","tolerance":"5m","max_body_bytes":10485760}`),
	}}
	for _, k := range cc.sources.Kinds() {
		out = append(out, SourceKind{
			Name: k.Name, Pipeline: core.KindPolling, Summary: k.Summary, Description: k.Description,
			Schema: k.Schema(), Example: json.RawMessage(k.Example),
		})
	}
	return append(out, SourceKind{
		Name: p2pPart, Pipeline: core.KindP2P,
		Summary: "Reads the committed records of another pipeline of the team (pipeline to pipeline).",
		Description: "`upstream` names the upstream pipeline by name or id; it is resolved to the id when the pipeline is saved, " +
			"so renaming the upstream later does not break the link. The chain of upstreams must not lead back to the pipeline.",
		Schema:  schema.FromType(reflect.TypeFor[P2PSource]()),
		Example: json.RawMessage(`{"upstream":"weather-berlin"}`),
	})
}
