package source

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/tributary-dev/tributary/internal/schema"
)

// Problem is one reason a source spec is not valid. Path is relative to the
// pipeline's source, such as "http.url" or "state.cursor.from"; Message
// says what is wrong and what to write instead.
type Problem struct {
	Path    string
	Message string
}

// Kind is one kind of polled source. Its spec is the part of a pipeline's
// source named Name ("http" reads source.http). A kind is one file that
// declares a Kind value, plus one line in Builtin; nothing else names it.
type Kind struct {
	// Name is the source part the kind reads.
	Name string
	// Summary says in one sentence what the kind polls.
	Summary string
	// Description says more, in Markdown, for the docs and the API.
	Description string
	// NewSpec returns a pointer to a zero spec; the part is decoded into
	// it strictly (unknown fields are problems) before Build. Its type is
	// the kind's settings schema (see Schema).
	NewSpec func() any
	// Build checks a decoded spec, reporting problems through b, and
	// returns the kind's fetcher. It is called with what NewSpec returned.
	Build func(spec any, b *Builder) Fetcher
	// Secrets lists the team secrets a decoded spec names, with paths
	// relative to the kind's part ("auth.secret"). It must work on any
	// spec, valid or not, so that a secret in use by a stored spec that
	// no longer builds cannot be deleted. Nil: the kind uses no secrets.
	Secrets func(spec any) []SecretRef
	// Example is a valid part, as JSON, shown in the docs and the API.
	Example string
}

// Schema returns the JSON Schema (draft 2020-12) of the kind's part, from
// the type NewSpec returns.
func (k Kind) Schema() json.RawMessage {
	return schema.FromType(reflect.TypeOf(k.NewSpec()).Elem())
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
	order []string // names in registration order
}

// NewRegistry returns a registry of kinds. It panics on a kind without a
// name, summary, spec, builder or example, or on two kinds of one name: a
// programming error.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		if k.Name == "" || k.Summary == "" || k.NewSpec == nil || k.Build == nil || k.Example == "" {
			panic(fmt.Sprintf("source: kind %q is incomplete", k.Name))
		}
		if _, dup := r.kinds[k.Name]; dup {
			panic(fmt.Sprintf("source: kind %q registered twice", k.Name))
		}
		r.kinds[k.Name] = k
		r.order = append(r.order, k.Name)
	}
	return r
}

// Builtin returns a registry of the kinds Tributary ships. A new kind is
// one file in this package and one entry here.
func Builtin() *Registry {
	return NewRegistry(
		HTTPKind,
		GraphQLKind,
	)
}

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

// Kinds lists the kinds in the order they were registered.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.kinds))
	for _, n := range r.order {
		out = append(out, r.kinds[n])
	}
	return out
}

// SecretsOf lists the team secrets a part of the named kind names, with
// paths relative to the source ("http.auth.secret"). It reads the part
// leniently, so that it works on any stored spec; an unknown kind or a
// part that is not an object names none.
func (r *Registry) SecretsOf(name string, part json.RawMessage) []SecretRef {
	k, ok := r.kinds[name]
	if !ok || k.Secrets == nil {
		return nil
	}
	spec := k.NewSpec()
	// A value of the wrong type leaves its field empty; the others are
	// still read.
	if err := json.Unmarshal(part, spec); err != nil {
		if _, typeErr := err.(*json.UnmarshalTypeError); !typeErr {
			return nil
		}
	}
	refs := k.Secrets(spec)
	for i := range refs {
		refs[i].Path = joinPath(name, refs[i].Path)
	}
	return refs
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
