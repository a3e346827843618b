package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Dashboard is a team's named grid of widgets over its pipelines.
type Dashboard struct {
	ID      string `json:"id"`
	TeamID  string `json:"team_id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Spec is the dashboard document as saved, its defaults filled in;
	// widgets name pipelines by id.
	Spec json.RawMessage `json:"spec"`
	// Pipelines are the existing pipelines the widgets name.
	Pipelines []DashboardPipeline `json:"pipelines"`
	// Missing lists where widgets name a pipeline deleted since.
	Missing   []MissingPipeline `json:"missing"`
	CreatedBy string            `json:"created_by,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// DashboardPipeline names a pipeline a dashboard reads.
type DashboardPipeline struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// MissingPipeline is a widget's reference to a pipeline that no longer
// exists.
type MissingPipeline struct {
	Path     string `json:"path"`
	Widget   int    `json:"widget"`
	Pipeline string `json:"pipeline"`
}

// DashboardData is what a dashboard's widgets show over a range.
type DashboardData struct {
	ID      string       `json:"id"`
	Version int          `json:"version"`
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Widgets []WidgetData `json:"widgets"`
}

// WidgetData is what one widget shows.
type WidgetData struct {
	Kind            string       `json:"kind"`
	MissingPipeline bool         `json:"missing_pipeline"`
	Series          []SeriesData `json:"series,omitempty"`
	// Value is a stat's aggregate over the range; nil when there is none.
	Value   *float64 `json:"value,omitempty"`
	Records []Record `json:"records,omitempty"`
}

// SeriesData is one series of a widget.
type SeriesData struct {
	Pipeline  string        `json:"pipeline"`
	Field     string        `json:"field"`
	Aggregate string        `json:"aggregate"`
	Bucket    string        `json:"bucket"`
	Source    string        `json:"source"`
	Missing   bool          `json:"missing"`
	Points    []SeriesPoint `json:"points"`
}

// ListDashboards lists the team's dashboards by name (operation
// list-dashboards).
func (c *Client) ListDashboards(ctx context.Context) ([]Dashboard, error) {
	var out struct {
		Dashboards []Dashboard `json:"dashboards"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/dashboards"}, &out)
	return out.Dashboards, err
}

// CreateDashboard creates a dashboard from its document, a JSON object
// whose widgets name pipelines by id (operation create-dashboard).
func (c *Client) CreateDashboard(ctx context.Context, spec json.RawMessage) (*Dashboard, error) {
	var out Dashboard
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/dashboards", body: spec}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Dashboard returns a dashboard by id (operation get-dashboard).
func (c *Client) Dashboard(ctx context.Context, id string) (*Dashboard, error) {
	var out Dashboard
	if err := c.do(ctx, request{method: http.MethodGet, path: dashboardPath(id, "")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateDashboard replaces a dashboard's document (operation
// update-dashboard). A version above 0 makes the server refuse the update
// with 409 when the dashboard is no longer at that version.
func (c *Client) UpdateDashboard(ctx context.Context, id string, spec json.RawMessage, version int) (*Dashboard, error) {
	var out Dashboard
	r := request{method: http.MethodPut, path: dashboardPath(id, ""), body: spec}
	if version > 0 {
		r.header = http.Header{"If-Match": {strconv.Quote(strconv.Itoa(version))}}
	}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteDashboard deletes a dashboard (operation delete-dashboard).
func (c *Client) DeleteDashboard(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: dashboardPath(id, "")}, nil)
}

// DashboardData reads what a dashboard's widgets show over [from, to)
// (operation dashboard-data). A zero to is now; a zero from is to minus
// the dashboard's range.
func (c *Client) DashboardData(ctx context.Context, id string, from, to time.Time) (*DashboardData, error) {
	q := url.Values{}
	setTime(q, "from", from)
	setTime(q, "to", to)
	var out DashboardData
	if err := c.do(ctx, request{method: http.MethodGet, path: dashboardPath(id, "/data"), query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func dashboardPath(id, rest string) string {
	return "/api/v1/dashboards/" + pathEscape(id) + rest
}
