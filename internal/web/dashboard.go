package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// The automatic dashboard of a pipeline: charts of its numeric fields
// over a time range (through the service's series), and tabs of runs,
// rejected records, deliveries and uploads. Its live parts are the
// browser's (web/src/dashboard.js), fed by the pipeline's stream.

// Limits of the dashboard.
const (
	maxCharts   = 6
	maxColumns  = 8
	sampleSize  = 20  // recent records read to find fields
	chartPoints = 240 // buckets per chart over a range
	tabRows     = 50
)

// timeRange is a choice of the range picker.
type timeRange struct {
	Key   string
	Label string
	Span  time.Duration
}

var timeRanges = []timeRange{
	{"live", "Live", 15 * time.Minute},
	{"15m", "15 min", 15 * time.Minute},
	{"1h", "1 hour", time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
}

func rangeOf(key string) timeRange {
	for _, t := range timeRanges {
		if t.Key == key {
			return t
		}
	}
	return timeRanges[0]
}

// bucketOf is the bucket width that draws a span in about chartPoints
// points: whole seconds, at least one.
func bucketOf(span time.Duration) time.Duration {
	return max((span / chartPoints).Truncate(time.Second), time.Second)
}

// tabs of the dashboard.
var dashTabs = []struct{ Key, Label string }{
	{"records", "Recent records"},
	{"runs", "Runs"},
	{"rejected", "Rejected"},
	{"deliveries", "Deliveries"},
	{"uploads", "Uploads"},
}

func validTab(t string) bool {
	for _, d := range dashTabs {
		if d.Key == t {
			return true
		}
	}
	return false
}

// seriesJSON is a chart's data as uPlot takes it: seconds and values.
type seriesJSON struct {
	T []float64 `json:"t"`
	V []float64 `json:"v"`
}

// dashView is the dashboard page.
type dashView struct {
	S       orchestrator.Summary
	CanEdit bool
	// Alert is the pipeline's loudest alert state ("" when no rule
	// watches it).
	Alert   string
	Range   timeRange
	Tab     string
	Fields  []string
	Columns []string
	Latest  map[string]float64
	Series  map[string]seriesJSON
	Stream  string
	HookURL string
	Panel   templ.Component
	// Stored is the number of records stored, the live counter's start.
	Stored int64
	// From and To bound the charts; RangeError says why a custom range
	// typed was not taken.
	From, To   time.Time
	RangeError string
}

func (v dashView) columnsJSON() string {
	b, _ := json.Marshal(v.Columns)
	return string(b)
}

func (v dashView) windowSeconds() string { return fmt.Sprint(int(v.Range.Span / time.Second)) }

// rangeQuery adds the range to q, with its bounds when custom.
func (v dashView) rangeQuery(q url.Values) {
	if v.Range.Key == "live" {
		return
	}
	q.Set("range", v.Range.Key)
	if v.Range.Key == "custom" {
		q.Set("from", v.From.UTC().Format(time.RFC3339))
		q.Set("to", v.To.UTC().Format(time.RFC3339))
	}
}

// localInput formats a bound for a datetime-local input (UTC).
func localInput(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }

// customRange reads a custom range's bounds: RFC 3339, or a
// datetime-local value taken as UTC. The span must be from 1 second to
// 400 days and not start in the future.
func customRange(from, to string, now time.Time) (time.Time, time.Time, string) {
	parse := func(s string) (time.Time, bool) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	f, ok1 := parse(from)
	t, ok2 := parse(to)
	switch {
	case !ok1 || !ok2:
		return time.Time{}, time.Time{}, "A custom range needs a start and an end, such as 2025-01-02T15:04."
	case !t.After(f):
		return time.Time{}, time.Time{}, "The end of the range must be after its start."
	case t.Sub(f) < time.Second:
		return time.Time{}, time.Time{}, "The range must be at least a second long."
	case t.Sub(f) > 400*24*time.Hour:
		return time.Time{}, time.Time{}, "The range can be at most 400 days long."
	case f.After(now):
		return time.Time{}, time.Time{}, "The range starts in the future."
	}
	return f, t, ""
}

func (v dashView) rangeHref(key string) string {
	q := url.Values{"range": {key}}
	if v.Tab != "records" {
		q.Set("tab", v.Tab)
	}
	return "/pipelines/" + v.S.Pipeline.ID.String() + "?" + q.Encode()
}

func (v dashView) tabHref(key string) string {
	q := url.Values{"tab": {key}}
	v.rangeQuery(q)
	return "/pipelines/" + v.S.Pipeline.ID.String() + "?" + q.Encode()
}

func pathID(w http.ResponseWriter, r *http.Request, h *Handler) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.notFound(w, r)
		return uuid.Nil, false
	}
	return id, true
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
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
	ctx := r.Context()
	s, err := svc.Summary(ctx, who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	who.Team = s.Pipeline.TeamID
	v := dashView{S: s, CanEdit: s.Role.AtLeast(auth.Editor), Range: rangeOf(r.URL.Query().Get("range")),
		Tab: r.URL.Query().Get("tab"), Latest: map[string]float64{}, Series: map[string]seriesJSON{},
		Stored: s.Pipeline.Stats.RecordCount,
		Stream: "/api/v1/pipelines/" + id.String() + "/stream?team=" + s.Pipeline.TeamID.String()}
	if !validTab(v.Tab) {
		v.Tab = "records"
	}
	v.Alert = h.pipelineAlerts(ctx, who)[id]
	if s.Pipeline.HookToken != "" {
		v.HookURL = h.baseURL(r) + "/hooks/" + s.Pipeline.HookToken
	} else if tok := takeHookToken(w, r, "/pipelines/"+id.String(), h.secure(r)); tok != "" {
		// Created in the editor a moment ago: shown this once.
		v.HookURL = h.baseURL(r) + "/hooks/" + tok
	}
	recent, err := svc.Records(ctx, who, id, store.RecordQuery{Limit: sampleSize})
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	v.Columns, v.Fields = fieldsOf(s.Pipeline, recent)
	if len(recent) > 0 {
		var data map[string]any
		if json.Unmarshal(recent[0].Data, &data) == nil {
			for _, f := range v.Fields {
				if n, ok := data[f].(float64); ok {
					v.Latest[f] = n
				}
			}
		}
	}
	now := core.Now()
	v.From, v.To = now.Add(-v.Range.Span), now
	if q := r.URL.Query(); q.Get("range") == "custom" {
		if from, to, msg := customRange(q.Get("from"), q.Get("to"), now); msg != "" {
			v.RangeError = msg
			v.Range = timeRange{Key: "custom", Label: "Custom", Span: 15 * time.Minute}
		} else {
			v.Range = timeRange{Key: "custom", Label: "Custom", Span: to.Sub(from)}
			v.From, v.To = from, to
		}
	}
	for _, f := range v.Fields {
		ser, err := svc.Series(ctx, who, id, store.SeriesQuery{Field: f, From: v.From, To: v.To, Bucket: bucketOf(v.To.Sub(v.From))})
		if err != nil {
			// A chart that cannot be drawn leaves the page standing.
			h.log.WarnContext(ctx, "dashboard series", "pipeline", id, "field", f, "err", err)
			v.Series[f] = seriesJSON{T: []float64{}, V: []float64{}}
			continue
		}
		sj := seriesJSON{T: make([]float64, 0, len(ser.Points)), V: make([]float64, 0, len(ser.Points))}
		for _, p := range ser.Points {
			if p.Count == 0 {
				continue
			}
			sj.T = append(sj.T, float64(p.Bucket.UnixMilli())/1000)
			sj.V = append(sj.V, p.Sum/float64(p.Count))
		}
		v.Series[f] = sj
	}
	v.Panel, err = h.panel(r, svc, who, s, v.Tab, v.Columns)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, dashboardPage(h.shell(w, r, s.Pipeline.Name, "pipelines"), v))
}

// fieldsOf returns the record fields the table shows and the numeric ones
// charted: the mapping's fields first (numbers and integers charted),
// then those of recent records.
func fieldsOf(p core.Pipeline, recent []core.Record) (columns, numeric []string) {
	seen := map[string]bool{}
	isNum := map[string]bool{}
	add := func(name string, num bool) {
		if !seen[name] {
			seen[name] = true
			columns = append(columns, name)
		}
		if num && !isNum[name] {
			isNum[name] = true
			numeric = append(numeric, name)
		}
	}
	var spec pipeline.Spec
	if json.Unmarshal(p.Spec, &spec) == nil && len(spec.Mapping) > 0 {
		var m mapping.Spec
		if json.Unmarshal(spec.Mapping, &m) == nil {
			names := make([]string, 0, len(m.Fields))
			for n := range m.Fields {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				t := m.Fields[n].Type
				add(n, t == mapping.TypeNumber || t == mapping.TypeInteger)
			}
		}
	}
	for _, rec := range recent {
		var data map[string]any
		if json.Unmarshal(rec.Data, &data) != nil {
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "ts" {
				continue
			}
			_, num := data[k].(float64)
			add(k, num)
		}
	}
	if len(columns) > maxColumns {
		columns = columns[:maxColumns]
	}
	if len(numeric) > maxCharts {
		numeric = numeric[:maxCharts]
	}
	return columns, numeric
}

// tab serves a tab's panel (htmx loads it in place).
func (h *Handler) tab(w http.ResponseWriter, r *http.Request) {
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
	name := r.PathValue("tab")
	if !validTab(name) {
		h.notFound(w, r)
		return
	}
	s, err := svc.Summary(r.Context(), who, id)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	who.Team = s.Pipeline.TeamID
	var columns []string
	if name == "records" {
		recent, err := svc.Records(r.Context(), who, id, store.RecordQuery{Limit: sampleSize})
		if err != nil {
			h.serviceError(w, r, err)
			return
		}
		columns, _ = fieldsOf(s.Pipeline, recent)
	}
	c, err := h.panel(r, svc, who, s, name, columns)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, c)
}

// panel renders the body of a tab.
func (h *Handler) panel(r *http.Request, svc Pipelines, who orchestrator.Caller, s orchestrator.Summary, tab string, columns []string) (templ.Component, error) {
	ctx, id := r.Context(), s.Pipeline.ID
	canEdit := s.Role.AtLeast(auth.Editor)
	switch tab {
	case "runs":
		runs, err := svc.Runs(ctx, who, id, store.RunQuery{Limit: tabRows})
		if err != nil {
			return nil, err
		}
		return runsPanel(runs), nil
	case "rejected":
		rej, err := svc.RejectedRecords(ctx, who, id, store.RejectedQuery{Limit: tabRows})
		if err != nil {
			return nil, err
		}
		return rejectedPanel(rej), nil
	case "deliveries":
		var replays []core.Replay
		for _, k := range s.Sinks {
			if k.Kind == "pipeline" {
				continue
			}
			rs, err := svc.Replays(ctx, who, id, k.Name)
			if err != nil {
				return nil, err
			}
			if len(rs) > 3 {
				rs = rs[:3]
			}
			replays = append(replays, rs...)
		}
		ds, err := svc.Deliveries(ctx, who, id, store.DeliveryQuery{Limit: tabRows})
		if err != nil {
			return nil, err
		}
		return deliveriesPanel(s, canEdit, ds, replays), nil
	case "uploads":
		ups, err := svc.Uploads(ctx, who, id, tabRows)
		if err != nil {
			return nil, err
		}
		return uploadsTab(uploadsView{Pipeline: id.String(), Team: s.Pipeline.TeamID.String(), CanEdit: canEdit, Uploads: ups}), nil
	}
	return recordsPanel(columns), nil
}

// Actions: each calls one use case, which checks the role; the page then
// shows the outcome as a flash message.

func (h *Handler) action(w http.ResponseWriter, r *http.Request, back string, do func(svc Pipelines, who orchestrator.Caller, id uuid.UUID) (string, error)) {
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
	if !h.readForm(w, r) {
		return
	}
	if t, err := uuid.Parse(r.PostFormValue("team")); err == nil {
		who.Team = t
	}
	msg, err := do(svc, who, id)
	to := "/pipelines/" + id.String()
	if back != "" {
		to += "?tab=" + back
	}
	if err != nil {
		if m := userFacing(err); m != "" {
			setFlash(w, h.secure(r), "error", m)
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		h.serviceError(w, r, err)
		return
	}
	setFlash(w, h.secure(r), "success", msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// userFacing is the sentence of a domain error of the service, "" for
// other errors.
func userFacing(err error) string {
	if de, ok := errors.AsType[*orchestrator.Error](err); ok {
		return de.Msg
	}
	return ""
}

func (h *Handler) pause(w http.ResponseWriter, r *http.Request) {
	h.action(w, r, "", func(svc Pipelines, who orchestrator.Caller, id uuid.UUID) (string, error) {
		_, err := svc.PausePipeline(r.Context(), who, id)
		return "The pipeline is paused: it takes no records until resumed.", err
	})
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	h.action(w, r, "", func(svc Pipelines, who orchestrator.Caller, id uuid.UUID) (string, error) {
		_, err := svc.ResumePipeline(r.Context(), who, id)
		return "The pipeline is running again.", err
	})
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	h.action(w, r, "deliveries", func(svc Pipelines, who orchestrator.Caller, id uuid.UUID) (string, error) {
		did, err := uuid.Parse(r.PathValue("delivery"))
		if err != nil {
			return "", core.ErrNotFound
		}
		_, err = svc.RetryDelivery(r.Context(), who, id, r.PathValue("sink"), did)
		return "The delivery is queued to be tried again.", err
	})
}

// replay starts a replay of the last hours the form names (default 24).
func (h *Handler) replay(w http.ResponseWriter, r *http.Request) {
	h.action(w, r, "deliveries", func(svc Pipelines, who orchestrator.Caller, id uuid.UUID) (string, error) {
		hours := 24
		if v := r.PostFormValue("hours"); v != "" {
			if _, err := fmt.Sscanf(v, "%d", &hours); err != nil || hours < 1 || hours > 24*365 {
				return "", &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "Hours must be a whole number from 1 to 8760."}
			}
		}
		to := core.Now()
		_, err := svc.StartReplay(r.Context(), who, id, r.PathValue("sink"), to.Add(-time.Duration(hours)*time.Hour), to)
		return fmt.Sprintf("Replay of the last %d hours to sink %s started; its progress shows below.", hours, r.PathValue("sink")), err
	})
}

func replayProgress(rp core.Replay) (done, total int64) {
	total = max(rp.Total, 1)
	done = rp.RecordsDelivered
	return min(done, total), total
}

// anyReplayActive says whether a replay still moves: running, or done
// enqueueing with deliveries in flight (for ten minutes at most: dead
// deliveries never finish).
func anyReplayActive(rs []core.Replay) bool {
	for _, rp := range rs {
		if rp.Status == core.ReplayRunning {
			return true
		}
		if rp.Status == core.ReplayDone && rp.RecordsDelivered < rp.Total && rp.FinishedAt != nil && core.Now().Sub(*rp.FinishedAt) < 10*time.Minute {
			return true
		}
	}
	return false
}

func anyUploadActive(us []core.Upload) bool {
	for _, u := range us {
		if u.Status == core.UploadPending || u.Status == core.UploadProcessing {
			return true
		}
	}
	return false
}

func deliverySinks(s orchestrator.Summary) []orchestrator.Sink {
	return slices.DeleteFunc(slices.Clone(s.Sinks), func(k orchestrator.Sink) bool { return k.Kind == "pipeline" })
}
