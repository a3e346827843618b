package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/dashboard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Custom dashboards: a team's named grids of widgets (package dashboard).
// The server renders the grid and each widget's data over the range; the
// browser (web/src/dashboards.js) draws the charts and keeps them live
// from the streams of the pipelines the widgets read. Editing is forms
// (add, configure, remove, move and resize with buttons), plus drag and
// resize in the browser, all saved through the dashboard service, which
// checks roles and documents.

// Dashboards is what the dashboard pages need of the dashboard service;
// *orchestrator.Service is one. The pages find it on the service given
// to UsePipelines.
type Dashboards interface {
	Dashboards(ctx context.Context, who orchestrator.Caller) ([]orchestrator.DashboardView, error)
	Dashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (orchestrator.DashboardView, error)
	CreateDashboard(ctx context.Context, who orchestrator.Caller, doc []byte) (orchestrator.DashboardView, error)
	UpdateDashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID, ifVersion int, doc []byte) (orchestrator.DashboardView, error)
	DeleteDashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	DashboardData(ctx context.Context, who orchestrator.Caller, id uuid.UUID, from, to time.Time) (orchestrator.DashboardData, error)
}

var _ Dashboards = (*orchestrator.Service)(nil)

// dashboardRoutes registers the dashboard pages.
func (h *Handler) dashboardRoutes() {
	h.mux.HandleFunc("GET /dashboards", h.dashboardsPage)
	h.mux.HandleFunc("POST /dashboards", h.createDashboard)
	h.mux.HandleFunc("GET /dashboards/{id}", h.customDashboard)
	h.mux.HandleFunc("GET /dashboards/{id}/edit", h.customDashboard)
	h.mux.HandleFunc("POST /dashboards/{id}/delete", h.deleteDashboard)
	h.mux.HandleFunc("POST /dashboards/{id}/settings", h.dashboardSettings)
	h.mux.HandleFunc("GET /dashboards/{id}/widgets/new", h.widgetForm)
	h.mux.HandleFunc("POST /dashboards/{id}/widgets/new", h.saveWidget)
	h.mux.HandleFunc("GET /dashboards/{id}/widgets/{i}", h.widgetForm)
	h.mux.HandleFunc("POST /dashboards/{id}/widgets/{i}", h.saveWidget)
	h.mux.HandleFunc("POST /dashboards/{id}/widgets/{i}/delete", h.removeWidget)
	h.mux.HandleFunc("POST /dashboards/{id}/widgets/{i}/place", h.placeWidget)
}

// dashboardService returns the dashboard service, or answers 503.
func (h *Handler) dashboardService(w http.ResponseWriter, r *http.Request) (Dashboards, Pipelines, bool) {
	svc, _ := h.services()
	ds, ok := svc.(Dashboards)
	if svc == nil || !ok {
		h.unavailable(w, r)
		return nil, nil, false
	}
	return ds, svc, true
}

// callerRole is the caller's team and role in it.
func callerRole(who orchestrator.Caller) (uuid.UUID, auth.Role) {
	if who.Principal == nil {
		return uuid.Nil, ""
	}
	team, role, err := who.Principal.Team(who.Team)
	if err != nil {
		return uuid.Nil, ""
	}
	return team, role
}

// dashboardsView is the list page.
type dashboardsView struct {
	List    []orchestrator.DashboardView
	CanEdit bool
	Form    formState
	Name    string
	Desc    string
}

func (h *Handler) dashboardsPage(w http.ResponseWriter, r *http.Request) {
	h.listDashboards(w, r, http.StatusOK, dashboardsView{})
}

func (h *Handler) listDashboards(w http.ResponseWriter, r *http.Request, status int, v dashboardsView) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	ds, _, ok := h.dashboardService(w, r)
	if !ok {
		return
	}
	list, err := ds.Dashboards(r.Context(), who)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	_, role := callerRole(who)
	v.List, v.CanEdit = list, role.AtLeast(auth.Editor)
	h.render(w, r, status, dashboardsPage(h.shell(w, r, "Dashboards", "dashboards"), v))
}

func (h *Handler) createDashboard(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	ds, _, ok := h.dashboardService(w, r)
	if !ok || !h.readForm(w, r) {
		return
	}
	name, desc := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("description"))
	doc, _ := json.Marshal(dashboard.Spec{Name: name, Description: desc, Widgets: []dashboard.Widget{}})
	d, err := ds.CreateDashboard(r.Context(), who, doc)
	if err != nil {
		msg := userFacing(err)
		if msg == "" {
			h.serviceError(w, r, err)
			return
		}
		h.listDashboards(w, r, statusOf(err), dashboardsView{Name: name, Desc: desc,
			Form: formState{Error: problemText(err, msg), ErrField: "name"}})
		return
	}
	setFlash(w, h.secure(r), "success", fmt.Sprintf("Dashboard %s is created. Add widgets to it below.", d.Name))
	http.Redirect(w, r, "/dashboards/"+d.ID.String()+"/edit", http.StatusSeeOther)
}

// statusOf is the HTTP status of an error of the service.
func statusOf(err error) int {
	switch {
	case errors.Is(err, orchestrator.ErrForbidden), errors.Is(err, account.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, orchestrator.ErrConflict), errors.Is(err, orchestrator.ErrVersionConflict):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// problemText is a service error's sentence with its problems.
func problemText(err error, msg string) string {
	de, ok := errors.AsType[*orchestrator.Error](err)
	if !ok || len(de.Problems) == 0 {
		return msg
	}
	parts := make([]string, len(de.Problems))
	for i, p := range de.Problems {
		parts[i] = p.String()
	}
	return msg + " " + strings.Join(parts, "; ")
}

func (h *Handler) deleteDashboard(w http.ResponseWriter, r *http.Request) {
	h.dashboardAction(w, r, func(ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView) (string, string, error) {
		return "/dashboards", "Dashboard " + d.Name + " is deleted.", ds.DeleteDashboard(r.Context(), who, d.ID)
	})
}

// dashboardSettings saves the name, description and opening range.
func (h *Handler) dashboardSettings(w http.ResponseWriter, r *http.Request) {
	h.dashboardAction(w, r, func(ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView) (string, string, error) {
		spec := d.Spec
		spec.Name = strings.TrimSpace(r.PostFormValue("name"))
		spec.Description = strings.TrimSpace(r.PostFormValue("description"))
		spec.Range = r.PostFormValue("range")
		_, err := h.saveSpec(r, ds, who, d, spec)
		return editHref(d.ID), "The dashboard's settings are saved.", err
	})
}

func (h *Handler) removeWidget(w http.ResponseWriter, r *http.Request) {
	h.dashboardAction(w, r, func(ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView) (string, string, error) {
		i, err := widgetIndex(r, d)
		if err != nil {
			return editHref(d.ID), "", err
		}
		spec := d.Spec
		spec.Widgets = slices.Delete(slices.Clone(spec.Widgets), i, i+1)
		_, err = h.saveSpec(r, ds, who, d, spec)
		return editHref(d.ID), "The widget is removed.", err
	})
}

// dashboardAction runs a form post on a dashboard, then sends back to a
// page with the outcome as a flash message.
func (h *Handler) dashboardAction(w http.ResponseWriter, r *http.Request,
	do func(ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView) (to, msg string, err error)) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	ds, _, ok := h.dashboardService(w, r)
	if !ok || !h.readForm(w, r) {
		return
	}
	d, err := ds.Dashboard(r.Context(), who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	to, msg, err := do(ds, who, d)
	if errors.Is(err, orchestrator.ErrVersionConflict) {
		setFlash(w, h.secure(r), "error", "The dashboard was changed by someone else since you opened it; here it is as it is now. Apply your change again.")
		http.Redirect(w, r, editHref(id), http.StatusSeeOther)
		return
	}
	if err != nil {
		if m := userFacing(err); m != "" && !errors.Is(err, orchestrator.ErrForbidden) {
			setFlash(w, h.secure(r), "error", problemText(err, m))
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		h.serviceError(w, r, err)
		return
	}
	setFlash(w, h.secure(r), "success", msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// saveSpec saves a changed document if the dashboard is still at the
// version the form was made from (the form's "version"; else the version
// read): the service refuses a stale change, after checking the role.
func (h *Handler) saveSpec(r *http.Request, ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView, spec dashboard.Spec) (orchestrator.DashboardView, error) {
	doc, err := json.Marshal(spec)
	if err != nil {
		return d, fmt.Errorf("encode dashboard: %w", err)
	}
	version := d.Version
	if v, err := strconv.Atoi(r.PostFormValue("version")); err == nil && v > 0 {
		version = v
	}
	return ds.UpdateDashboard(r.Context(), who, d.ID, version, doc)
}

func editHref(id uuid.UUID) string { return "/dashboards/" + id.String() + "/edit" }

var errNoWidget = &orchestrator.Error{Kind: core.ErrNotFound, Msg: "The dashboard has no such widget; it may have been removed meanwhile."}

func widgetIndex(r *http.Request, d orchestrator.DashboardView) (int, error) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil || i < 0 || i >= len(d.Spec.Widgets) {
		return 0, errNoWidget
	}
	return i, nil
}

// The dashboard page.

// boardRange is a dashboard page's time range: a choice of the picker,
// or a custom span.
type boardRange struct {
	timeRange
	Custom   bool
	From, To time.Time
}

// live says whether the page follows new records: every range that ends
// now.
func (c boardRange) live() bool { return !c.Custom }

// pageRange reads the range of a dashboard page: ?range=KEY, or
// ?from=&to= (RFC 3339 or datetime-local, UTC; read as a pipeline
// dashboard's custom range is); otherwise the dashboard's own.
func pageRange(r *http.Request, def string, now time.Time) (boardRange, string) {
	q := r.URL.Query()
	if q.Get("from") != "" || q.Get("to") != "" {
		from, to, msg := customRange(q.Get("from"), q.Get("to"), now)
		if msg != "" {
			return boardRange{timeRange: rangeOf(def)}, msg + " Showing the dashboard's range."
		}
		return boardRange{timeRange: timeRange{Key: "custom", Label: "Custom", Span: to.Sub(from)}, Custom: true, From: from, To: to}, ""
	}
	key := q.Get("range")
	if key == "" {
		key = def
	}
	t := rangeOf(key)
	return boardRange{timeRange: t, From: now.Add(-t.Span), To: now}, ""
}

// customView is the page of a dashboard.
type customView struct {
	D       orchestrator.DashboardView
	CanEdit bool
	Editing bool
	Range   boardRange
	Notice  string
	Widgets []widgetView
	Data    pageData
}

// widgetView is one widget of the grid.
type widgetView struct {
	I       int
	W       dashboard.Widget
	Title   string
	Missing bool
	// Sources names the pipelines the widget reads.
	Sources string
}

func (v customView) id() string { return v.D.ID.String() }

func (v customView) rangeHref(key string) string {
	base := "/dashboards/" + v.id()
	if v.Editing {
		base += "/edit"
	}
	return base + "?" + url.Values{"range": {key}}.Encode()
}

func (v customView) rangeCurrent(key string) bool { return !v.Range.Custom && v.Range.Key == key }

func (v customView) customFrom() string {
	if v.Range.Custom {
		return localInput(v.Range.From)
	}
	return localInput(core.Now().Add(-24 * time.Hour))
}

func (v customView) customTo() string {
	if v.Range.Custom {
		return localInput(v.Range.To)
	}
	return localInput(core.Now())
}

func (v customView) formAction() string {
	if v.Editing {
		return "/dashboards/" + v.id() + "/edit"
	}
	return "/dashboards/" + v.id()
}

// cell is the grid placement of a widget (1-based CSS grid lines).
func cell(w dashboard.Widget) templ.SafeCSS {
	return templ.SafeCSS(fmt.Sprintf("grid-column:%d / span %d;grid-row:%d / span %d;", w.X+1, w.W, w.Y+1, w.H))
}

// pageData is what the browser draws and keeps live, as JSON in the page.
type pageData struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Live    bool   `json:"live"`
	// From and To are the range in milliseconds since the epoch; a live
	// page slides it forward.
	From    int64             `json:"from"`
	To      int64             `json:"to"`
	Streams map[string]string `json:"streams"`
	Widgets []widgetData      `json:"widgets"`
}

type widgetData struct {
	Kind     string       `json:"kind"`
	Missing  bool         `json:"missing,omitempty"`
	Series   []seriesData `json:"series,omitempty"`
	Pipeline string       `json:"pipeline,omitempty"`
	Rows     int          `json:"rows,omitempty"`
	Columns  []string     `json:"columns,omitempty"`
	Records  []recordData `json:"records,omitempty"`
}

type seriesData struct {
	Pipeline  string `json:"pipeline"`
	Field     string `json:"field"`
	Aggregate string `json:"aggregate"`
	Label     string `json:"label"`
	// Bucket is the width of the buckets in seconds.
	Bucket  float64   `json:"bucket"`
	Missing bool      `json:"missing,omitempty"`
	T       []float64 `json:"t"`
	V       []float64 `json:"v"`
	N       []int64   `json:"n"`
}

type recordData struct {
	ID   int64           `json:"id"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

func (h *Handler) customDashboard(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	ds, _, ok := h.dashboardService(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := ds.Dashboard(ctx, who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	team, role := callerRole(who)
	v := customView{D: d, CanEdit: role.AtLeast(auth.Editor)}
	v.Editing = strings.HasSuffix(r.URL.Path, "/edit")
	if v.Editing && !v.CanEdit {
		h.render(w, r, http.StatusForbidden, errorPage(h.shell(w, r, "Forbidden", "dashboards"),
			"Changing a dashboard needs the editor role or higher.", "/dashboards/"+id.String()))
		return
	}
	v.Range, v.Notice = pageRange(r, d.Spec.Range, core.Now())
	data, err := ds.DashboardData(ctx, who, id, v.Range.From, v.Range.To)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	v.Range.From, v.Range.To = data.From, data.To
	v.Data = pageData{ID: id.String(), Version: d.Version, Live: v.Range.live(), From: data.From.UnixMilli(), To: data.To.UnixMilli(),
		Streams: map[string]string{}, Widgets: make([]widgetData, len(d.Spec.Widgets))}
	for pid := range d.Pipelines {
		v.Data.Streams[pid.String()] = "/api/v1/pipelines/" + pid.String() + "/stream?team=" + team.String()
	}
	for i, wg := range d.Spec.Widgets {
		wd := data.Widgets[i]
		v.Widgets = append(v.Widgets, widgetView{I: i, W: wg, Title: widgetTitle(wg, d.Pipelines), Missing: wd.MissingPipeline,
			Sources: widgetSources(wg, d.Pipelines)})
		out := widgetData{Kind: string(wg.Kind), Missing: wd.MissingPipeline, Pipeline: wg.Pipeline, Rows: wg.Rows, Columns: wg.Columns}
		for j, sd := range wd.Series {
			se := wg.Series[j]
			s := seriesData{Pipeline: se.Pipeline, Field: sd.Field, Aggregate: sd.Aggregate, Label: seriesLabel(se, d.Pipelines),
				Bucket: sd.Bucket.Seconds(), Missing: sd.Missing,
				T: make([]float64, 0, len(sd.Points)), V: make([]float64, 0, len(sd.Points)), N: make([]int64, 0, len(sd.Points))}
			for _, p := range sd.Points {
				if p.N == 0 {
					continue
				}
				s.T = append(s.T, float64(p.T.UnixMilli())/1000)
				s.V = append(s.V, p.V)
				s.N = append(s.N, p.N)
			}
			out.Series = append(out.Series, s)
		}
		if wg.Kind == dashboard.Table {
			out.Records = make([]recordData, 0, len(wd.Records))
			for _, rec := range wd.Records {
				out.Records = append(out.Records, recordData{ID: rec.ID, TS: rec.TS, Data: rec.Data})
			}
			if len(out.Columns) == 0 {
				out.Columns = recordColumns(wd.Records)
			}
		}
		v.Data.Widgets[i] = out
	}
	h.render(w, r, http.StatusOK, customDashboardPage(h.shell(w, r, d.Name, "dashboards"), v))
}

// recordColumns are the top-level fields of records, in the order they
// first appear (sorted within a record), at most maxColumns.
func recordColumns(recs []core.Record) []string {
	var cols []string
	seen := map[string]bool{}
	for _, rec := range recs {
		var data map[string]json.RawMessage
		if json.Unmarshal(rec.Data, &data) != nil {
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !seen[k] && len(cols) < maxColumns {
				seen[k] = true
				cols = append(cols, escapeField(k))
			}
		}
	}
	return cols
}

// escapeField writes a field name as a path of one segment.
func escapeField(name string) string { return strings.ReplaceAll(name, ".", `\.`) }

func pipelineName(ref string, names map[uuid.UUID]string) (string, bool) {
	id, err := uuid.Parse(ref)
	if err != nil {
		return ref, false
	}
	n, ok := names[id]
	return n, ok
}

func seriesLabel(se dashboard.Series, names map[uuid.UUID]string) string {
	if se.Label != "" {
		return se.Label
	}
	label := se.FieldName()
	if se.Aggregate != "" && se.Aggregate != dashboard.DefaultAggregate {
		label = se.Aggregate + " " + label
	}
	return label
}

func widgetTitle(w dashboard.Widget, names map[uuid.UUID]string) string {
	if w.Title != "" {
		return w.Title
	}
	switch w.Kind {
	case dashboard.Table:
		if n, ok := pipelineName(w.Pipeline, names); ok {
			return "Latest records of " + n
		}
		return "Latest records"
	default:
		labels := make([]string, 0, len(w.Series))
		for _, se := range w.Series {
			labels = append(labels, seriesLabel(se, names))
		}
		if len(labels) == 0 {
			return string(w.Kind)
		}
		return strings.Join(labels, ", ")
	}
}

func widgetSources(w dashboard.Widget, names map[uuid.UUID]string) string {
	var out []string
	add := func(ref string) {
		if n, ok := pipelineName(ref, names); ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(w.Pipeline)
	for _, se := range w.Series {
		add(se.Pipeline)
	}
	return strings.Join(out, ", ")
}

// Moving and resizing.

// minWidgetSize is the smallest width and height of each kind (the
// document's rules, docs/dashboards.md): the buttons stop there.
var minWidgetSize = map[dashboard.WidgetKind][2]int{dashboard.Line: {3, 2}, dashboard.Stat: {2, 1}, dashboard.Table: {3, 2}}

// place puts widget i at x, y with size w × h (clamped to the grid and
// the kind's minimum) and moves every widget it then overlaps down,
// repeatedly, so that the grid stays free of overlaps.
func place(ws []dashboard.Widget, i, x, y, w, h int) []dashboard.Widget {
	ws = slices.Clone(ws)
	m := minWidgetSize[ws[i].Kind]
	w = min(max(w, m[0]), dashboard.Columns)
	h = min(max(h, m[1]), dashboard.MaxHeight)
	x = min(max(x, 0), dashboard.Columns-w)
	y = min(max(y, 0), dashboard.MaxRows-h)
	ws[i].X, ws[i].Y, ws[i].W, ws[i].H = x, y, w, h
	placed := []int{i}
	rest := make([]int, 0, len(ws)-1)
	for j := range ws {
		if j != i {
			rest = append(rest, j)
		}
	}
	sort.SliceStable(rest, func(a, b int) bool {
		wa, wb := ws[rest[a]], ws[rest[b]]
		return wa.Y < wb.Y || wa.Y == wb.Y && wa.X < wb.X
	})
	overlap := func(a, b dashboard.Widget) bool {
		return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
	}
	for _, j := range rest {
		for moved := true; moved; {
			moved = false
			for _, k := range placed {
				if overlap(ws[j], ws[k]) {
					ws[j].Y = ws[k].Y + ws[k].H
					moved = true
				}
			}
		}
		placed = append(placed, j)
	}
	return ws
}

// layoutJSON is the answer to a move or resize made by the browser.
type layoutJSON struct {
	Version int          `json:"version"`
	Widgets []layoutCell `json:"widgets"`
	Error   string       `json:"error,omitempty"`
}

type layoutCell struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// placeWidget moves or resizes a widget (x, y, w, h of the form). The
// buttons post it as a form; the browser's drag and resize post it
// asking for JSON, and get the new layout back.
func (h *Handler) placeWidget(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		h.dashboardAction(w, r, func(ds Dashboards, who orchestrator.Caller, d orchestrator.DashboardView) (string, string, error) {
			i, err := widgetIndex(r, d)
			if err != nil {
				return editHref(d.ID), "", err
			}
			spec, err := placed(r, d.Spec, i)
			if err == nil {
				_, err = h.saveSpec(r, ds, who, d, spec)
			}
			return editHref(d.ID) + "#w-" + strconv.Itoa(i), "The widget is moved.", err
		})
		return
	}
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	ds, _, ok := h.dashboardService(w, r)
	if !ok {
		return
	}
	answer := func(status int, l layoutJSON) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(l)
	}
	fail := func(err error) {
		msg := userFacing(err)
		if msg == "" {
			if errors.Is(err, account.ErrForbidden) {
				msg = "Changing a dashboard needs the editor role or higher."
			} else {
				h.log.ErrorContext(r.Context(), "place widget", "err", err)
				msg = "The change could not be saved; try again."
			}
		}
		answer(statusOf(err), layoutJSON{Error: problemText(err, msg)})
	}
	if err != nil {
		answer(http.StatusNotFound, layoutJSON{Error: "There is no such dashboard."})
		return
	}
	if err := r.ParseForm(); err != nil {
		answer(http.StatusBadRequest, layoutJSON{Error: "The form could not be read."})
		return
	}
	d, err := ds.Dashboard(r.Context(), who, id)
	if err != nil {
		fail(err)
		return
	}
	i, err := widgetIndex(r, d)
	if err != nil {
		fail(err)
		return
	}
	spec, err := placed(r, d.Spec, i)
	if err != nil {
		fail(err)
		return
	}
	nd, err := h.saveSpec(r, ds, who, d, spec)
	if errors.Is(err, orchestrator.ErrVersionConflict) {
		answer(http.StatusConflict, layoutJSON{Version: d.Version, Widgets: cells(d.Spec.Widgets),
			Error: "The dashboard was changed by someone else since you opened it; reload the page and apply your change again."})
		return
	}
	if err != nil {
		fail(err)
		return
	}
	answer(http.StatusOK, layoutJSON{Version: nd.Version, Widgets: cells(nd.Spec.Widgets)})
}

// placed applies the x, y, w, h of a form to widget i.
func placed(r *http.Request, spec dashboard.Spec, i int) (dashboard.Spec, error) {
	var vals [4]int
	for k, name := range []string{"x", "y", "w", "h"} {
		n, err := strconv.Atoi(r.PostFormValue(name))
		if err != nil {
			return spec, &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: fmt.Sprintf("The widget's %s must be a whole number.", name)}
		}
		vals[k] = n
	}
	spec.Widgets = place(spec.Widgets, i, vals[0], vals[1], vals[2], vals[3])
	return spec, nil
}

func cells(ws []dashboard.Widget) []layoutCell {
	out := make([]layoutCell, len(ws))
	for i, w := range ws {
		out[i] = layoutCell{X: w.X, Y: w.Y, W: w.W, H: w.H}
	}
	return out
}

// moves are the buttons that move and resize a widget by one cell.
type move struct {
	Label          string
	Icon           string
	DX, DY, DW, DH int
}

var moves = []move{
	{"Move left", "←", -1, 0, 0, 0},
	{"Move right", "→", 1, 0, 0, 0},
	{"Move up", "↑", 0, -1, 0, 0},
	{"Move down", "↓", 0, 1, 0, 0},
	{"Narrower", "⇤", 0, 0, -1, 0},
	{"Wider", "⇥", 0, 0, 1, 0},
	{"Shorter", "⤒", 0, 0, 0, -1},
	{"Taller", "⤓", 0, 0, 0, 1},
}

// The widget form.

// widgetFormView is the form that adds or configures a widget.
type widgetFormView struct {
	D      orchestrator.DashboardView
	I      int // -1 for a new widget
	Kind   string
	Title  string
	Series []seriesForm
	// Table's.
	Pipeline string
	Rows     string
	Columns  string
	// Choices.
	Pipelines []pipelineChoice
	Fields    []string
	// Error and Problems are why the widget was not saved; Errs maps a
	// form field to its problem.
	Error    string
	Problems []pipeline.Problem
	Errs     map[string]string
	// Form is the version the form was made from ("" for the
	// dashboard's current one): kept across a refused save.
	Form string
}

func (v widgetFormView) version() string {
	if v.Form != "" {
		return v.Form
	}
	return strconv.Itoa(v.D.Version)
}

type seriesForm struct {
	Pipeline, Field, Aggregate, Bucket, Label string
}

type pipelineChoice struct {
	ID, Name string
}

func (v widgetFormView) action() string {
	if v.I < 0 {
		return "/dashboards/" + v.D.ID.String() + "/widgets/new"
	}
	return "/dashboards/" + v.D.ID.String() + "/widgets/" + strconv.Itoa(v.I)
}

func (v widgetFormView) err(field string) string { return v.Errs[field] }

func (v widgetFormView) errID(field string) string {
	if v.Errs[field] == "" {
		return ""
	}
	return "err-" + strings.NewReplacer("[", "-", "]", "", ".", "-").Replace(field)
}

// blankSeries are the empty series rows a form offers for adding.
const blankSeries = 2

func (h *Handler) widgetForm(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	ds, svc, ok := h.dashboardService(w, r)
	if !ok {
		return
	}
	d, err := ds.Dashboard(r.Context(), who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	if _, role := callerRole(who); !role.AtLeast(auth.Editor) {
		h.render(w, r, http.StatusForbidden, errorPage(h.shell(w, r, "Forbidden", "dashboards"),
			"Changing a dashboard needs the editor role or higher.", "/dashboards/"+id.String()))
		return
	}
	v := widgetFormView{D: d, I: -1, Kind: r.URL.Query().Get("kind")}
	if r.PathValue("i") != "" {
		i, err := widgetIndex(r, d)
		if err != nil {
			h.serviceError(w, r, err)
			return
		}
		wg := d.Spec.Widgets[i]
		v.I, v.Kind, v.Title, v.Pipeline, v.Columns = i, string(wg.Kind), wg.Title, wg.Pipeline, strings.Join(wg.Columns, ", ")
		if wg.Rows != 0 {
			v.Rows = strconv.Itoa(wg.Rows)
		}
		for _, se := range wg.Series {
			v.Series = append(v.Series, seriesForm{Pipeline: se.Pipeline, Field: se.Field, Aggregate: se.Aggregate, Bucket: se.Bucket, Label: se.Label})
		}
	}
	switch dashboard.WidgetKind(v.Kind) {
	case dashboard.Line, dashboard.Stat, dashboard.Table:
	default:
		v.Kind = string(dashboard.Line)
	}
	if err := h.fillChoices(r.Context(), svc, who, &v); err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, widgetFormPage(h.shell(w, r, formTitle(v), "dashboards"), v))
}

func formTitle(v widgetFormView) string {
	if v.I < 0 {
		return "Add a widget to " + v.D.Name
	}
	return "Configure a widget of " + v.D.Name
}

// fillChoices adds the pipelines and numeric fields to pick from, and
// blank series rows.
func (h *Handler) fillChoices(ctx context.Context, svc Pipelines, who orchestrator.Caller, v *widgetFormView) error {
	sums, err := svc.Summaries(ctx, who)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range sums {
		v.Pipelines = append(v.Pipelines, pipelineChoice{ID: s.Pipeline.ID.String(), Name: s.Pipeline.Name})
		_, numeric := fieldsOf(s.Pipeline, nil)
		for _, f := range numeric {
			if !seen[f] {
				seen[f] = true
				v.Fields = append(v.Fields, f)
			}
		}
	}
	sort.Strings(v.Fields)
	want := len(v.Series) + blankSeries
	if v.Kind == string(dashboard.Stat) {
		want = 1
	}
	for len(v.Series) < want {
		se := seriesForm{Aggregate: dashboard.DefaultAggregate}
		if len(v.Pipelines) > 0 && len(v.Series) == 0 {
			se.Pipeline = v.Pipelines[0].ID
		}
		v.Series = append(v.Series, se)
	}
	return nil
}

// problemPath matches the problems of one widget: widgets[i].rest.
var problemPath = regexp.MustCompile(`^widgets\[(\d+)\](?:\.(.*))?$`)

func (h *Handler) saveWidget(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, h)
	if !ok {
		return
	}
	ds, svc, ok := h.dashboardService(w, r)
	if !ok || !h.readForm(w, r) {
		return
	}
	d, err := ds.Dashboard(r.Context(), who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	f := r.PostForm
	v := widgetFormView{D: d, I: -1, Kind: f.Get("kind"), Title: strings.TrimSpace(f.Get("title")),
		Pipeline: f.Get("pipeline"), Rows: strings.TrimSpace(f.Get("rows")), Columns: f.Get("columns"), Errs: map[string]string{}, Form: f.Get("version")}
	if r.PathValue("i") != "" {
		if v.I, err = widgetIndex(r, d); err != nil {
			h.serviceError(w, r, err)
			return
		}
	}
	n, _ := strconv.Atoi(f.Get("series"))
	n = min(max(n, 0), dashboard.MaxSeries+blankSeries)
	wg := dashboard.Widget{Kind: dashboard.WidgetKind(v.Kind), Title: v.Title}
	for j := range n {
		k := strconv.Itoa(j)
		se := seriesForm{Pipeline: f.Get("s" + k + "-pipeline"), Field: strings.TrimSpace(f.Get("s" + k + "-field")),
			Aggregate: f.Get("s" + k + "-aggregate"), Bucket: strings.TrimSpace(f.Get("s" + k + "-bucket")), Label: strings.TrimSpace(f.Get("s" + k + "-label"))}
		if se.Field == "" && se.Label == "" && se.Bucket == "" {
			continue // a blank row
		}
		v.Series = append(v.Series, se)
	}
	if wg.Kind == dashboard.Table {
		wg.Pipeline = v.Pipeline
		if v.Rows != "" {
			rows, err := strconv.Atoi(v.Rows)
			if err != nil {
				v.Errs["rows"] = "must be a whole number from 1 to 100"
			}
			wg.Rows = rows
		}
		for _, c := range strings.Split(v.Columns, ",") {
			if c = strings.TrimSpace(c); c != "" {
				wg.Columns = append(wg.Columns, c)
			}
		}
	} else {
		for _, se := range v.Series {
			wg.Series = append(wg.Series, dashboard.Series{Pipeline: se.Pipeline, Field: se.Field, Aggregate: se.Aggregate, Bucket: se.Bucket, Label: se.Label})
		}
		if len(wg.Series) == 0 {
			v.Errs["series[0].field"] = "name a numeric field of the pipeline to show"
		}
	}
	spec := d.Spec
	spec.Widgets = slices.Clone(spec.Widgets)
	idx := v.I
	if idx < 0 {
		// A new widget goes below the others, full size.
		bottom := 0
		for _, o := range spec.Widgets {
			bottom = max(bottom, o.Y+o.H)
		}
		wg.Y = bottom
		spec.Widgets = append(spec.Widgets, wg)
		idx = len(spec.Widgets) - 1
	} else {
		old := spec.Widgets[idx]
		wg.X, wg.Y, wg.W, wg.H = old.X, old.Y, old.W, old.H
		if wg.Kind != old.Kind {
			wg.W, wg.H = 0, 0 // the new kind's default size
		}
		spec.Widgets[idx] = wg
		if wg.W == 0 {
			spec = spec.Normalize()
			spec.Widgets = place(spec.Widgets, idx, wg.X, wg.Y, spec.Widgets[idx].W, spec.Widgets[idx].H)
		}
	}
	if len(v.Errs) == 0 {
		if _, err = h.saveSpec(r, ds, who, d, spec); err == nil {
			msg := "The widget is added."
			if v.I >= 0 {
				msg = "The widget is saved."
			}
			setFlash(w, h.secure(r), "success", msg)
			http.Redirect(w, r, editHref(d.ID)+"#w-"+strconv.Itoa(idx), http.StatusSeeOther)
			return
		} else if errors.Is(err, orchestrator.ErrVersionConflict) {
			v.Error = "The dashboard was changed by someone else since you opened this form; check it and save again."
			v.Form = strconv.Itoa(d.Version)
		} else if de, ok := errors.AsType[*orchestrator.Error](err); ok && !errors.Is(err, orchestrator.ErrForbidden) {
			v.Error = de.Msg
			for _, p := range de.Problems {
				m := problemPath.FindStringSubmatch(p.Path)
				if m != nil && m[1] == strconv.Itoa(idx) && m[2] != "" {
					v.Errs[m[2]] = p.Message
					continue
				}
				v.Problems = append(v.Problems, p)
			}
		} else {
			h.serviceError(w, r, err)
			return
		}
	} else {
		v.Error = "The widget is not saved: fix the fields marked below."
	}
	if err := h.fillChoices(r.Context(), svc, who, &v); err != nil {
		h.serviceError(w, r, err)
		return
	}
	v.D = d
	h.render(w, r, http.StatusUnprocessableEntity, widgetFormPage(h.shell(w, r, formTitle(v), "dashboards"), v))
}
