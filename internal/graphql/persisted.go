package graphql

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodePersistedQueryNotFound answers a request that sends only the hash
// of a query the server does not hold (Apollo's automatic persisted
// queries): send the query with its hash once, then the hash alone.
const CodePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"

// persistedQueries is gqlgen's automatic persisted queries with stable
// codes on its refusals (a hash that does not match the query, an
// extension it cannot read: INVALID), which gqlgen sends without a code.
// It runs after maxQuerySize, so only queries within the limit are held.
type persistedQueries struct {
	apq extension.AutomaticPersistedQuery
}

var (
	_ graphql.HandlerExtension          = persistedQueries{}
	_ graphql.OperationParameterMutator = persistedQueries{}
)

func newPersistedQueries(size int) persistedQueries {
	return persistedQueries{apq: extension.AutomaticPersistedQuery{Cache: lru.New[string](size)}}
}

// ExtensionName names the extension.
func (persistedQueries) ExtensionName() string { return "PersistedQueries" }

// Validate accepts any schema.
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters fills in the query of a known hash, or holds
// a query sent with its hash.
func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	err := p.apq.MutateOperationParameters(ctx, raw)
	if err == nil {
		return nil
	}
	code := CodeInvalid
	if c, ok := err.Extensions["code"].(string); ok && c == CodePersistedQueryNotFound {
		code = c
		err.Message = "The server does not hold the query of this hash (persistedQuery); send the query with its hash."
	}
	err.Extensions = map[string]any{"code": code}
	return err
}
