package graphql

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// pageCosts makes a list field cost what its page can hold: 1, plus its
// page size (first, or the list's default; at most its largest page)
// times the complexity of what it selects, as GitHub's API counts nodes.
// So the complexity limit bounds the objects a query can read, not only
// the fields it names: pipelines(first: 1000) { nodes { runs(first: 100)
// { nodes { id } } } } is 100,000 runs, not a dozen fields. The page
// sizes are those the resolvers apply (pageSize).
func pageCosts(c *ComplexityRoot) {
	page := func(def, most int) func(child int, first *int) int {
		return func(child int, first *int) int {
			n := def
			if first != nil {
				n = min(max(*first, 1), most)
			}
			return 1 + n*child
		}
	}
	teamList, runs, alerts := page(100, 1000), page(20, 100), page(100, 500)
	c.Query.Pipelines = func(child int, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Query.Secrets = func(child int, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Query.Members = func(child int, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Query.Tokens = func(child int, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Query.Dashboards = func(child int, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Query.AlertHistory = func(child int, _, _ *string, first *int, _ *string) int { return alerts(child, first) }
	c.Query.AlertNotifications = func(child int, _ *bool, first *int, _ *string) int { return alerts(child, first) }
	c.Pipeline.Runs = func(child int, first *int, _ *string) int { return runs(child, first) }
	c.Pipeline.Records = func(child int, _, _ *time.Time, first *int, _ *string) int { return teamList(child, first) }
	c.Pipeline.RejectedRecords = func(child int, first *int, _ *string) int { return teamList(child, first) }
	c.Pipeline.Deliveries = func(child int, _, _ *string, first *int, _ *string) int { return teamList(child, first) }
	c.Pipeline.Uploads = func(child int, first *int) int { return teamList(child, first) }
}
