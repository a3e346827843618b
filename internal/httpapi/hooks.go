package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/ingest"
)

// Webhook ingest: POST /hooks/{token}, the transport of ingest.Service.
//
// The token in the path is the credential, so the route takes no session
// or API token and is exempt from the cross-origin check and the API's
// body limit (the pipeline's max_body_bytes applies). The handler hands
// the token, headers and body to Accept and maps its answer:
//
//	202 {"accepted", "rejected", "run_id"}
//	200 {"accepted": 0, "rejected": 0, "already_received": true}: a signed
//	    request whose webhook-id the pipeline already stored (a retry
//	    after a lost answer, or a replay); nothing was stored again
//	ingest.ErrUnknownToken            404
//	ingest.ErrPaused                  409
//	*ingest.RateLimitedError          429 with Retry-After
//	*ingest.BusyError                 429 with Retry-After
//	*ingest.TooLargeError             413
//	*ingest.TooManyRecordsError       413
//	*ingest.UnsupportedEncodingError  415
//	*ingest.BadEncodingError, *ingest.BadJSONError, ingest.ErrUnreadableBody  400
//	*ingest.SignatureError            401
//	ingest.ErrMisconfigured           500 (logged)
//	*ingest.UnavailableError          503 with Retry-After (logged)
//	ingest.ErrCanceled                499

// Ingest is what the webhook route needs of ingest; *ingest.Service has it.
type Ingest interface {
	// Accept takes one webhook request and returns once its records are
	// durable.
	Accept(ctx context.Context, token string, header http.Header, body io.Reader) (ingest.Result, error)
}

var _ Ingest = (*ingest.Service)(nil)

// IngestBody is the answer to an accepted webhook request.
type IngestBody struct {
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	RunID    *uuid.UUID `json:"run_id,omitempty"`
	// AlreadyReceived is set (with status 200) when the request's
	// webhook-id was already stored: nothing was stored again.
	AlreadyReceived bool   `json:"already_received,omitempty"`
	Detail          string `json:"detail,omitempty"`
}

// unknownHookDetail is the same for unknown, deleted and malformed tokens.
const unknownHookDetail = "There is no webhook at this URL."

// RegisterHooks adds webhook ingest, POST /hooks/{token}. Call it before
// serving.
func (s *Server) RegisterHooks(in Ingest) {
	h := &hookRoutes{s: s, ingest: in}
	s.mux.HandleFunc("POST /hooks/{token}", h.accept)
	documentHooks(s.api)
}

// hookRoutes serves webhook ingest.
type hookRoutes struct {
	s      *Server
	ingest Ingest
}

// accept serves POST /hooks/{token}.
func (h *hookRoutes) accept(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	res, err := h.ingest.Accept(ctx, req.PathValue("token"), req.Header, req.Body)
	if err != nil {
		h.refuse(ctx, w, err)
		return
	}
	out := IngestBody{Accepted: res.Accepted, Rejected: res.Rejected}
	if res.RunID != uuid.Nil {
		out.RunID = &res.RunID
	}
	status := http.StatusAccepted
	if res.AlreadyReceived {
		status = http.StatusOK
		out.AlreadyReceived = true
		out.Detail = "This webhook-id was already received; its records are stored and were not stored again."
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// refuse answers a request Accept refused: the one place that maps ingest
// errors to status codes, problem details and Retry-After.
func (h *hookRoutes) refuse(ctx context.Context, w http.ResponseWriter, err error) {
	var (
		tooLarge    *ingest.TooLargeError
		tooMany     *ingest.TooManyRecordsError
		unsupported *ingest.UnsupportedEncodingError
		badEncoding *ingest.BadEncodingError
		badJSON     *ingest.BadJSONError
		badSig      *ingest.SignatureError
		limited     *ingest.RateLimitedError
		busy        *ingest.BusyError
		down        *ingest.UnavailableError
		serverLimit *http.MaxBytesError
	)
	switch {
	case errors.Is(err, ingest.ErrUnknownToken):
		writeProblem(w, http.StatusNotFound, unknownHookDetail)
	case errors.Is(err, ingest.ErrPaused):
		writeProblem(w, http.StatusConflict, "This pipeline is paused; it takes no records until it is resumed.")
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
		writeProblem(w, http.StatusTooManyRequests, "This team sends more webhook requests than its limit; retry after the time in Retry-After.")
	case errors.As(err, &busy):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(busy.RetryAfter.Seconds()))))
		writeProblem(w, http.StatusTooManyRequests, fmt.Sprintf("This team has %d webhook requests in progress on this server, its limit; "+
			"retry after the time in Retry-After, or send fewer requests at once.", busy.Limit))
	case errors.As(err, &tooLarge) && tooLarge.Ratio > 0:
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The decompressed body is more than %d times larger than the body as sent; "+
			"send it uncompressed or less compressible.", tooLarge.Ratio))
	case errors.As(err, &tooLarge):
		what := "request body"
		if tooLarge.Decompressed {
			what = "decompressed body"
		}
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The %s is larger than this pipeline's limit of %d bytes.", what, tooLarge.Limit))
	case errors.As(err, &tooMany):
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request holds more than %d records, this pipeline's limit (source.webhook.max_records); "+
			"none was stored: send the records in several requests.", tooMany.Limit))
	case errors.As(err, &serverLimit):
		// The server's own limit on request bodies is the lower one.
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than this server's limit of %d bytes.", serverLimit.Limit))
	case errors.Is(err, ingest.ErrUnreadableBody):
		writeProblem(w, http.StatusBadRequest, "The request body could not be read completely.")
	case errors.As(err, &unsupported):
		writeProblem(w, http.StatusUnsupportedMediaType, "Content-Encoding "+quoteHeader(unsupported.Encoding)+
			" is not supported; send the body uncompressed or gzip-compressed.")
	case errors.As(err, &badEncoding):
		detail := "The body is not valid " + badEncoding.Encoding + " data."
		if badEncoding.Corrupt {
			detail = "The body is not valid " + badEncoding.Encoding + " data (it is corrupt or truncated)."
		}
		writeProblem(w, http.StatusBadRequest, detail)
	case errors.As(err, &badSig):
		writeProblem(w, http.StatusUnauthorized, "The webhook signature is not valid: "+badSig.Err.Error()+".")
	case errors.As(err, &badJSON):
		writeProblem(w, http.StatusBadRequest, badJSON.Detail)
	case errors.Is(err, ingest.ErrMisconfigured):
		h.s.log.ErrorContext(ctx, "webhook pipeline cannot take requests", logAttrs(ctx), "err", err)
		writeProblem(w, http.StatusInternalServerError, "This webhook cannot take requests as it is configured; the pipeline's team must fix it.")
	case errors.Is(err, ingest.ErrCanceled):
		writeProblem(w, 499, "The request was cancelled.") // nobody reads it; the access log shows it
	case errors.As(err, &down):
		h.unavailable(ctx, w, down)
	default:
		h.s.log.ErrorContext(ctx, "webhook request failed", logAttrs(ctx), "err", err)
		writeProblem(w, http.StatusInternalServerError, "Something went wrong on our side; the request id identifies it in the logs ("+RequestID(ctx)+").")
	}
}

// unavailable logs what a part ingest depends on failed with and answers
// 503 with Retry-After.
func (h *hookRoutes) unavailable(ctx context.Context, w http.ResponseWriter, e *ingest.UnavailableError) {
	detail := "This webhook cannot take requests right now; try again shortly."
	switch e.Step {
	case ingest.StepLookup:
		h.s.log.ErrorContext(ctx, "look up webhook", logAttrs(ctx), "err", e.Err)
	case ingest.StepVerify:
		h.s.log.ErrorContext(ctx, "webhook replay check", logAttrs(ctx), "pipeline", e.Pipeline, "err", e.Err)
		detail = "This webhook cannot verify signatures right now; try again shortly."
	default:
		if !errors.Is(e.Err, engine.ErrClosed) {
			h.s.log.ErrorContext(ctx, "webhook batch failed", logAttrs(ctx), "pipeline", e.Pipeline, "err", e.Err)
		}
		detail = "The records could not be stored; nothing of this request was kept. Try again shortly."
	}
	unavailable(w, detail)
}

// unavailable answers 503 with Retry-After.
func unavailable(w http.ResponseWriter, detail string) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, detail)
}

// quoteHeader quotes a header value for a message, cut short.
func quoteHeader(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}
