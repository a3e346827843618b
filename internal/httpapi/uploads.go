package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/source/upload"
)

// File uploads: POST /api/v1/pipelines/{id}/uploads.
//
// The route is a plain net/http handler rather than a huma operation so
// that the file streams from the request into object storage without ever
// being held in memory; it has its own body limit (UploadsConfig.MaxBytes),
// which the API's limitBody middleware leaves to it. A request goes:
//
//	principal, editor role in the team, pipeline of the team   401, 403, 404
//	paused pipeline                                            409
//	Content-Length or body over MaxBytes                       413
//	multipart/form-data (the part named "file", or the first
//	part with a file name), or the raw body
//	format: ?format=, the Content-Type, the file name, the first bytes
//	stream into object storage
//	upload row + processing job in one transaction             202 {upload}
//
// The job (jobs.UploadWorker) checks the file, then commits it in chunks;
// GET .../uploads/{upload} shows its progress.

// Defaults of UploadsConfig.
const (
	DefaultMaxUploadBytes    = 1 << 30
	DefaultUploadReadTimeout = time.Hour
)

// UploadsConfig tunes the upload routes.
type UploadsConfig struct {
	// MaxBytes bounds an upload's request body. Default 1 GiB.
	MaxBytes int64
	// ReadTimeout bounds the reading of an upload's body, replacing the
	// server's read timeout for this route. Default 1h.
	ReadTimeout time.Duration
}

// UploadsDeps are the parts the upload routes call.
type UploadsDeps struct {
	// Service stores, lists and serves uploads.
	Service *orchestrator.Service
}

type uploadRoutes struct {
	s   *Server
	cfg UploadsConfig
	svc *orchestrator.Service
}

const uploadsPath = "/api/v1/pipelines/{id}/uploads"

// RegisterUploads adds the upload API: POST and GET
// /api/v1/pipelines/{id}/uploads, GET .../uploads/{upload} and GET
// .../uploads/{upload}/file. Call it before serving.
func (s *Server) RegisterUploads(cfg UploadsConfig, d UploadsDeps) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxUploadBytes
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultUploadReadTimeout
	}
	u := &uploadRoutes{s: s, cfg: cfg, svc: d.Service}
	s.mux.HandleFunc("POST "+uploadsPath, u.create)
	s.mux.HandleFunc("GET "+uploadsPath+"/{upload}/file", u.file)
	u.register()
}

// isUpload reports whether r posts an upload, whose body limit is the
// upload route's own.
func isUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/pipelines/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, "/uploads")
	return ok && id != "" && !strings.Contains(id, "/")
}

// UploadBody is an upload as the API shows it.
type UploadBody struct {
	ID         uuid.UUID  `json:"id"`
	PipelineID uuid.UUID  `json:"pipeline_id"`
	Filename   string     `json:"filename,omitempty" doc:"The name the client gave the file."`
	Format     string     `json:"format" enum:"csv,json,ndjson"`
	Size       int64      `json:"size" doc:"Bytes."`
	Status     string     `json:"status" enum:"pending,processing,done,failed" doc:"pending: stored, waiting for its job; processing: checked and being committed in chunks; done; failed: see error."`
	RowsTotal  *int64     `json:"rows_total" doc:"Rows in the file; null until the file was checked."`
	RowsDone   int64      `json:"rows_done" doc:"Rows committed so far, accepted or rejected."`
	Accepted   int64      `json:"accepted"`
	Rejected   int64      `json:"rejected" doc:"Rows that failed mapping or validation; they are among the pipeline's rejected records."`
	Progress   float64    `json:"progress" doc:"rows_done / rows_total, from 0 to 1."`
	Error      string     `json:"error,omitempty" doc:"Why a failed upload failed: the row and column (CSV) or line, column and byte offset (JSON, NDJSON) where the file breaks."`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

func uploadBody(u core.Upload) UploadBody {
	b := UploadBody{
		ID: u.ID, PipelineID: u.PipelineID, Filename: u.Filename, Format: string(u.Format), Size: u.Size, Status: string(u.Status),
		RowsTotal: u.RowsTotal, RowsDone: u.RowsDone, Accepted: u.Accepted, Rejected: u.Rejected, Error: u.Error,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, FinishedAt: u.FinishedAt,
	}
	switch {
	case u.Status == core.UploadDone:
		b.Progress = 1
	case u.RowsTotal != nil && *u.RowsTotal > 0:
		b.Progress = float64(u.RowsDone) / float64(*u.RowsTotal)
	}
	return b
}

// create serves POST /api/v1/pipelines/{id}/uploads.
func (u *uploadRoutes) create(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	who, id, status, detail := u.target(req)
	if status != 0 {
		writeProblem(w, status, detail)
		return
	}
	p, err := u.svc.UploadTarget(ctx, who, id)
	if err != nil {
		u.writeError(w, req, err)
		return
	}
	if req.ContentLength > u.cfg.MaxBytes {
		u.tooLarge(w)
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, u.cfg.MaxBytes)
	// The server's read timeout is made for API requests, not for files.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(u.cfg.ReadTimeout))

	src, filename, ctype, explicit, status, detail := u.source(req)
	if status != 0 {
		writeProblem(w, status, detail)
		return
	}
	rec, err := u.svc.CreateUpload(ctx, who, p.ID, orchestrator.UploadInput{Body: src, Filename: filename, ContentType: ctype, Format: explicit})
	if err != nil {
		u.writeError(w, req, err)
		return
	}
	loc := strings.Replace(uploadsPath, "{id}", p.ID.String(), 1) + "/" + rec.ID.String()
	if t := req.URL.Query().Get("team"); t != "" {
		loc += "?team=" + p.TeamID.String()
	}
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(uploadBody(rec))
}

func (u *uploadRoutes) tooLarge(w http.ResponseWriter) {
	writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The upload is larger than the limit of %d bytes; split the file.", u.cfg.MaxBytes))
}

// source finds the file in the request: a multipart part or the body.
func (u *uploadRoutes) source(req *http.Request) (src io.Reader, filename, ctype, format string, status int, detail string) {
	q := req.URL.Query()
	format = q.Get("format")
	ctype = req.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ctype)
	if mt != "multipart/form-data" {
		filename = q.Get("filename")
		if filename == "" {
			if _, p, err := mime.ParseMediaType(req.Header.Get("Content-Disposition")); err == nil {
				filename = p["filename"]
			}
		}
		return req.Body, cleanFilename(filename), ctype, format, 0, ""
	}
	if params["boundary"] == "" {
		return nil, "", "", "", http.StatusBadRequest, "The multipart body has no boundary."
	}
	mr, err := req.MultipartReader()
	if err != nil {
		return nil, "", "", "", http.StatusBadRequest, "The multipart body cannot be read."
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, "", "", "", http.StatusBadRequest, `The form has no file; send it in a part named "file".`
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, "", "", "", http.StatusRequestEntityTooLarge, fmt.Sprintf("The upload is larger than the limit of %d bytes; split the file.", u.cfg.MaxBytes)
			}
			return nil, "", "", "", http.StatusBadRequest, "The multipart body cannot be read."
		}
		if part.FormName() == "format" && part.FileName() == "" {
			b, _ := io.ReadAll(io.LimitReader(part, 32))
			format = strings.TrimSpace(string(b))
			continue
		}
		if part.FormName() == "file" || part.FileName() != "" {
			return part, cleanFilename(part.FileName()), part.Header.Get("Content-Type"), format, 0, ""
		}
	}
}

// cleanFilename keeps the base name of a client's file name, without
// control characters, at most 255 bytes: it is shown, never used as a
// path.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := lastRune(name)
		name = name[:len(name)-size]
	}
	return name
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// target reads who asks and for which pipeline; a request it cannot read
// gets a status and detail.
func (u *uploadRoutes) target(req *http.Request) (orchestrator.Caller, uuid.UUID, int, string) {
	pr := account.PrincipalFrom(req.Context())
	if pr == nil {
		return orchestrator.Caller{}, uuid.Nil, http.StatusUnauthorized, "Sign in or send a valid API token."
	}
	who := orchestrator.Caller{Principal: pr}
	if t := req.URL.Query().Get("team"); t != "" {
		id, err := uuid.Parse(t)
		if err != nil {
			return who, uuid.Nil, http.StatusUnprocessableEntity, "The team parameter must be a team id."
		}
		who.Team = id
	}
	// A malformed id is a pipeline that does not exist: the service says
	// so after checking the caller's role, as for any other id.
	id, _ := uuid.Parse(req.PathValue("id"))
	return who, id, 0, ""
}

// writeError answers a failed upload use case: the sender's read errors,
// then the service's domain errors.
func (u *uploadRoutes) writeError(w http.ResponseWriter, req *http.Request, err error) {
	ctx := req.Context()
	var mbe *http.MaxBytesError
	oe, isDomain := errors.AsType[*orchestrator.Error](err)
	switch {
	case errors.As(err, &mbe):
		u.tooLarge(w)
	case errors.Is(err, orchestrator.ErrUploadRead):
		writeProblem(w, http.StatusBadRequest, "The upload could not be read to its end; nothing was kept. Send it again.")
	case errors.Is(err, account.ErrForbidden):
		writeProblem(w, http.StatusForbidden, err.Error())
	case isDomain:
		status := http.StatusInternalServerError
		switch {
		case errors.Is(oe, orchestrator.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(oe, orchestrator.ErrConflict):
			status = http.StatusConflict
		case errors.Is(oe, orchestrator.ErrMalformed):
			status = http.StatusBadRequest
		case errors.Is(oe, orchestrator.ErrInvalid):
			status = http.StatusUnprocessableEntity
		case errors.Is(oe, orchestrator.ErrGone):
			status = http.StatusGone
		case errors.Is(oe, orchestrator.ErrUnavailable):
			unavailable(w, oe.Msg)
			return
		}
		writeProblem(w, status, oe.Msg)
	case errors.Is(err, core.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "There is no such team, or you are not a member of it.")
	default:
		u.s.log.ErrorContext(ctx, "upload", logAttrs(ctx), "err", err)
		unavailable(w, "The pipeline cannot be loaded right now; try again shortly.")
	}
}

// file serves GET .../uploads/{upload}/file: the stored file, kept after a
// failure for inspection (and deleted once an upload is done).
func (u *uploadRoutes) file(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	who, pid, status, detail := u.target(req)
	if status != 0 {
		writeProblem(w, status, detail)
		return
	}
	id, err := uuid.Parse(req.PathValue("upload"))
	if err != nil {
		// Whether the pipeline exists is checked first, as for any id.
		if _, err := u.svc.Pipeline(ctx, who, pid); err != nil {
			u.writeError(w, req, err)
			return
		}
		writeProblem(w, http.StatusNotFound, "There is no such upload of the pipeline.")
		return
	}
	rec, r, err := u.svc.UploadFile(ctx, who, pid, id)
	if err != nil {
		u.writeError(w, req, err)
		return
	}
	defer r.Close()
	w.Header().Set("Content-Type", upload.ContentType(rec.Format))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": rec.ID.String() + upload.Extension(rec.Format)}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.Copy(w, r)
}

type uploadOutput struct {
	Body UploadBody
}

type uploadsOutput struct {
	Body struct {
		Uploads []UploadBody `json:"uploads"`
	}
}

func (u *uploadRoutes) register() {
	api := u.s.api
	tags := []string{"Uploads"}
	huma.Register(api, huma.Operation{
		OperationID: "list-uploads", Method: http.MethodGet, Path: uploadsPath, Tags: tags,
		Summary: "List a pipeline's uploads", Description: "Newest first, with their progress.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		Limit int `query:"limit" minimum:"0" maximum:"1000" doc:"At most this many (default 100)."`
	}) (*uploadsOutput, error) {
		list, err := u.svc.Uploads(ctx, caller(ctx, in.TeamScope), in.ID, in.Limit)
		if err != nil {
			return nil, u.s.problem(ctx, err)
		}
		out := &uploadsOutput{}
		out.Body.Uploads = make([]UploadBody, len(list))
		for i, rec := range list {
			out.Body.Uploads[i] = uploadBody(rec)
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-upload", Method: http.MethodGet, Path: uploadsPath + "/{upload}", Tags: tags,
		Summary: "Get an upload and its progress",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		Upload uuid.UUID `path:"upload" doc:"The upload's id."`
	}) (*uploadOutput, error) {
		rec, err := u.svc.Upload(ctx, caller(ctx, in.TeamScope), in.ID, in.Upload)
		if err != nil {
			return nil, u.s.problem(ctx, err)
		}
		return &uploadOutput{Body: uploadBody(rec)}, nil
	})
	// The POST is a plain handler; document it alongside.
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "create-upload", Method: http.MethodPost, Path: uploadsPath, Tags: tags,
		Summary: "Upload a file of records",
		Description: "The body is a CSV (with a header row), JSON array or NDJSON file, raw or as the part named `file` of a " +
			"multipart/form-data body, up to the server's upload limit (413 beyond). The format comes from `?format=`, the " +
			"Content-Type, the file name's extension (`?filename=` for a raw body) or the first bytes. The file is stored, then " +
			"processed in the background in chunks; the 202 answer is the upload, whose progress GET shows. Needs editor.",
		Parameters: []*huma.Param{
			{Name: "id", In: "path", Required: true, Schema: &huma.Schema{Type: "string", Format: "uuid"}},
			{Name: "team", In: "query", Schema: &huma.Schema{Type: "string", Format: "uuid"}},
			{Name: "format", In: "query", Schema: &huma.Schema{Type: "string", Enum: []any{"csv", "json", "ndjson"}}},
			{Name: "filename", In: "query", Schema: &huma.Schema{Type: "string"}},
		},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"text/csv":             {Schema: &huma.Schema{Type: "string"}},
			"application/json":     {Schema: &huma.Schema{Type: "array", Items: &huma.Schema{Type: "object"}}},
			"application/x-ndjson": {Schema: &huma.Schema{Type: "string"}},
			"multipart/form-data": {Schema: &huma.Schema{Type: "object", Properties: map[string]*huma.Schema{
				"file": {Type: "string", Format: "binary"}, "format": {Type: "string"}}}},
		}},
		Responses: map[string]*huma.Response{
			"202": {Description: "Stored; processing follows.", Content: map[string]*huma.MediaType{
				"application/json": {Schema: huma.SchemaFromType(api.OpenAPI().Components.Schemas, reflect.TypeFor[UploadBody]())}}},
			"409": {Description: "The pipeline is paused."},
			"413": {Description: "The file is larger than the upload limit."},
		},
	})
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "get-upload-file", Method: http.MethodGet, Path: uploadsPath + "/{upload}/file", Tags: tags,
		Summary:     "Download an upload's stored file",
		Description: "The file as it was uploaded. It is kept after a failure, for inspection, and deleted once its upload is done (410).",
		Parameters: []*huma.Param{
			{Name: "id", In: "path", Required: true, Schema: &huma.Schema{Type: "string", Format: "uuid"}},
			{Name: "upload", In: "path", Required: true, Schema: &huma.Schema{Type: "string", Format: "uuid"}},
			{Name: "team", In: "query", Schema: &huma.Schema{Type: "string", Format: "uuid"}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "The file.", Content: map[string]*huma.MediaType{
				"text/csv": {}, "application/json": {}, "application/x-ndjson": {}}},
			"410": {Description: "The file was deleted after its upload was done."},
		},
	})
}
