package graphql

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Options limit the queries the handler runs.
type Options struct {
	// MaxComplexity is the highest complexity of a query (every field
	// counts 1). Zero means DefaultMaxComplexity.
	MaxComplexity int
	// MaxQueryBytes is the longest query document. Zero means
	// DefaultMaxQueryBytes.
	MaxQueryBytes int
	// Logger receives the failures of the server. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxComplexity = 250
	DefaultMaxQueryBytes = 16 << 10
)

// NewHandler returns the GraphQL endpoint: POST only (no query, and so no
// mutation, over GET), introspection on, within the limits of cfg. It
// expects the principal in the request's context (account.PrincipalFrom),
// as httpapi's authentication middleware sets it; mount it on httpapi's
// mux.
func NewHandler(cfg Options, svc Service) http.Handler {
	if cfg.MaxComplexity == 0 {
		cfg.MaxComplexity = DefaultMaxComplexity
	}
	if cfg.MaxQueryBytes == 0 {
		cfg.MaxQueryBytes = DefaultMaxQueryBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{svc: svc}}))
	h.AddTransport(transport.POST{})
	h.Use(extension.Introspection{})
	h.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	h.Use(maxQuerySize(cfg.MaxQueryBytes))
	h.SetErrorPresenter(presentError(cfg.Logger))
	h.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "panic in graphql resolver", "panic", fmt.Sprint(v))
		return fmt.Errorf("panic in resolver: %v", v)
	})
	return h
}

// maxQuerySize refuses query documents longer than n bytes before they
// are parsed.
type maxQuerySize int

var (
	_ graphql.HandlerExtension          = maxQuerySize(0)
	_ graphql.OperationParameterMutator = maxQuerySize(0)
)

// ExtensionName names the extension.
func (maxQuerySize) ExtensionName() string { return "MaxQuerySize" }

// Validate accepts any schema.
func (maxQuerySize) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters refuses a query over the limit.
func (n maxQuerySize) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if len(p.Query) > int(n) {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("The query is %d bytes long; the limit is %d.", len(p.Query), int(n)),
			Extensions: map[string]any{"code": CodeQueryTooLarge},
		}
	}
	return nil
}
