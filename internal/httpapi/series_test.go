package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/httpapi"
)

type seriesBody struct {
	Bucket    string    `json:"bucket"`
	Source    string    `json:"source"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Estimated int64     `json:"estimated_records"`
	Points    []struct {
		T time.Time `json:"t"`
		V float64   `json:"v"`
		N int64     `json:"n"`
	} `json:"points"`
}

func TestSeriesAndStorage(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("chart", `"mapping": {"timestamp": {"path": "t", "format": "unix"}}`))
		// 180 records, one per second over three minutes, n = 0..179, and
		// a string now and then that does not count.
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var sb strings.Builder
		sb.WriteString("[")
		for i := range 180 {
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, `{"t": %d, "n": %d, "s": "x"}`, base.Unix()+int64(i), i)
		}
		sb.WriteString(`,{"t": ` + fmt.Sprint(base.Unix()+5) + `, "n": "five"}]`)
		want(t, e.hook(p.IngestURL, []byte(sb.String())), http.StatusAccepted)

		get := func(token, query string) resp {
			return e.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/series?"+query, token, nil)
		}
		rng := "&from=" + base.Format(time.RFC3339) + "&to=" + base.Add(3*time.Minute).Format(time.RFC3339)
		for _, c := range []struct {
			query  string
			values []float64
		}{
			{"field=n&bucket=1m&agg=avg", []float64{29.5, 89.5, 149.5}},
			{"field=n&bucket=1m&agg=count", []float64{60, 60, 60}},
			{"field=n&bucket=1m&agg=min&source=1m", []float64{0, 60, 120}},
			{"field=n&bucket=1m&agg=max&source=raw", []float64{59, 119, 179}},
			{"field=n&bucket=1h&agg=sum", []float64{179 * 180 / 2}},
			{"field=n&bucket=1h&agg=first&source=1h", []float64{0}},
			{"field=n&bucket=1d&agg=last&source=1d", []float64{179}},
		} {
			r := get(tm.viewer, c.query+rng)
			want(t, r, http.StatusOK)
			var s seriesBody
			r.json(t, &s)
			if len(s.Points) != len(c.values) {
				t.Fatalf("%s: %s", c.query, r)
			}
			for i, v := range c.values {
				if s.Points[i].V != v {
					t.Fatalf("%s: point %d = %v, want %v (%s)", c.query, i, s.Points[i].V, v, r)
				}
			}
		}
		// Raw points, and an automatic bucket.
		r := get(tm.viewer, "field=n&bucket=raw"+rng)
		want(t, r, http.StatusOK)
		var s seriesBody
		r.json(t, &s)
		if len(s.Points) != 180 || s.Source != "raw" || s.Bucket != "raw" || s.Points[7].V != 7 || !s.Points[7].T.Equal(base.Add(7*time.Second)) {
			t.Fatalf("raw points: %d, source %s", len(s.Points), s.Source)
		}
		r = get(tm.viewer, "field=n"+rng)
		want(t, r, http.StatusOK)
		r.json(t, &s)
		if s.Bucket != "1m" || len(s.Points) != 3 {
			t.Fatalf("automatic bucket: %s", r)
		}

		for _, bad := range []string{"bucket=1m", "field=n&bucket=fortnight", "field=n&bucket=0s", "field=n&bucket=500ms", "field=n&bucket=1500ms", "field=n&bucket=3651d", "field=n&bucket=1s" + "&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
			"field=n&agg=median", "field=n&source=5m", "field=n&bucket=90s&source=1m", "field=n&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"} {
			if r := get(tm.viewer, bad); r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %s, want 422", bad, r)
			}
		}
		other := e.newTeam()
		want(t, get(other.owner, "field=n"+rng), http.StatusNotFound)
		want(t, get("", "field=n"+rng), http.StatusUnauthorized)

		r = e.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/storage", tm.viewer, nil)
		want(t, r, http.StatusOK)
		var st struct {
			Records     int64      `json:"records"`
			StoredBytes int64      `json:"stored_bytes"`
			DiskBytes   int64      `json:"disk_bytes"`
			Oldest      *time.Time `json:"oldest_record_at"`
			Newest      *time.Time `json:"newest_record_at"`
		}
		r.json(t, &st)
		if st.Records != 181 || st.StoredBytes <= 0 || st.DiskBytes <= 0 || st.Oldest == nil || !st.Oldest.Equal(base) || !st.Newest.Equal(base.Add(179*time.Second)) {
			t.Fatalf("storage = %s", r)
		}
		want(t, e.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/storage", other.owner, nil), http.StatusNotFound)

		// The same numbers on /metrics.
		reg := prometheus.NewRegistry()
		reg.MustRegister(httpapi.NewStorageCollector(e.store, slog.New(slog.DiscardHandler), 0))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() != "tributary_pipeline_stored_records" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "pipeline" && l.GetValue() == p.ID.String() && m.GetGauge().GetValue() == 181 {
						found = true
					}
				}
			}
		}
		if !found {
			t.Fatalf("no tributary_pipeline_stored_records of 181 for the pipeline in %v", mfs)
		}
	})
}
