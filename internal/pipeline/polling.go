package pipeline

import (
	"github.com/tributary-dev/tributary/internal/source"
)

// sources are the polled source kinds a spec may use. The registry is
// immutable; the pipeline package only looks kinds up in it by the name of
// the source part that is set.
var sources = source.Builtin()

// compilePolling decodes and builds the polled source of a polling
// pipeline (source.http or source.graphql, with source.state), so that a
// spec that could not be polled is refused when it is saved.
func (c *Compiled) compilePolling(ps *problems) {
	src := &c.Spec.Source
	var part string
	var raw []byte
	switch {
	case src.HTTP != nil && src.GraphQL == nil:
		part, raw = "http", src.HTTP
	case src.GraphQL != nil && src.HTTP == nil:
		part, raw = "graphql", src.GraphQL
	default:
		return // reported by compileSource
	}
	kind, ok := sources.Kind(part)
	if !ok {
		ps.add("source."+part, "is not a known source kind")
		return
	}
	if !isObject(raw) {
		return // reported by compileSource
	}
	spec := kind.NewSpec()
	if !decodeStrict(raw, spec, "source."+part, ps) {
		return
	}
	var state source.StateSpec
	if src.State != nil {
		if !isObject(src.State) || !decodeStrict(src.State, &state, "source.state", ps) {
			return
		}
	}
	s, problems := sources.Build(part, spec, state)
	for _, p := range problems {
		ps.add(joinPath("source", p.Path), p.Message)
	}
	c.Source = s
}
