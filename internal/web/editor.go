package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/specfile"
)

// The pipeline editor: a spec as YAML or JSON, a sample input, and a
// preview pane that the service's Preview fills as the user types (htmx
// posts the form to /pipelines/preview, debounced). Saving goes through
// the service's create and update; the service checks roles and specs.

// hookCookie carries a new webhook pipeline's ingest token to its
// dashboard, once: the service returns the token only on create.
const hookCookie = "tributary_hook"

// newSpec is what the editor shows for a new pipeline.
const newSpec = `# A pipeline, in YAML (or JSON). This one receives records over HTTP:
# after saving, its dashboard shows the URL to POST JSON to.
name: sensors
kind: webhook
# mapping picks and types the fields of each record (path: where in the
# input; type: string, number, integer, boolean or time).
mapping:
  fields:
    temperature: { path: temp, type: number }
    room: { path: room, type: string }
`

// newInput is the sample the editor previews a new pipeline with.
const newInput = `[{"temp": 21.5, "room": "kitchen"}, {"temp": "warm", "room": "hall"}]`

// editorView is the editor page and its preview pane.
type editorView struct {
	// ID is the pipeline edited; uuid.Nil for a new one.
	ID      uuid.UUID
	Name    string
	Team    uuid.UUID
	Version int
	Spec    string
	Input   string
	// Error and Problems are why the spec was not saved.
	Error    string
	Problems []pipeline.Problem
	Preview  previewView
	// Form is set in form mode (editor_form.go): the spec as fields.
	Form *specForm
}

func (v editorView) action() string {
	if v.ID == uuid.Nil {
		return "/pipelines/new"
	}
	return "/pipelines/" + v.ID.String() + "/edit"
}

// previewView is the preview pane.
type previewView struct {
	Error    string
	Problems []pipeline.Problem
	P        *orchestrator.Preview
}

// rows pairs each raw input with what came of it.
func (p previewView) rows() []previewRow {
	if p.P == nil {
		return nil
	}
	rows := make([]previewRow, len(p.P.Raw))
	for i, raw := range p.P.Raw {
		rows[i].Raw = string(raw)
	}
	for _, m := range p.P.Records {
		if m.Index < len(rows) {
			rows[m.Index].Mapped = append(rows[m.Index].Mapped, string(m.Data))
		}
	}
	for _, e := range p.P.Errors {
		if e.Index < len(rows) {
			rows[e.Index].Reasons = append(rows[e.Index].Reasons, e.Reason)
		}
	}
	return rows
}

type previewRow struct {
	Raw     string
	Mapped  []string
	Reasons []string
}

// specJSON turns the editor's text into a JSON spec: JSON as typed (the
// service reports its syntax errors with positions), else YAML.
func specJSON(text string) ([]byte, error) {
	t := strings.TrimSpace(text)
	if t == "" || strings.HasPrefix(t, "{") {
		return []byte(t), nil
	}
	out, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "The spec is neither JSON nor YAML.",
			Problems: []pipeline.Problem{{Message: err.Error()}}}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) {
		return nil, &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "The spec must be a mapping (name: …, kind: …).",
			Problems: []pipeline.Problem{{Message: "is not a mapping"}}}
	}
	return out, nil
}

// problemsOf splits a service error into its sentence and problems, with
// paths relative to the spec; ok is false for errors that are not the
// user's to fix.
func problemsOf(err error) (string, []pipeline.Problem, bool) {
	var oe *orchestrator.Error
	if !errors.As(err, &oe) {
		return "", nil, false
	}
	switch {
	case errors.Is(err, orchestrator.ErrInvalid), errors.Is(err, orchestrator.ErrMalformed),
		errors.Is(err, orchestrator.ErrConflict), errors.Is(err, orchestrator.ErrVersionConflict),
		errors.Is(err, orchestrator.ErrUnavailable):
	default:
		return "", nil, false
	}
	ps := make([]pipeline.Problem, len(oe.Problems))
	for i, p := range oe.Problems {
		p.Path = strings.TrimPrefix(strings.TrimPrefix(p.Path, "spec"), ".")
		ps[i] = p
	}
	return oe.Msg, ps, true
}

// preview runs the service's preview of what the form holds.
func (h *Handler) preview(r *http.Request, svc Pipelines, who orchestrator.Caller, spec, input string) (previewView, error) {
	doc, err := specJSON(spec)
	if err == nil {
		var p orchestrator.Preview
		p, err = svc.Preview(r.Context(), who, orchestrator.PreviewRequest{Spec: doc, Input: json.RawMessage(input), Limit: 20})
		if err == nil {
			return previewView{P: &p}, nil
		}
	}
	msg, ps, ok := problemsOf(err)
	if !ok {
		return previewView{}, err
	}
	return previewView{Error: msg, Problems: ps}, nil
}

// canEdit says whether the caller may edit the team's pipelines: the
// pages hide the editor from the rest (the service refuses them anyway).
func canEdit(who orchestrator.Caller) bool {
	if who.Principal == nil {
		return false
	}
	_, _, err := who.Principal.Require(who.Team, auth.Editor)
	return err == nil
}

func (h *Handler) newPipelinePage(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	svc, _ := h.services()
	if svc == nil {
		h.unavailable(w, r)
		return
	}
	if !canEdit(who) {
		h.serviceError(w, r, orchestrator.ErrForbidden)
		return
	}
	v := editorView{Spec: newSpec, Input: newInput}
	if formMode(r) {
		doc, _ := specJSON(newSpec)
		v.Form = formFromSpec(doc)
		h.fillPicks(r, svc, who, v.Form, uuid.Nil)
	}
	pv, err := h.preview(r, svc, who, v.Spec, v.Input)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	v.Preview = pv
	h.render(w, r, http.StatusOK, editorPage(h.shell(w, r, "New pipeline", "pipelines"), v))
}

func (h *Handler) editPipelinePage(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	svc, _ := h.services()
	if svc == nil {
		h.unavailable(w, r)
		return
	}
	s, err := svc.Summary(r.Context(), who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	if !s.Role.AtLeast(auth.Editor) {
		h.serviceError(w, r, orchestrator.ErrForbidden)
		return
	}
	who.Team = s.Pipeline.TeamID
	spec, err := specfile.Encode(s.Pipeline.Spec)
	if err != nil {
		spec = s.Pipeline.Spec // JSON is a spec too
	}
	v := editorView{ID: id, Name: s.Pipeline.Name, Team: s.Pipeline.TeamID, Version: s.Pipeline.Version, Spec: string(spec)}
	if s.Pipeline.Kind == core.KindWebhook || s.Pipeline.Kind == core.KindP2P {
		v.Input = newInput
	}
	if formMode(r) {
		v.Form = formFromSpec(s.Pipeline.Spec)
		if s.Pipeline.HookToken != "" {
			v.Form.HookURL = h.baseURL(r) + "/hooks/" + s.Pipeline.HookToken
		}
		h.fillPicks(r, svc, who, v.Form, id)
	}
	// A pipeline that polls fetches its sample only on request (typing):
	// opening the editor should not call its API.
	if v.Input != "" {
		if v.Preview, err = h.preview(r, svc, who, v.Spec, v.Input); err != nil {
			h.serviceError(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, editorPage(h.shell(w, r, "Edit "+s.Pipeline.Name, "pipelines"), v))
}

// previewPane answers the editor's debounced posts with the preview pane.
// Problems of the spec are the pane's content, not an error status (htmx
// swaps only successful answers).
func (h *Handler) previewPane(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	svc, _ := h.services()
	if svc == nil {
		http.Error(w, "pipelines are unavailable", http.StatusServiceUnavailable)
		return
	}
	if !h.readForm(w, r) {
		return
	}
	if t, err := uuid.Parse(r.PostFormValue("team")); err == nil {
		who.Team = t
	}
	spec, _, err := postedSpec(r)
	var pv previewView
	if err != nil {
		msg, ps, _ := problemsOf(err)
		pv = previewView{Error: msg, Problems: ps}
	} else if pv, err = h.preview(r, svc, who, spec, r.PostFormValue("input")); err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, previewPane(pv))
}

// savePipeline creates (id uuid.Nil) or updates a pipeline from the form.
func (h *Handler) savePipeline(w http.ResponseWriter, r *http.Request, id uuid.UUID) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	svc, _ := h.services()
	if svc == nil {
		h.unavailable(w, r)
		return
	}
	if !h.readForm(w, r) {
		return
	}
	v := editorView{ID: id, Input: r.PostFormValue("input"), Name: r.PostFormValue("name")}
	if t, err := uuid.Parse(r.PostFormValue("team")); err == nil {
		who.Team, v.Team = t, t
	}
	v.Version, _ = strconv.Atoi(r.PostFormValue("version"))
	spec, form, formErr := postedSpec(r)
	v.Spec, v.Form = spec, form
	if v.Form != nil {
		h.fillPicks(r, svc, who, v.Form, id)
	}
	if sw := r.PostFormValue("switch"); sw != "" {
		h.switchMode(w, r, svc, who, v, sw, formErr)
		return
	}
	doc, err := specJSON(v.Spec)
	if formErr != nil {
		err = formErr
	}
	var p core.Pipeline
	if err == nil {
		if id == uuid.Nil {
			p, err = svc.CreatePipeline(r.Context(), who, doc)
		} else {
			p, err = svc.UpdatePipeline(r.Context(), who, id, v.Version, doc)
		}
	}
	if err != nil {
		msg, ps, ok := problemsOf(err)
		if !ok {
			h.serviceError(w, r, err)
			return
		}
		v.Error, v.Problems = msg, ps
		if v.Form != nil {
			v.Form.Problems = ps
		}
		if v.Input != "" && formErr == nil {
			if v.Preview, err = h.preview(r, svc, who, v.Spec, v.Input); err != nil {
				h.serviceError(w, r, err)
				return
			}
		}
		title := "New pipeline"
		if id != uuid.Nil {
			title = "Edit " + v.Name
		}
		status := http.StatusUnprocessableEntity
		if errors.Is(err, orchestrator.ErrConflict) || errors.Is(err, orchestrator.ErrVersionConflict) {
			status = http.StatusConflict
		}
		h.render(w, r, status, editorPage(h.shell(w, r, title, "pipelines"), v))
		return
	}
	to := "/pipelines/" + p.ID.String()
	if id == uuid.Nil {
		if p.HookToken != "" {
			http.SetCookie(w, &http.Cookie{Name: hookCookie, Value: p.HookToken, Path: to, HttpOnly: true,
				Secure: h.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 300})
			setFlash(w, h.secure(r), "success", "Pipeline "+p.Name+" is created. Its ingest URL is shown below only this once: copy it now.")
		} else {
			setFlash(w, h.secure(r), "success", "Pipeline "+p.Name+" is created.")
		}
	} else {
		setFlash(w, h.secure(r), "success", "Pipeline "+p.Name+" is saved (version "+strconv.Itoa(p.Version)+").")
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) createPipeline(w http.ResponseWriter, r *http.Request) {
	h.savePipeline(w, r, uuid.Nil)
}

func (h *Handler) updatePipeline(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	h.savePipeline(w, r, id)
}

// takeHookToken reads and clears the ingest token a create left for the
// dashboard of the pipeline.
func takeHookToken(w http.ResponseWriter, r *http.Request, path string, secure bool) string {
	c, err := r.Cookie(hookCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: hookCookie, Value: "", Path: path, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return c.Value
}

// switchMode re-renders the editor in the other mode with what it holds,
// saving nothing: the form's spec as YAML, or the spec as the form.
func (h *Handler) switchMode(w http.ResponseWriter, r *http.Request, svc Pipelines, who orchestrator.Caller, v editorView, to string, formErr error) {
	title := "New pipeline"
	if v.ID != uuid.Nil {
		title = "Edit " + v.Name
	}
	if to == "form" && v.Form == nil {
		doc, err := specJSON(v.Spec)
		if err != nil {
			msg, ps, _ := problemsOf(err)
			v.Error, v.Problems = "Fix the spec before switching to the form: "+msg, ps
			h.render(w, r, http.StatusUnprocessableEntity, editorPage(h.shell(w, r, title, "pipelines"), v))
			return
		}
		v.Form = formFromSpec(doc)
		h.fillPicks(r, svc, who, v.Form, v.ID)
	} else if to == "spec" && v.Form != nil {
		if formErr != nil {
			msg, ps, _ := problemsOf(formErr)
			v.Error, v.Problems, v.Form.Problems = msg, ps, ps
			h.render(w, r, http.StatusUnprocessableEntity, editorPage(h.shell(w, r, title, "pipelines"), v))
			return
		}
		if y, err := specfile.Encode([]byte(v.Spec)); err == nil {
			v.Spec = string(y)
		}
		v.Form = nil
	}
	if v.Input != "" {
		pv, err := h.preview(r, svc, who, v.Spec, v.Input)
		if err != nil {
			h.serviceError(w, r, err)
			return
		}
		v.Preview = pv
	}
	h.render(w, r, http.StatusOK, editorPage(h.shell(w, r, title, "pipelines"), v))
}
