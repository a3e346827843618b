package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type dashboardBody struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	Spec      json.RawMessage `json:"spec"`
	Pipelines []struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	} `json:"pipelines"`
	Missing []struct {
		Path   string `json:"path"`
		Widget int    `json:"widget"`
	} `json:"missing"`
}

type dashboardData struct {
	Widgets []struct {
		Kind            string   `json:"kind"`
		MissingPipeline bool     `json:"missing_pipeline"`
		Value           *float64 `json:"value"`
		Series          []struct {
			Missing bool `json:"missing"`
			Points  []struct {
				V float64 `json:"v"`
				N int64   `json:"n"`
			} `json:"points"`
		} `json:"series"`
		Records []struct {
			Data json.RawMessage `json:"data"`
		} `json:"records"`
	} `json:"widgets"`
}

func TestDashboardsAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm, other := e.newTeam(), e.newTeam()
		p := e.createPipeline(tm, webhookSpec("temps"))
		gone := e.createPipeline(tm, webhookSpec("gone"))
		want(t, e.hook(p.IngestURL, []byte(`[{"n": 2}, {"n": 4}]`)), http.StatusAccepted)

		doc := fmt.Sprintf(`{"name": "ops", "range": "1h", "widgets": [
			{"kind": "line", "series": [{"pipeline": %q, "field": "n"}, {"pipeline": %q, "field": "n"}]},
			{"kind": "stat", "x": 6, "series": [{"pipeline": %q, "field": "n", "aggregate": "sum"}]},
			{"kind": "table", "y": 4, "w": 12, "pipeline": %q, "rows": 5}]}`, p.ID, gone.ID, p.ID, p.ID)
		r := e.do("POST", "/api/v1/dashboards", tm.editor, doc)
		want(t, r, http.StatusCreated)
		var d dashboardBody
		r.json(t, &d)
		if d.Version != 1 || d.Name != "ops" || r.header.Get("ETag") != `"1"` || len(d.Pipelines) != 2 || len(d.Missing) != 0 {
			t.Fatalf("created %s", r)
		}
		path := "/api/v1/dashboards/" + d.ID.String()

		// Viewers read; the list and one.
		want(t, e.do("GET", "/api/v1/dashboards", tm.viewer, nil), http.StatusOK)
		want(t, e.do("GET", path, tm.viewer, nil), http.StatusOK)
		// Viewers do not write.
		for _, c := range []struct{ method, path string }{{"POST", "/api/v1/dashboards"}, {"PUT", path}, {"DELETE", path}} {
			want(t, e.do(c.method, c.path, tm.viewer, doc), http.StatusForbidden)
		}

		// Another team's token sees nothing and changes nothing.
		r = e.do("GET", "/api/v1/dashboards", other.owner, nil)
		want(t, r, http.StatusOK)
		if !strings.Contains(string(r.body), `"dashboards":[]`) {
			t.Fatalf("another team lists %s", r)
		}
		for _, c := range []struct{ method, path string }{{"GET", path}, {"GET", path + "/data"}, {"PUT", path}, {"DELETE", path}} {
			r := e.do(c.method, c.path, other.owner, doc)
			want(t, r, http.StatusNotFound)
			if pr := r.problem(t); pr.Detail != "There is no such dashboard in the team." {
				t.Fatalf("%s %s by another team: %s", c.method, c.path, r)
			}
		}
		r = e.do("POST", "/api/v1/dashboards", other.editor, doc)
		want(t, r, http.StatusUnprocessableEntity)
		if pr := r.problem(t); len(pr.Errors) != 4 || pr.Errors[0].Location != "body.widgets[0].series[0].pipeline" {
			t.Fatalf("another team's pipelines: %s", r)
		}

		// Bad input: problems located in the body; a taken name is 409.
		for _, c := range []struct {
			doc, loc string
			status   int
		}{
			{`{"name": "x", "widgets": [], "extra": 1}`, "body.extra", 422},
			{fmt.Sprintf(`{"name": "x", "widgets": [{"kind": "line", "series": [{"pipeline": %q, "field": "n", "aggregate": "p99"}]}]}`, p.ID),
				"body.widgets[0].series[0].aggregate", 422},
			{fmt.Sprintf(`{"name": "x", "widgets": [{"kind": "stat", "x": 11, "series": [{"pipeline": %q, "field": "n"}]}]}`, p.ID), "body.widgets[0].w", 422},
			{strings.Replace(doc, `"ops"`, `"ops"`, 1), "body.name", 409},
		} {
			r := e.do("POST", "/api/v1/dashboards", tm.editor, c.doc)
			want(t, r, c.status)
			if pr := r.problem(t); len(pr.Errors) == 0 || pr.Errors[0].Location != c.loc {
				t.Errorf("%s: %s, want an error at %s", c.doc, r, c.loc)
			}
		}

		// Data of every widget in one call.
		from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		r = e.do("GET", path+"/data?from="+from+"&to="+to, tm.viewer, nil)
		want(t, r, http.StatusOK)
		var data dashboardData
		r.json(t, &data)
		if len(data.Widgets) != 3 || data.Widgets[1].Value == nil || *data.Widgets[1].Value != 6 || len(data.Widgets[2].Records) != 2 ||
			len(data.Widgets[0].Series) != 2 || len(data.Widgets[0].Series[0].Points) == 0 {
			t.Fatalf("data: %s", r)
		}
		want(t, e.do("GET", path+"/data", tm.viewer, nil), http.StatusOK) // the dashboard's range
		want(t, e.do("GET", path+"/data?from="+to+"&to="+from, tm.viewer, nil), http.StatusUnprocessableEntity)

		// A deleted pipeline marks its widget; the dashboard still reads.
		want(t, e.do("DELETE", "/api/v1/pipelines/"+gone.ID.String(), tm.editor, nil), http.StatusNoContent)
		r = e.do("GET", path, tm.viewer, nil)
		want(t, r, http.StatusOK)
		r.json(t, &d)
		if len(d.Missing) != 1 || d.Missing[0].Path != "widgets[0].series[1].pipeline" || d.Missing[0].Widget != 0 {
			t.Fatalf("after deleting a pipeline: %s", r)
		}
		r = e.do("GET", path+"/data", tm.viewer, nil)
		want(t, r, http.StatusOK)
		r.json(t, &data)
		if !data.Widgets[0].MissingPipeline || !data.Widgets[0].Series[1].Missing || data.Widgets[1].MissingPipeline {
			t.Fatalf("data after deleting a pipeline: %s", r)
		}

		// Update with If-Match; a stale one is 409.
		newDoc := fmt.Sprintf(`{"name": "ops2", "widgets": [{"kind": "table", "pipeline": %q}]}`, p.ID)
		r = e.do("PUT", path, tm.editor, newDoc, "If-Match", `"1"`)
		want(t, r, http.StatusOK)
		r.json(t, &d)
		if d.Version != 2 || d.Name != "ops2" {
			t.Fatalf("updated: %s", r)
		}
		want(t, e.do("PUT", path, tm.editor, newDoc, "If-Match", `"1"`), http.StatusConflict)
		want(t, e.do("DELETE", path, tm.editor, nil), http.StatusNoContent)
		want(t, e.do("GET", path, tm.viewer, nil), http.StatusNotFound)
	})
}
