package graphql

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shapeLimits refuses operations nested deeper than depth fields, or with
// more than aliases aliased fields, after validation and before any
// resolver runs. Fragments count where they are spread.
type shapeLimits struct {
	depth, aliases int
}

var (
	_ graphql.HandlerExtension        = shapeLimits{}
	_ graphql.OperationContextMutator = shapeLimits{}
)

// ExtensionName names the extension.
func (shapeLimits) ExtensionName() string { return "ShapeLimits" }

// Validate accepts any schema.
func (shapeLimits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation.
func (l shapeLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	var m measure
	m.walk(oc.Operation.SelectionSet, 1)
	if m.depth > l.depth {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("The query nests fields %d deep; the limit is %d.", m.depth, l.depth),
			Extensions: map[string]any{"code": CodeDepthLimit},
		}
	}
	if m.aliases > l.aliases {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("The query has %d aliased fields; the limit is %d.", m.aliases, l.aliases),
			Extensions: map[string]any{"code": CodeAliasLimit},
		}
	}
	return nil
}

type measure struct {
	depth, aliases int
}

func (m *measure) walk(set ast.SelectionSet, level int) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue // introspection: the schema is no cost to guard
			}
			if s.Alias != "" && s.Alias != s.Name {
				m.aliases++
			}
			m.depth = max(m.depth, level)
			m.walk(s.SelectionSet, level+1)
		case *ast.InlineFragment:
			m.walk(s.SelectionSet, level)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				m.walk(s.Definition.SelectionSet, level)
			}
		}
	}
}
