package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

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
		return huma.ErrorWithHeaders(huma.Error429TooManyRequests("Too many sign-in attempts for this account or from your address; retry after the time in Retry-After."),
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

// writeProblem writes an RFC 9457 body outside huma (middleware, webhooks),
// in the same shape as huma's: with errors and the request id (which
// withRequestID put in the response's X-Request-Id header).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	p := newProblem(status, detail)
	p.RequestID = w.Header().Get("X-Request-Id")
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// Problem is the body of every error the API answers: an RFC 9457 problem
// (huma's ErrorModel) with the request's id. Every 4xx problem lists at
// least one entry in errors, each with a location ("body.name",
// "path.id", "query.from", "header.If-Match"), so that clients handle one
// shape whatever the route.
type Problem struct {
	huma.ErrorModel
	// RequestID is the request's id, also in the X-Request-Id header: the
	// server's log lines of the request carry it.
	RequestID string `json:"request_id,omitempty" doc:"The request's id (also in the X-Request-Id header); the server's logs carry it."`
}

// The API's errors are Problems: huma builds its errors (validation
// failures included) with these two functions, which it documents as the
// way to replace its error type. They are set once, before any request.
func init() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newProblem(status, msg, errs...)
	}
	huma.NewErrorWithContext = func(_ huma.Context, status int, msg string, errs ...error) huma.StatusError {
		return newProblem(status, msg, errs...)
	}
}

// newProblem builds a Problem like huma's NewError, then applies the
// API's rules: a path parameter that does not parse (an id that is not a
// UUID) addresses nothing, so it answers 404 like a missing object; and a
// 4xx problem without entries gets one locating it.
func newProblem(status int, msg string, errs ...error) *Problem {
	details := make([]*huma.ErrorDetail, 0, len(errs))
	for _, err := range errs {
		switch d := err.(type) {
		case nil:
		case huma.ErrorDetailer:
			details = append(details, d.ErrorDetail())
		default:
			details = append(details, &huma.ErrorDetail{Message: err.Error()})
		}
	}
	if status == http.StatusUnprocessableEntity || status == http.StatusBadRequest {
		for _, d := range details {
			if strings.HasPrefix(d.Location, "path.") {
				status = http.StatusNotFound
				msg = "There is no such object: the " + strings.TrimPrefix(d.Location, "path.") + " in the path is not one of an existing object."
				details = []*huma.ErrorDetail{{Location: d.Location, Message: "no such object"}}
				break
			}
		}
	}
	if len(details) == 0 && status >= 400 && status < 500 {
		details = append(details, &huma.ErrorDetail{Location: problemLocation(status), Message: msg})
	}
	return &Problem{ErrorModel: huma.ErrorModel{
		Status: status,
		Title:  http.StatusText(status),
		Detail: msg,
		Errors: details,
	}}
}

// problemLocation is where a 4xx problem without a more precise location
// lies, by its status.
func problemLocation(status int) string {
	switch status {
	case http.StatusNotFound:
		return "path"
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return "body"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "header.Authorization"
	case http.StatusPreconditionFailed, http.StatusPreconditionRequired:
		return "header.If-Match"
	}
	return "request"
}

// problemRequestID is a huma transformer: it stamps the request id on the
// problems that were built without the request at hand.
func problemRequestID(ctx huma.Context, _ string, v any) (any, error) {
	if p, ok := v.(*Problem); ok && p.RequestID == "" {
		p.RequestID = RequestID(ctx.Context())
	}
	return v, nil
}

// logAttrs is a helper for handlers that log with the request id.
func logAttrs(ctx context.Context) slog.Attr {
	return slog.String("request_id", RequestID(ctx))
}
