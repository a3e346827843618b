package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// problem maps a domain error to an API error. Errors it does not know
// become a 500 whose detail says nothing of the cause; the cause is logged
// with the request id.
func (s *Server) problem(ctx context.Context, err error) error {
	var se huma.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return err
	case errors.As(err, new(*orchestrator.Error)):
		return serviceProblem(err)
	case errors.Is(err, account.ErrUnauthenticated):
		return huma.Error401Unauthorized("Sign in or send a valid API token.")
	case errors.Is(err, account.ErrForbidden):
		return huma.Error403Forbidden(err.Error())
	case errors.Is(err, account.ErrThrottled):
		var te *account.ThrottledError
		retry := 1
		if errors.As(err, &te) {
			retry = max(int(math.Ceil(te.RetryAfter.Seconds())), 1)
		}
		return huma.ErrorWithHeaders(huma.Error429TooManyRequests("Too many failed sign-in attempts; retry after the time in Retry-After."),
			http.Header{"Retry-After": {strconv.Itoa(retry)}})
	case errors.Is(err, core.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrLastOwner), errors.Is(err, core.ErrAlreadySetUp):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, core.ErrInvalid):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "The request was cancelled.")
	}
	s.log.ErrorContext(ctx, "request failed", "request_id", RequestID(ctx), "err", err)
	return huma.Error500InternalServerError("Something went wrong on our side; the request id identifies it in the logs (" + RequestID(ctx) + ").")
}

// serviceProblem maps a domain error of the pipeline service: the one
// place where its kinds become statuses, and its problems errors entries
// located in the request body.
func serviceProblem(err error) error {
	e, _ := errors.AsType[*orchestrator.Error](err)
	status := http.StatusInternalServerError
	switch {
	case errors.Is(e, orchestrator.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(e, orchestrator.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(e, orchestrator.ErrConflict), errors.Is(e, orchestrator.ErrVersionConflict):
		status = http.StatusConflict
	case errors.Is(e, orchestrator.ErrInvalid):
		status = http.StatusUnprocessableEntity
	case errors.Is(e, orchestrator.ErrMalformed):
		status = http.StatusBadRequest
	case errors.Is(e, orchestrator.ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	details := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		loc := "body"
		if p.Path != "" {
			loc += "." + p.Path
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: p.Message}
	}
	return huma.NewError(status, e.Msg, details...)
}

// writeProblem writes an RFC 9457 body outside huma (middleware, webhooks).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(huma.ErrorModel{
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}

// logAttrs is a helper for handlers that log with the request id.
func logAttrs(ctx context.Context) slog.Attr {
	return slog.String("request_id", RequestID(ctx))
}
