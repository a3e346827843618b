package graphql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// Codes are the values of extensions.code in the errors of a response.
// They are stable: clients may branch on them.
const (
	CodeNotFound        = "NOT_FOUND"
	CodeForbidden       = "FORBIDDEN"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeInvalid         = "INVALID"
	CodeConflict        = "CONFLICT"
	CodeVersionConflict = "VERSION_CONFLICT"
	CodeUnavailable     = "UNAVAILABLE"
	CodeInternal        = "INTERNAL"
	// CodeQueryTooLarge refuses a query document over Options.MaxQueryBytes.
	CodeQueryTooLarge = "QUERY_TOO_LARGE"
	// CodeDepthLimit refuses a query nested deeper than Options.MaxDepth.
	CodeDepthLimit = "DEPTH_LIMIT_EXCEEDED"
	// CodeAliasLimit refuses a query with more aliases than
	// Options.MaxAliases.
	CodeAliasLimit = "ALIAS_LIMIT_EXCEEDED"
)

// presentError maps an error of a resolver to a GraphQL error with a
// stable extensions.code: the one place where service errors become
// GraphQL errors. Errors of the GraphQL layer itself (syntax, validation,
// complexity) keep the code gqlgen gives them. A failure of the server is
// logged and reported without its text.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if _, ok := gerr.Extensions["code"]; ok {
			return gerr // parse, validation, complexity and size errors
		}
		var derr *orchestrator.Error
		if errors.As(err, &derr) {
			gerr.Message = derr.Msg
		}
		ext := map[string]any{}
		if arg, ok := argumentAtFault(ctx, err); ok && derr == nil {
			// A literal argument that does not decode (a time that is
			// not RFC 3339): the client's mistake, not ours.
			var ge *gqlerror.Error
			errors.As(err, &ge)
			gerr.Message = fmt.Sprintf("The argument %s is not valid: %s", arg, ge.Message)
			gerr.Path = graphql.GetFieldContext(ctx).Path()
			gerr.Extensions = map[string]any{"code": CodeInvalid, "problems": []map[string]string{{"path": arg, "message": ge.Message}}}
			return gerr
		}
		switch {
		case errors.Is(err, orchestrator.ErrUnauthenticated):
			ext["code"] = CodeUnauthenticated
			gerr.Message = "Authenticate with Authorization: Bearer <API token> or a session."
		case errors.Is(err, orchestrator.ErrNotFound):
			ext["code"] = CodeNotFound
		case errors.Is(err, orchestrator.ErrForbidden):
			ext["code"] = CodeForbidden
		case errors.Is(err, orchestrator.ErrInvalid), errors.Is(err, orchestrator.ErrMalformed):
			ext["code"] = CodeInvalid
			problems := []map[string]string{}
			if derr != nil {
				for _, p := range derr.Problems {
					problems = append(problems, map[string]string{"path": p.Path, "message": p.Message})
				}
			}
			ext["problems"] = problems
		case errors.Is(err, orchestrator.ErrVersionConflict):
			ext["code"] = CodeVersionConflict
		case errors.Is(err, orchestrator.ErrConflict), errors.Is(err, core.ErrLastOwner):
			ext["code"] = CodeConflict
		case errors.Is(err, orchestrator.ErrUnavailable):
			ext["code"] = CodeUnavailable
		default:
			log.ErrorContext(ctx, "graphql resolver", "path", gerr.Path.String(), "err", err)
			ext["code"] = CodeInternal
			gerr.Message = "Something went wrong on our side; the request id identifies it in the logs."
		}
		if derr == nil && ext["code"] != CodeInternal && ext["code"] != CodeUnauthenticated {
			gerr.Message = errorText(err)
		}
		gerr.Extensions = ext
		if len(gerr.Locations) == 0 {
			// Name the field at fault in the query, as parse and
			// validation errors do.
			if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil && fc.Field.Position != nil {
				gerr.Locations = []gqlerror.Location{{Line: fc.Field.Position.Line, Column: fc.Field.Position.Column}}
			}
		}
		return gerr
	}
}

// argumentAtFault names the argument whose value failed to decode, when
// err comes from decoding a field's arguments.
func argumentAtFault(ctx context.Context, err error) (string, bool) {
	fc := graphql.GetFieldContext(ctx)
	var ge *gqlerror.Error
	if fc == nil || fc.Args != nil || fc.Field.Field == nil || !errors.As(err, &ge) || len(ge.Path) == 0 {
		return "", false
	}
	name, ok := ge.Path[len(ge.Path)-1].(ast.PathName)
	if !ok || fc.Field.Arguments.ForName(string(name)) == nil {
		return "", false
	}
	return string(name), true
}

// errorText is the user's sentence of a sentinel error of the layers
// below the service (it has no *orchestrator.Error around it).
func errorText(err error) string {
	switch {
	case errors.Is(err, orchestrator.ErrNotFound):
		return "There is no such object in the team."
	case errors.Is(err, orchestrator.ErrForbidden):
		return "Your role in the team does not allow this."
	}
	return err.Error()
}
