package specfile_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/specfile"
)

const withDashboards = `name: orders
kind: webhook
---
name: ops
kind: dashboard
widgets:
  - kind: line
    series:
      - { pipeline: orders, field: total }
---
dashboards:
  - name: second
    widgets: [{ kind: table, pipeline: orders }]
pipelines:
  - { name: more, kind: webhook }
`

func TestReadDashboards(t *testing.T) {
	t.Parallel()
	set, probs := specfile.ReadSet(compiler, "d.yaml", []byte(withDashboards))
	if probs != nil {
		t.Fatal(probs)
	}
	if len(set.Pipelines) != 2 || len(set.Dashboards) != 2 || set.Dashboards[0].Name != "ops" || set.Dashboards[1].Name != "second" {
		t.Fatalf("set: %+v", set)
	}
	d := set.Dashboards[0]
	if d.Line != 4 || d.LineOf("widgets[0].series[0].pipeline") != 9 {
		t.Errorf("lines: %d %d", d.Line, d.LineOf("widgets[0].series[0].pipeline"))
	}
	if refs := d.Refs(); len(refs) != 1 || refs[0].Pipeline != "orders" {
		t.Errorf("refs: %+v", refs)
	}
	y, err := specfile.Encode(d.Spec)
	if err != nil {
		t.Fatal(err)
	}
	again, probs := specfile.ReadSet(compiler, "again.yaml", y)
	if probs != nil || len(again.Dashboards) != 1 || !specfile.Equal(again.Dashboards[0].Spec, d.Spec) {
		t.Fatalf("does not round-trip:\n%s\n%v", y, probs)
	}
	ids, err := specfile.MapDashboardPipelines(d.Spec, func(string) string { return "0190a8e2-7c4b-7d3e-9f00-123456789abc" })
	if err != nil || !strings.Contains(string(ids), `"pipeline":"0190a8e2-7c4b-7d3e-9f00-123456789abc"`) {
		t.Fatalf("mapped: %s, %v", ids, err)
	}
}

func TestDashboardProblems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, doc, want string }{
		{"unknown field", "name: d\nkind: dashboard\ncolour: red\n", "bad.yaml:3: colour: unknown field"},
		{"bad aggregate in a list", "dashboards:\n  - name: d\n    widgets:\n      - kind: line\n        series: [{ pipeline: p, field: f, aggregate: p99 }]\n",
			"bad.yaml:5: dashboards[0].widgets[0].series[0].aggregate"},
		{"list with more", "dashboards: []\nother: 1\n", "must have nothing else"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, probs := specfile.ReadSet(compiler, "bad.yaml", []byte(c.doc))
			if !strings.Contains(probs.Error(), c.want) {
				t.Fatalf("problems %q do not show %q", probs.Error(), c.want)
			}
		})
	}
}
