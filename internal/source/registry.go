package source

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// Problem is one reason a source spec is not valid. Path is relative to the
// pipeline's source, such as "http.url" or "state.cursor.from"; Message
// says what is wrong and what to write instead.
type Problem struct {
	Path    string
	Message string
}

// Kind is one kind of polled source. Its spec is the part of a pipeline's
// source named Name ("http" reads source.http).
type Kind struct {
	// Name is the source part the kind reads.
	Name string
	// Summary says in one sentence what the kind polls.
	Summary string
	// NewSpec returns a pointer to a zero spec; the part is decoded into
	// it strictly (unknown fields are problems) before Build.
	NewSpec func() any
	// Build checks a decoded spec, reporting problems through b, and
	// returns the kind's fetcher. It is called with what NewSpec returned.
	Build func(spec any, b *Builder) Fetcher
}

// Fetcher fetches the records of one poll: it sends its requests through
// r, adds the records it finds and stops at the end of the data or at
// r's bounds. It must be safe for concurrent polls (a compiled spec is
// shared) and keep no state between polls.
type Fetcher interface {
	Fetch(ctx context.Context, r *Run) error
}

// Registry holds the source kinds a process knows. It is immutable once
// built and safe for concurrent use; tests build their own.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry of kinds. It panics on a kind without a
// name, spec or builder, or on two kinds of one name: a programming error.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		if k.Name == "" || k.NewSpec == nil || k.Build == nil {
			panic(fmt.Sprintf("source: kind %q is incomplete", k.Name))
		}
		if _, dup := r.kinds[k.Name]; dup {
			panic(fmt.Sprintf("source: kind %q registered twice", k.Name))
		}
		r.kinds[k.Name] = k
	}
	return r
}

// Builtin returns a registry of the kinds Tributary ships: http and
// graphql.
func Builtin() *Registry { return NewRegistry(HTTPKind, GraphQLKind) }

// Kind returns the kind reading the named part.
func (r *Registry) Kind(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the kinds by name.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Build builds a source from a spec of the named kind (as the kind's
// NewSpec decoded it) and the pipeline's state variables. It reports
// every problem found; the Source is nil when there is any.
func (r *Registry) Build(name string, spec any, state StateSpec) (*Source, []Problem) {
	k, ok := r.kinds[name]
	if !ok {
		return nil, []Problem{{Path: name, Message: fmt.Sprintf("is not a source kind; use one of %v", r.Names())}}
	}
	b := &Builder{part: name}
	vars := b.compileState(state)
	f := k.Build(spec, b)
	for _, ref := range b.stateRefs {
		if _, ok := state[ref.name]; !ok {
			msg := fmt.Sprintf("refers to {{ state.%s }}, but source.state has no variable %s", ref.name, ref.name)
			if len(state) == 0 {
				msg += "; declare it there, such as {\"" + ref.name + "\": {\"from\": \"updated_at\"}}"
			}
			b.problem(ref.path, msg)
		}
	}
	if len(b.problems) > 0 {
		return nil, b.problems
	}
	return &Source{kind: name, fetcher: f, state: vars, dedup: b.dedup, secrets: slices.Clip(b.secrets)}, nil
}

// Builder collects what a kind's Build finds: problems, the secrets the
// spec names, the state variables its templates use, the dedup settings.
// Paths given to it are relative to the kind's part.
type Builder struct {
	part      string
	problems  []Problem
	secrets   []SecretRef
	stateRefs []stateRef
	dedup     *dedup
}

type stateRef struct{ path, name string }

// Problem reports a problem at path, relative to the kind's part.
func (b *Builder) Problem(path, msg string) { b.problem(joinPath(b.part, path), msg) }

// problem reports at a path relative to the source.
func (b *Builder) problem(path, msg string) {
	b.problems = append(b.problems, Problem{Path: path, Message: msg})
}
