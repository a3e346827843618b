package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// The editor's form mode: the same pipeline spec as fields, built into
// the spec server-side so that the form and the spec never disagree. The
// form posts to the same handlers as the spec (mode=form); the spec it
// builds starts from the spec the form was opened with (the hidden
// "base"), so settings the form does not show (a GraphQL source, query
// parameters, a timestamp, an expression mapping) are kept as they were.

// specForm is what the form shows and posts.
type specForm struct {
	Base string // the spec the form started from, JSON
	Name string
	Kind string
	// Webhook.
	SigningSecret string
	// Polling over HTTP.
	URL, Method, Records, Interval                 string
	AuthType, AuthSecret, AuthUsername, AuthHeader string
	PageType, PageParam, PageLimit, PageNext       string
	// Pipeline to pipeline.
	Upstream string
	// Mapping, validation, storage and sinks.
	Fields    []formField
	Schema    string
	Persist   bool
	Retention string
	Sinks     string
	// Picks offered: the team's secrets and pipelines.
	Secrets   []string
	Pipelines []string
	// Problems are the spec's problems by path, shown at their field
	// (the form's own, from spec, among them).
	Problems []pipeline.Problem
	// FieldErrors are the form's own errors (JSON that does not parse),
	// by path; spec reports them as the problems of an invalid spec.
	FieldErrors map[string]string
	// HookURL is the ingest URL when known (an old pipeline's plaintext
	// token), else "".
	HookURL string
}

// formField is one row of the mapping's field table.
type formField struct {
	Name, Path, Expr, Type string
}

// fieldTypes are the types a field row offers.
var fieldTypes = []string{"", mapping.TypeString, mapping.TypeNumber, mapping.TypeInteger, mapping.TypeBoolean, mapping.TypeTime, mapping.TypeObject, mapping.TypeArray}

// problemsAt lists the messages of the problems at path or below it.
func (f *specForm) problemsAt(path string) []string {
	var out []string
	for _, p := range f.Problems {
		if under(p.Path, path) {
			msg := p.Message
			if rest := strings.TrimPrefix(strings.TrimPrefix(p.Path, path), "."); rest != "" {
				msg = rest + ": " + msg
			}
			out = append(out, msg)
		}
	}
	return out
}

// problemsExcept lists the messages of the problems at path or below it
// that are not below one of the covered paths.
func (f *specForm) problemsExcept(path string, covered []string) []string {
	g := *f
	g.Problems = nil
	for _, p := range f.Problems {
		if !slices.ContainsFunc(covered, func(c string) bool { return under(p.Path, c) }) {
			g.Problems = append(g.Problems, p)
		}
	}
	return g.problemsAt(path)
}

// under says whether path is at or below prefix.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")
}

// rowPaths are the paths of the field table's rows.
func rowPaths(f *specForm) []string {
	out := make([]string, 0, len(f.Fields))
	for _, ff := range f.Fields {
		if ff.Name != "" {
			out = append(out, "mapping.fields."+ff.Name)
		}
	}
	return out
}

// formFromSpec reads a spec document (JSON) into the form.
func formFromSpec(doc []byte) *specForm {
	f := &specForm{Base: string(doc), Persist: true, Method: "GET"}
	var s pipeline.Spec
	if json.Unmarshal(doc, &s) != nil {
		return f
	}
	f.Name, f.Kind, f.Retention = s.Name, string(s.Kind), s.Retention
	f.Persist = s.Persist == nil || *s.Persist
	if s.Source.Webhook != nil {
		f.SigningSecret = s.Source.Webhook.SigningSecret
	}
	f.Interval = s.Source.Interval
	var h struct {
		URL     string `json:"url"`
		Method  string `json:"method"`
		Records string `json:"records"`
		Auth    *struct {
			Type, Secret, Username, Header string
		} `json:"auth"`
		Pagination *struct {
			Type, Param, Next string
			Limit             json.Number
		} `json:"pagination"`
	}
	if raw := s.Source.Part("http"); raw != nil && json.Unmarshal(raw, &h) == nil {
		f.URL, f.Records = h.URL, h.Records
		if h.Method != "" {
			f.Method = h.Method
		}
		if a := h.Auth; a != nil {
			f.AuthType, f.AuthSecret, f.AuthUsername, f.AuthHeader = a.Type, a.Secret, a.Username, a.Header
		}
		if p := h.Pagination; p != nil {
			f.PageType, f.PageParam, f.PageNext, f.PageLimit = p.Type, p.Param, p.Next, p.Limit.String()
		}
	}
	var up pipeline.P2PSource
	if raw := s.Source.Part("pipeline"); raw != nil && json.Unmarshal(raw, &up) == nil {
		f.Upstream = up.Upstream
	}
	var m mapping.Spec
	if len(s.Mapping) > 0 && json.Unmarshal(s.Mapping, &m) == nil {
		names := make([]string, 0, len(m.Fields))
		for n := range m.Fields {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fs := m.Fields[n]
			f.Fields = append(f.Fields, formField{Name: n, Path: fs.Path, Expr: fs.Expr, Type: fs.Type})
		}
	}
	if s.Validation != nil && len(s.Validation.Schema) > 0 {
		f.Schema = indentJSON(s.Validation.Schema)
	}
	if len(s.Sinks) > 0 {
		raw, _ := json.Marshal(s.Sinks)
		f.Sinks = indentJSON(raw)
	}
	return f
}

func indentJSON(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// formFromRequest reads the posted form.
func formFromRequest(r *http.Request) *specForm {
	v := r.PostFormValue
	f := &specForm{Base: v("base"), Name: strings.TrimSpace(v("name")), Kind: v("kind"), SigningSecret: v("signing_secret"),
		URL: strings.TrimSpace(v("url")), Method: v("method"), Records: strings.TrimSpace(v("records")), Interval: strings.TrimSpace(v("interval")),
		AuthType: v("auth_type"), AuthSecret: v("auth_secret"), AuthUsername: v("auth_username"), AuthHeader: v("auth_header"),
		PageType: v("page_type"), PageParam: v("page_param"), PageLimit: strings.TrimSpace(v("page_limit")), PageNext: v("page_next"),
		Upstream: v("upstream"), Schema: v("schema"), Persist: v("persist") != "", Retention: strings.TrimSpace(v("retention")), Sinks: v("sinks")}
	names, paths, exprs, types := r.PostForm["field_name"], r.PostForm["field_path"], r.PostForm["field_expr"], r.PostForm["field_type"]
	for i, n := range names {
		ff := formField{Name: strings.TrimSpace(n)}
		if i < len(paths) {
			ff.Path = strings.TrimSpace(paths[i])
		}
		if i < len(exprs) {
			ff.Expr = exprs[i]
		}
		if i < len(types) {
			ff.Type = types[i]
		}
		if ff.Name == "" && ff.Path == "" && ff.Expr == "" {
			continue // an empty row
		}
		f.Fields = append(f.Fields, ff)
	}
	return f
}

// spec builds the spec document the form describes, on top of Base. The
// form's own mistakes (JSON that does not parse) are set in FieldErrors
// and reported as an invalid spec.
func (f *specForm) spec() ([]byte, error) {
	doc := map[string]any{}
	if strings.TrimSpace(f.Base) != "" {
		_ = json.Unmarshal([]byte(f.Base), &doc)
	}
	set := func(m map[string]any, key string, val any) {
		if s, ok := val.(string); ok && s == "" || val == nil {
			delete(m, key)
			return
		}
		m[key] = val
	}
	obj := func(m map[string]any, key string) map[string]any {
		if sub, ok := m[key].(map[string]any); ok {
			return sub
		}
		sub := map[string]any{}
		m[key] = sub
		return sub
	}
	f.FieldErrors = map[string]string{}
	set(doc, "name", f.Name)
	set(doc, "kind", f.Kind)
	src := obj(doc, "source")
	// Only the kind's parts stay: switching kind drops the others.
	switch f.Kind {
	case "webhook":
		delete(src, "http")
		delete(src, "pipeline")
		delete(src, "interval")
		delete(src, "state")
		wh := obj(src, "webhook")
		set(wh, "signing_secret", f.SigningSecret)
	case "polling":
		delete(src, "webhook")
		delete(src, "pipeline")
		if _, gql := src["graphql"]; !gql || f.URL != "" {
			h := obj(src, "http")
			set(h, "url", f.URL)
			if f.Method == "GET" {
				delete(h, "method")
			} else {
				set(h, "method", f.Method)
			}
			set(h, "records", f.Records)
			if f.AuthType == "" || f.AuthType == "none" {
				delete(h, "auth")
			} else {
				a := obj(h, "auth")
				a["type"] = f.AuthType
				set(a, "secret", f.AuthSecret)
				set(a, "username", f.AuthUsername)
				set(a, "header", f.AuthHeader)
			}
			if f.PageType == "" {
				delete(h, "pagination")
			} else {
				p := obj(h, "pagination")
				p["type"] = f.PageType
				set(p, "param", f.PageParam)
				set(p, "next", f.PageNext)
				delete(p, "limit")
				if f.PageLimit != "" {
					var n json.Number
					if err := json.Unmarshal([]byte(f.PageLimit), &n); err != nil {
						f.FieldErrors["source.http.pagination.limit"] = "must be a whole number"
					} else {
						p["limit"] = n
					}
				}
			}
		}
		set(src, "interval", f.Interval)
	case "p2p":
		delete(src, "webhook")
		delete(src, "http")
		delete(src, "graphql")
		delete(src, "interval")
		delete(src, "state")
		up := obj(src, "pipeline")
		up["upstream"] = f.Upstream
	}
	if len(src) == 0 {
		delete(doc, "source")
	}
	mp := obj(doc, "mapping")
	if len(f.Fields) == 0 {
		delete(mp, "fields")
	} else {
		fields := map[string]any{}
		for _, ff := range f.Fields {
			fs := map[string]any{}
			set(fs, "path", ff.Path)
			set(fs, "expr", ff.Expr)
			set(fs, "type", ff.Type)
			fields[ff.Name] = fs
		}
		mp["fields"] = fields
	}
	if len(mp) == 0 {
		delete(doc, "mapping")
	}
	if strings.TrimSpace(f.Schema) == "" {
		delete(doc, "validation")
	} else if !json.Valid([]byte(f.Schema)) {
		f.FieldErrors["validation.schema"] = "is not valid JSON: write a JSON Schema object such as {\"required\": [\"temperature\"]}"
	} else {
		doc["validation"] = map[string]any{"schema": json.RawMessage(f.Schema)}
	}
	doc["persist"] = f.Persist
	set(doc, "retention", f.Retention)
	if strings.TrimSpace(f.Sinks) == "" {
		delete(doc, "sinks")
	} else if !json.Valid([]byte(f.Sinks)) {
		f.FieldErrors["sinks"] = "is not valid JSON: write a list such as [{\"name\": \"archive\", \"webhook\": {\"url\": \"https://…\"}}]"
	} else {
		doc["sinks"] = json.RawMessage(f.Sinks)
	}
	if len(f.FieldErrors) > 0 {
		var ps []pipeline.Problem
		for path, msg := range f.FieldErrors {
			ps = append(ps, pipeline.Problem{Path: path, Message: msg})
		}
		slices.SortFunc(ps, func(a, b pipeline.Problem) int { return strings.Compare(a.Path, b.Path) })
		return nil, &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "Some fields of the form are not valid.", Problems: ps}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// formMode says whether a request is of the editor's form mode.
func formMode(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("mode") == "form"
	}
	return r.PostFormValue("mode") == "form"
}

// postedSpec is the spec text a posted editor holds: the textarea, or the
// spec the form builds (as JSON).
func postedSpec(r *http.Request) (string, *specForm, error) {
	if !formMode(r) {
		return r.PostFormValue("spec"), nil, nil
	}
	f := formFromRequest(r)
	doc, err := f.spec()
	return string(doc), f, err
}

// fillPicks gives the form the team's secrets and pipelines to pick from.
func (h *Handler) fillPicks(r *http.Request, svc Pipelines, who orchestrator.Caller, f *specForm, self uuid.UUID) {
	if set, ok := svc.(Settings); ok {
		if ss, err := set.Secrets(r.Context(), who); err == nil {
			for _, s := range ss {
				f.Secrets = append(f.Secrets, s.Name)
			}
		}
	}
	if sums, err := svc.Summaries(r.Context(), who); err == nil {
		for _, s := range sums {
			if s.Pipeline.ID != self {
				f.Pipelines = append(f.Pipelines, s.Pipeline.Name)
			}
		}
	}
}

// suggestFields answers the form's "Suggest mapping": the field table
// filled with the fields and types inferred from the sample (the pasted
// input, or for a polling pipeline a fetched one), keeping the rows
// already typed that name other fields.
func (h *Handler) suggestFields(w http.ResponseWriter, r *http.Request) {
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
	f := formFromRequest(r)
	typed := f.Fields
	f.Fields = nil // the sample as it arrives, before any mapping
	var note string
	var sample []json.RawMessage
	doc, err := f.spec()
	if err == nil {
		var p orchestrator.Preview
		p, err = svc.Preview(r.Context(), who, orchestrator.PreviewRequest{Spec: doc, Input: json.RawMessage(r.PostFormValue("input")), Limit: 20})
		if err == nil {
			sample = p.Raw
			if p.Error != "" {
				note = "Fetching a sample failed: " + p.Error
			}
		}
	}
	if err != nil {
		msg, ps, ok := problemsOf(err)
		if !ok {
			h.serviceError(w, r, err)
			return
		}
		note = msg
		for _, p := range ps {
			note += " " + p.Path + ": " + p.Message + "."
		}
	}
	sugg := mapping.Infer(sample)
	if len(sugg) == 0 && note == "" {
		note = "The sample has no JSON objects to suggest fields from: paste a sample input first."
	}
	// A typed row stays when it names a field and a path the sample does
	// not (an expression computing something new); the others are
	// replaced by the suggestions.
	rows := make([]formField, 0, len(sugg)+len(typed))
	have := map[string]bool{}
	for _, s := range sugg {
		rows = append(rows, formField{Name: s.Name, Path: s.Path, Type: s.Type})
		have[s.Name], have["path:"+s.Path] = true, true
	}
	for _, t := range typed {
		if !have[t.Name] && (t.Path == "" || !have["path:"+t.Path]) {
			rows = append(rows, t)
		}
	}
	f.Fields = rows
	h.render(w, r, http.StatusOK, fieldRows(f, note))
}
