package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/dashboard"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Dashboards: a team's named grids of widgets over its pipelines
// (package dashboard). Viewers read them and their data; editors write
// them. A widget names pipelines by id; saving checks that each is the
// team's, and a pipeline deleted later leaves the widget in place, marked
// missing, so that reading never breaks.

// DashboardStore is what the dashboard use cases need of the store; a
// store without it answers ErrUnavailable.
type DashboardStore interface {
	store.Dashboards
}

// DashboardView is a dashboard as the service shows it.
type DashboardView struct {
	core.Dashboard
	// Spec is the document, its widgets naming pipelines by id.
	Spec dashboard.Spec
	// Pipelines names the existing pipelines the widgets refer to, by id.
	Pipelines map[uuid.UUID]string
	// Missing lists the references to pipelines that no longer exist (or
	// were never the team's), in document order.
	Missing []dashboard.Ref
}

// MissingWidget reports whether widget i names a pipeline that no longer
// exists.
func (v DashboardView) MissingWidget(i int) bool {
	for _, m := range v.Missing {
		if m.Widget == i {
			return true
		}
	}
	return false
}

var errNoDashboard = newError(ErrNotFound, "There is no such dashboard in the team.")

func (s *Service) dashboards() (DashboardStore, error) {
	ds, ok := s.st.(DashboardStore)
	if !ok {
		return nil, &Error{Kind: ErrUnavailable, Msg: "This store keeps no dashboards."}
	}
	return ds, nil
}

// Dashboards lists the caller's team's dashboards by name (viewer).
func (s *Service) Dashboards(ctx context.Context, who Caller) ([]DashboardView, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	ds, err := s.dashboards()
	if err != nil {
		return nil, err
	}
	list, err := ds.Dashboards(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	names, err := s.pipelineNames(ctx, team)
	if err != nil {
		return nil, err
	}
	out := make([]DashboardView, 0, len(list))
	for _, d := range list {
		v, err := dashboardView(d, names)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Dashboard returns a dashboard of the caller's team, its widgets whose
// pipeline is gone marked in Missing (viewer).
func (s *Service) Dashboard(ctx context.Context, who Caller, id uuid.UUID) (DashboardView, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return DashboardView{}, err
	}
	d, err := s.loadDashboard(ctx, team, id)
	if err != nil {
		return DashboardView{}, err
	}
	names, err := s.pipelineNames(ctx, team)
	if err != nil {
		return DashboardView{}, err
	}
	return dashboardView(d, names)
}

// CreateDashboard checks a dashboard document (its widgets naming the
// team's pipelines by id) and saves it at version 1 (editor).
func (s *Service) CreateDashboard(ctx context.Context, who Caller, doc []byte) (DashboardView, error) {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return DashboardView{}, err
	}
	ds, err := s.dashboards()
	if err != nil {
		return DashboardView{}, err
	}
	spec, canonical, names, err := s.checkDashboard(ctx, team, doc)
	if err != nil {
		return DashboardView{}, err
	}
	d, err := ds.CreateDashboard(ctx, team, store.NewDashboard{Name: spec.Name, Doc: canonical, CreatedBy: createdBy(who)})
	if errors.Is(err, core.ErrConflict) {
		return DashboardView{}, dashboardNameTaken(spec.Name)
	}
	if err != nil {
		return DashboardView{}, fmt.Errorf("create dashboard: %w", err)
	}
	return dashboardView(d, names)
}

// UpdateDashboard replaces a dashboard's document; the version grows by
// one (editor). ifVersion, when not 0, is the version the change is based
// on: another one gives ErrVersionConflict.
func (s *Service) UpdateDashboard(ctx context.Context, who Caller, id uuid.UUID, ifVersion int, doc []byte) (DashboardView, error) {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return DashboardView{}, err
	}
	ds, err := s.dashboards()
	if err != nil {
		return DashboardView{}, err
	}
	cur, err := s.loadDashboard(ctx, team, id)
	if err != nil {
		return DashboardView{}, err
	}
	if ifVersion != 0 && ifVersion != cur.Version {
		return DashboardView{}, dashboardVersionConflict(ifVersion, cur.Version)
	}
	spec, canonical, names, err := s.checkDashboard(ctx, team, doc)
	if err != nil {
		return DashboardView{}, err
	}
	if ifVersion == 0 {
		ifVersion = cur.Version // still refuse to overwrite a change made since the read above
	}
	d, err := ds.UpdateDashboard(ctx, team, id, store.DashboardUpdate{Name: spec.Name, Doc: canonical, IfVersion: ifVersion})
	switch {
	case errors.Is(err, core.ErrNotFound):
		return DashboardView{}, errNoDashboard
	case errors.Is(err, store.ErrStaleDashboard):
		return DashboardView{}, newError(ErrVersionConflict, "The dashboard was changed by someone else at the same time; fetch it and apply your change again.")
	case errors.Is(err, core.ErrConflict):
		return DashboardView{}, dashboardNameTaken(spec.Name)
	case err != nil:
		return DashboardView{}, fmt.Errorf("update dashboard %s: %w", id, err)
	}
	return dashboardView(d, names)
}

// DeleteDashboard deletes a dashboard (editor).
func (s *Service) DeleteDashboard(ctx context.Context, who Caller, id uuid.UUID) error {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return err
	}
	ds, err := s.dashboards()
	if err != nil {
		return err
	}
	err = ds.DeleteDashboard(ctx, team, id)
	if errors.Is(err, core.ErrNotFound) {
		return errNoDashboard
	}
	if err != nil {
		return fmt.Errorf("delete dashboard %s: %w", id, err)
	}
	return nil
}

func (s *Service) loadDashboard(ctx context.Context, team, id uuid.UUID) (core.Dashboard, error) {
	ds, err := s.dashboards()
	if err != nil {
		return core.Dashboard{}, err
	}
	d, err := ds.Dashboard(ctx, team, id)
	if errors.Is(err, core.ErrNotFound) {
		return d, errNoDashboard
	}
	if err != nil {
		return d, fmt.Errorf("load dashboard %s: %w", id, err)
	}
	return d, nil
}

// pipelineNames returns the names of the team's pipelines by id: one
// read, whatever the number of widgets.
func (s *Service) pipelineNames(ctx context.Context, team uuid.UUID) (map[uuid.UUID]string, error) {
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	names := make(map[uuid.UUID]string, len(ps))
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	return names, nil
}

// checkDashboard parses a document and checks that every pipeline it
// names is the team's. It returns the spec, its canonical JSON and the
// names of the team's pipelines.
func (s *Service) checkDashboard(ctx context.Context, team uuid.UUID, doc []byte) (dashboard.Spec, []byte, map[uuid.UUID]string, error) {
	spec, err := dashboard.Parse(doc, dashboard.RefIDs)
	if de, ok := errors.AsType[*dashboard.Error](err); ok {
		return spec, nil, nil, invalid("The dashboard is not valid; errors lists each problem with its path.", de.Problems...)
	}
	if err != nil {
		return spec, nil, nil, err
	}
	names, err := s.pipelineNames(ctx, team)
	if err != nil {
		return spec, nil, nil, err
	}
	var problems []pipeline.Problem
	for _, r := range spec.Refs() {
		if _, ok := names[uuid.MustParse(r.Pipeline)]; !ok {
			problems = append(problems, pipeline.Problem{Path: r.Path,
				Message: fmt.Sprintf("the team has no pipeline with id %s; widget %d must name one of the team's pipelines", r.Pipeline, r.Widget)})
		}
	}
	if len(problems) > 0 {
		return spec, nil, nil, invalid("The dashboard names pipelines the team does not have.", problems...)
	}
	canonical, err := spec.Canonical()
	if err != nil {
		return spec, nil, nil, err
	}
	return spec, canonical, names, nil
}

// dashboardView decodes a stored dashboard and marks the references to
// pipelines that are gone.
func dashboardView(d core.Dashboard, names map[uuid.UUID]string) (DashboardView, error) {
	v := DashboardView{Dashboard: d, Pipelines: map[uuid.UUID]string{}}
	if err := json.Unmarshal(d.Doc, &v.Spec); err != nil {
		return v, fmt.Errorf("decode dashboard %s: %w", d.ID, err)
	}
	v.Spec = v.Spec.Normalize()
	if canonical, err := v.Spec.Canonical(); err == nil {
		v.Doc = canonical // the stored form, whatever order the database keeps keys in
	}
	for _, r := range v.Spec.Refs() {
		id, err := uuid.Parse(r.Pipeline)
		name, ok := names[id]
		if err != nil || !ok {
			v.Missing = append(v.Missing, r)
			continue
		}
		v.Pipelines[id] = name
	}
	return v, nil
}

func createdBy(who Caller) *uuid.UUID {
	switch p := who.Principal; {
	case p.User != nil:
		id := p.User.ID
		return &id
	case p.Token != nil && p.Token.CreatedBy != nil:
		id := *p.Token.CreatedBy
		return &id
	}
	return nil
}

func dashboardNameTaken(name string) *Error {
	return &Error{Kind: ErrConflict, Msg: fmt.Sprintf("The team already has a dashboard named %q; choose another name.", name),
		Problems: []pipeline.Problem{{Path: "name", Message: "is taken by another dashboard of the team"}}}
}

func dashboardVersionConflict(want, have int) *Error {
	return newError(ErrVersionConflict, "The dashboard is at version %d, not %d: it changed since you read it; fetch it and apply your change again.", have, want)
}

// Dashboard data.

// DashboardData is what a dashboard's widgets show over a time range.
type DashboardData struct {
	Dashboard DashboardView
	// From and To are the range asked for, [From, To).
	From, To time.Time
	// Widgets are in the dashboard's order.
	Widgets []WidgetData
}

// WidgetData is what one widget shows.
type WidgetData struct {
	Kind dashboard.WidgetKind
	// MissingPipeline says that the widget names a pipeline that no longer
	// exists; the series of that pipeline are empty and marked Missing, a
	// table has no records.
	MissingPipeline bool
	// Series are a line chart's series, or a stat's one (its sparkline).
	Series []SeriesData
	// Value is a stat's aggregate over the whole range; nil when the range
	// holds no value.
	Value *float64
	// Records are a table's latest records in the range, newest first.
	Records []core.Record
}

// SeriesData is one series of a widget.
type SeriesData struct {
	Pipeline  uuid.UUID
	Field     string
	Aggregate string
	// Bucket is the width of the points' buckets.
	Bucket time.Duration
	// Source is what answered: 0 for raw records, else the rollup width.
	Source  time.Duration
	Missing bool
	Points  []Point
}

// Point is the aggregate of one bucket.
type Point struct {
	T time.Time
	V float64
	// N is how many values the bucket holds.
	N int64
}

// dataBuckets are the widths a series without a bucket chooses from: the
// smallest that gives at most dataBucketsMax points.
var dataBuckets = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

const dataBucketsMax = 500

// MaxDashboardRange is the longest range DashboardData reads.
const MaxDashboardRange = 400 * 24 * time.Hour

// DashboardData reads what every widget of a dashboard shows over
// [from, to) (viewer); a zero to is now, a zero from is to minus the
// dashboard's range: one series read per series, one records read per
// table, and one read of the team's pipelines to know which are gone.
// A widget whose pipeline was deleted is marked, not an error.
func (s *Service) DashboardData(ctx context.Context, who Caller, id uuid.UUID, from, to time.Time) (DashboardData, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return DashboardData{}, err
	}
	d, err := s.loadDashboard(ctx, team, id)
	if err != nil {
		return DashboardData{}, err
	}
	names, err := s.pipelineNames(ctx, team)
	if err != nil {
		return DashboardData{}, err
	}
	v, err := dashboardView(d, names)
	if err != nil {
		return DashboardData{}, err
	}
	if to.IsZero() {
		to = core.Now()
	}
	if from.IsZero() {
		from = to.Add(-dashboard.RangeSpan(v.Spec.Range))
	}
	switch {
	case !from.Before(to):
		return DashboardData{}, invalid("from must be before to.", pipeline.Problem{Path: "from", Message: "must be before to"})
	case to.Sub(from) > MaxDashboardRange:
		return DashboardData{}, invalid(fmt.Sprintf("The range is longer than %d days; choose a shorter one.", MaxDashboardRange/(24*time.Hour)),
			pipeline.Problem{Path: "from", Message: "is too long before to"})
	}
	charts, hasCharts := s.st.(Charts)
	history, hasHistory := s.st.(History)
	out := DashboardData{Dashboard: v, From: from, To: to, Widgets: make([]WidgetData, len(v.Spec.Widgets))}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, w := range v.Spec.Widgets {
		wd := &out.Widgets[i]
		wd.Kind = w.Kind
		wd.MissingPipeline = v.MissingWidget(i)
		switch w.Kind {
		case dashboard.Line, dashboard.Stat:
			wd.Series = make([]SeriesData, len(w.Series))
			for j, se := range w.Series {
				sd := &wd.Series[j]
				pid, _ := uuid.Parse(se.Pipeline)
				*sd = SeriesData{Pipeline: pid, Field: se.FieldName(), Aggregate: se.Aggregate, Bucket: seriesBucket(se.Bucket, to.Sub(from))}
				if _, ok := names[pid]; !ok {
					sd.Missing = true
					continue
				}
				if !hasCharts {
					return DashboardData{}, &Error{Kind: ErrUnavailable, Msg: "This store keeps no time series."}
				}
				g.Go(func() error {
					res, err := charts.Series(gctx, team, pid, store.SeriesQuery{Field: sd.Field, From: from, To: to, Bucket: sd.Bucket})
					if errors.Is(err, core.ErrNotFound) { // deleted meanwhile
						sd.Missing = true
						return nil
					}
					if err != nil {
						return fmt.Errorf("dashboard %s: widgets[%d].series[%d]: %w", id, i, j, err)
					}
					sd.Source = res.Source
					sd.Points = make([]Point, len(res.Points))
					for k, p := range res.Points {
						sd.Points[k] = Point{T: p.Bucket, V: aggregate(p.Agg, se.Aggregate), N: p.Count}
					}
					if w.Kind == dashboard.Stat {
						var all rollup.Agg
						for _, p := range res.Points {
							all.Merge(p.Agg)
						}
						if all.Count > 0 {
							val := aggregate(all, se.Aggregate)
							wd.Value = &val
						}
					}
					return nil
				})
			}
		case dashboard.Table:
			pid, _ := uuid.Parse(w.Pipeline)
			if _, ok := names[pid]; !ok {
				continue
			}
			if !hasHistory {
				return DashboardData{}, errors.New("orchestrator: the store keeps no history")
			}
			g.Go(func() error {
				rs, err := history.Records(gctx, team, pid, store.RecordQuery{From: from, To: to, Limit: w.Rows})
				if errors.Is(err, core.ErrNotFound) {
					wd.MissingPipeline = true
					return nil
				}
				if err != nil {
					return fmt.Errorf("dashboard %s: widgets[%d]: %w", id, i, err)
				}
				wd.Records = rs
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return DashboardData{}, err
	}
	return out, nil
}

// seriesBucket is a series' bucket width over a span: the one it asks for
// unless that would give more points than a series read answers, else
// the smallest of dataBuckets giving at most dataBucketsMax points.
func seriesBucket(asked string, span time.Duration) time.Duration {
	if asked != "" {
		if b, err := rollup.ParseWidth(asked); err == nil && span/b <= store.MaxSeriesPoints-2 {
			return b
		}
	}
	for _, b := range dataBuckets {
		if span/b <= dataBucketsMax {
			return b
		}
	}
	return dataBuckets[len(dataBuckets)-1]
}

// aggregate is the value of a bucket for an aggregate of package
// dashboard.
func aggregate(a rollup.Agg, name string) float64 {
	switch name {
	case "min":
		return a.Min
	case "max":
		return a.Max
	case "sum":
		return a.Sum
	case "count":
		return float64(a.Count)
	case "last":
		return a.Last
	}
	return a.Mean()
}
