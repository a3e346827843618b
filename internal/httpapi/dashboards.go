package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"sort"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/dashboard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Dashboards: a team's named grids of widgets over its pipelines, and the
// data of their widgets over a time range. Each route calls one method of
// the pipeline service.

// DashboardBody is a dashboard as the API shows it.
type DashboardBody struct {
	ID      uuid.UUID `json:"id"`
	TeamID  uuid.UUID `json:"team_id"`
	Name    string    `json:"name"`
	Version int       `json:"version" doc:"Grows with every change. Send it back as If-Match to update safely."`
	// Spec is the document with its defaults filled in.
	Spec dashboard.Spec `json:"spec" doc:"The dashboard document as saved, with its defaults filled in; widgets name pipelines by id."`
	// Pipelines are the existing pipelines the widgets name.
	Pipelines []DashboardPipelineBody `json:"pipelines" doc:"The pipelines the widgets name that exist, with their names."`
	// Missing lists the references to pipelines deleted since the save.
	Missing   []MissingPipelineBody `json:"missing" doc:"Where the widgets name a pipeline that no longer exists; such a widget shows no data for it."`
	CreatedBy *uuid.UUID            `json:"created_by,omitempty" doc:"The user who created it, when known."`
	CreatedAt time.Time             `json:"created_at"`
	UpdatedAt time.Time             `json:"updated_at"`
}

// DashboardPipelineBody names a pipeline a dashboard's widgets read.
type DashboardPipelineBody struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// MissingPipelineBody is a widget's reference to a pipeline that no
// longer exists.
type MissingPipelineBody struct {
	Path     string `json:"path" doc:"Where in the document, such as widgets[2].series[0].pipeline."`
	Widget   int    `json:"widget" doc:"The index of the widget."`
	Pipeline string `json:"pipeline" doc:"The id the widget names."`
}

// DashboardDataBody is what a dashboard's widgets show over a range.
type DashboardDataBody struct {
	ID      uuid.UUID        `json:"id" doc:"The dashboard's id."`
	Version int              `json:"version" doc:"The version of the dashboard the data is for."`
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	Widgets []WidgetDataBody `json:"widgets" doc:"One per widget, in the dashboard's order."`
}

// WidgetDataBody is what one widget shows.
type WidgetDataBody struct {
	Kind            string           `json:"kind" enum:"line,stat,table"`
	MissingPipeline bool             `json:"missing_pipeline" doc:"The widget names a pipeline that no longer exists."`
	Series          []SeriesDataBody `json:"series,omitempty" doc:"Line and stat widgets: each series' points (a stat's sparkline)."`
	Value           *float64         `json:"value,omitempty" doc:"Stat widgets: the aggregate over the whole range; absent when the range holds no value."`
	Records         []RecordBody     `json:"records,omitempty" doc:"Table widgets: the latest records in the range, newest first."`
}

// SeriesDataBody is one series of a widget.
type SeriesDataBody struct {
	Pipeline  uuid.UUID         `json:"pipeline"`
	Field     string            `json:"field"`
	Aggregate string            `json:"aggregate"`
	Bucket    string            `json:"bucket" doc:"The width of the points' buckets."`
	Source    string            `json:"source" enum:"raw,1m,1h,1d" doc:"What answered: the raw records, or rollups of that width."`
	Missing   bool              `json:"missing" doc:"The pipeline no longer exists; there are no points."`
	Points    []SeriesPointBody `json:"points"`
}

// DashboardScope selects one dashboard of the team.
type DashboardScope struct {
	TeamScope
	ID uuid.UUID `path:"id" doc:"The dashboard's id."`
}

type dashboardOutput struct {
	ETag string `header:"ETag" doc:"The dashboard's version, for If-Match."`
	Body DashboardBody
}

type dashboardsOutput struct {
	Body struct {
		Dashboards []DashboardBody `json:"dashboards"`
	}
}

type dashboardDataOutput struct{ Body DashboardDataBody }

func dashboardBody(v orchestrator.DashboardView) DashboardBody {
	b := DashboardBody{ID: v.ID, TeamID: v.TeamID, Name: v.Name, Version: v.Version, Spec: v.Spec, CreatedBy: v.CreatedBy,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, Pipelines: make([]DashboardPipelineBody, 0, len(v.Pipelines)),
		Missing: make([]MissingPipelineBody, 0, len(v.Missing))}
	for id, name := range v.Pipelines {
		b.Pipelines = append(b.Pipelines, DashboardPipelineBody{ID: id, Name: name})
	}
	sort.Slice(b.Pipelines, func(i, j int) bool { return b.Pipelines[i].Name < b.Pipelines[j].Name })
	for _, m := range v.Missing {
		b.Missing = append(b.Missing, MissingPipelineBody{Path: m.Path, Widget: m.Widget, Pipeline: m.Pipeline})
	}
	return b
}

func dashboardOut(v orchestrator.DashboardView) *dashboardOutput {
	return &dashboardOutput{ETag: etag(v.Version), Body: dashboardBody(v)}
}

func (r *pipelineRoutes) registerDashboardRoutes() {
	api := r.s.api
	tags := []string{"Dashboards"}
	specType := reflect.TypeFor[dashboard.Spec]()

	huma.Register(api, huma.Operation{
		OperationID: "list-dashboards", Method: http.MethodGet, Path: "/api/v1/dashboards", Tags: tags,
		Summary: "List the team's dashboards", Description: "By name.",
	}, func(ctx context.Context, in *TeamScope) (*dashboardsOutput, error) {
		vs, err := r.svc.Dashboards(ctx, caller(ctx, *in))
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &dashboardsOutput{}
		out.Body.Dashboards = make([]DashboardBody, len(vs))
		for i, v := range vs {
			out.Body.Dashboards[i] = dashboardBody(v)
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "create-dashboard", Method: http.MethodPost, Path: "/api/v1/dashboards", Tags: tags,
		Summary: "Create a dashboard",
		Description: "The body is the dashboard document; its widgets name the team's pipelines by id. Unknown fields are refused; " +
			"every problem is listed in `errors` with its path (422). A name already used in the team is 409. Needs editor.",
		DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct {
		TeamScope
		RawBody []byte
	}) (*dashboardOutput, error) {
		v, err := r.svc.CreateDashboard(ctx, caller(ctx, in.TeamScope), in.RawBody)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return dashboardOut(v), nil
	})
	documentRawJSON(api, http.MethodPost, "/api/v1/dashboards", specType)

	huma.Register(api, huma.Operation{
		OperationID: "get-dashboard", Method: http.MethodGet, Path: "/api/v1/dashboards/{id}", Tags: tags,
		Summary:     "Get a dashboard",
		Description: "A widget naming a pipeline deleted since the save is listed in `missing`.",
	}, func(ctx context.Context, in *DashboardScope) (*dashboardOutput, error) {
		v, err := r.svc.Dashboard(ctx, caller(ctx, in.TeamScope), in.ID)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return dashboardOut(v), nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "update-dashboard", Method: http.MethodPut, Path: "/api/v1/dashboards/{id}", Tags: tags,
		Summary: "Replace a dashboard",
		Description: "The body is the whole new document; the version grows by one. With If-Match (the ETag of a GET) or `version`, " +
			"the update is refused with 409 when the dashboard changed in between. Needs editor.",
	}, func(ctx context.Context, in *struct {
		DashboardScope
		IfMatch string `header:"If-Match" doc:"The ETag of the version the change is based on."`
		Version int    `query:"version" minimum:"0" doc:"The version the change is based on, as an alternative to If-Match."`
		RawBody []byte
	}) (*dashboardOutput, error) {
		want := in.Version
		if in.IfMatch != "" {
			v, err := parseIfMatch(in.IfMatch)
			if err != nil {
				return nil, err
			}
			if want != 0 && want != v {
				return nil, huma.Error422UnprocessableEntity("If-Match and version disagree; send one of them.")
			}
			want = v
		}
		v, err := r.svc.UpdateDashboard(ctx, caller(ctx, in.TeamScope), in.ID, want, in.RawBody)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return dashboardOut(v), nil
	})
	documentRawJSON(api, http.MethodPut, "/api/v1/dashboards/{id}", specType)

	huma.Register(api, huma.Operation{
		OperationID: "delete-dashboard", Method: http.MethodDelete, Path: "/api/v1/dashboards/{id}", Tags: tags,
		Summary: "Delete a dashboard", Description: "Needs editor.", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *DashboardScope) (*struct{}, error) {
		if err := r.svc.DeleteDashboard(ctx, caller(ctx, in.TeamScope), in.ID); err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "dashboard-data", Method: http.MethodGet, Path: "/api/v1/dashboards/{id}/data", Tags: tags,
		Summary: "Read what a dashboard's widgets show",
		Description: "Every widget's data over `[from, to)` in one answer: each series' points (one series read per series, " +
			"from raw records or rollups like the series route), a stat's value over the range, a table's latest records. " +
			"A widget whose pipeline was deleted is marked `missing_pipeline` instead of failing the request.",
	}, func(ctx context.Context, in *struct {
		DashboardScope
		From time.Time `query:"from" doc:"Start (RFC 3339); default: to minus the dashboard's range (live: 15 minutes)."`
		To   time.Time `query:"to" doc:"End, exclusive (RFC 3339); default now."`
	}) (*dashboardDataOutput, error) {
		if !in.From.IsZero() && !in.To.IsZero() && !in.From.Before(in.To) {
			return nil, huma.Error422UnprocessableEntity("from must be before to.",
				&huma.ErrorDetail{Location: "query.from", Message: "must be before to"})
		}
		d, err := r.svc.DashboardData(ctx, caller(ctx, in.TeamScope), in.ID, in.From, in.To)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &dashboardDataOutput{Body: DashboardDataBody{ID: d.Dashboard.ID, Version: d.Dashboard.Version, From: d.From, To: d.To,
			Widgets: make([]WidgetDataBody, len(d.Widgets))}}
		for i, w := range d.Widgets {
			wb := WidgetDataBody{Kind: string(w.Kind), MissingPipeline: w.MissingPipeline, Value: w.Value}
			for _, sd := range w.Series {
				sb := SeriesDataBody{Pipeline: sd.Pipeline, Field: sd.Field, Aggregate: sd.Aggregate, Bucket: rollup.FormatWidth(sd.Bucket),
					Source: store.SourceName(sd.Source), Missing: sd.Missing, Points: make([]SeriesPointBody, len(sd.Points))}
				for k, p := range sd.Points {
					sb.Points[k] = SeriesPointBody{T: p.T, V: p.V, N: p.N}
				}
				wb.Series = append(wb.Series, sb)
			}
			if w.Kind == dashboard.Table {
				wb.Records = make([]RecordBody, len(w.Records))
				for k, rec := range w.Records {
					wb.Records[k] = RecordBody{ID: rec.ID, TS: rec.TS, Data: rec.Data}
				}
			}
			out.Body.Widgets[i] = wb
		}
		return out, nil
	})
}
