package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/apptest"
)

const dashboardYAML = `name: sensors
kind: webhook
---
name: ops
kind: dashboard
description: What the sensors say
range: 24h
widgets:
  - kind: line
    title: Temperature
    w: 8
    series:
      - { pipeline: sensors, field: temp, aggregate: avg, bucket: 5m }
  - kind: stat
    x: 8
    series:
      - { pipeline: sensors, field: temp, aggregate: max }
  - kind: table
    y: 4
    w: 12
    pipeline: sensors
    rows: 20
    columns: [temp, site.name]
`

func dashboardNames(t *testing.T, srv *apptest.Server) string {
	t.Helper()
	ds, err := clientOf(t, srv).ListDashboards(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return strings.Join(names, ",")
}

// TestApplyExportDashboards: a dashboard in the pipeline files names its
// pipelines by name; apply creates it with their ids, apply again and
// apply after export change nothing, an edit is a diff, and prune deletes
// it; on both backends.
func TestApplyExportDashboards(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, backend)
			env := remoteEnv(t, srv)
			c := clientOf(t, srv)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "sensors.yaml"), dashboardYAML)

			r := runCLI(t, env, "", "apply", "-f", dir, "--dry-run").wantOK(t)
			for _, w := range []string{"+++ dashboard ops (", "+    pipeline: sensors", "dashboards: 1 to create, 0 to update, 0 unchanged (dry run"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("dry run does not show %q:\n%s", w, r.stdout)
				}
			}
			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			if !strings.Contains(r.stdout, "created pipeline sensors") || !strings.Contains(r.stdout, "created dashboard ops") {
				t.Fatalf("apply:\n%s", r.stdout)
			}
			ps, err := c.ListPipelines(t.Context())
			if err != nil || len(ps) != 1 {
				t.Fatal(ps, err)
			}
			ds, err := c.ListDashboards(t.Context())
			if err != nil || len(ds) != 1 {
				t.Fatal(ds, err)
			}
			var spec struct {
				Widgets []struct {
					Pipeline string `json:"pipeline"`
					Series   []struct {
						Pipeline string `json:"pipeline"`
					} `json:"series"`
				} `json:"widgets"`
			}
			if err := json.Unmarshal(ds[0].Spec, &spec); err != nil {
				t.Fatal(err)
			}
			if spec.Widgets[0].Series[0].Pipeline != ps[0].ID || spec.Widgets[2].Pipeline != ps[0].ID {
				t.Fatalf("the server's dashboard does not name the pipeline by id: %s", ds[0].Spec)
			}

			unchanged := func(what string, r result) {
				t.Helper()
				if strings.Contains(r.stdout, "---") || !strings.Contains(r.stdout, "0 to create, 0 to update, 1 unchanged; dashboards: 0 to create, 0 to update, 1 unchanged") {
					t.Errorf("%s changed something:\n%s", what, r.stdout)
				}
			}
			unchanged("apply again", runCLI(t, env, "", "apply", "-f", dir).wantOK(t))

			out := t.TempDir()
			runCLI(t, env, "", "export", "-o", out).wantOK(t)
			exported, err := os.ReadFile(filepath.Join(out, "dashboard-ops.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(exported), "pipeline: sensors") || strings.Contains(string(exported), ps[0].ID) {
				t.Errorf("exported dashboard-ops.yaml does not name the pipeline by name:\n%s", exported)
			}
			unchanged("apply after export", runCLI(t, env, "", "apply", "-f", out).wantOK(t))

			writeFile(t, filepath.Join(dir, "sensors.yaml"), strings.Replace(dashboardYAML, "range: 24h", "range: 7d", 1))
			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			if !strings.Contains(r.stdout, "-range: 24h\n+range: 7d\n") || !strings.Contains(r.stdout, "updated dashboard ops to version 2") {
				t.Errorf("update:\n%s", r.stdout)
			}

			// --prune covers dashboards.
			writeFile(t, filepath.Join(dir, "sensors.yaml"), "name: sensors\nkind: webhook\n")
			r = runCLI(t, env, "n\n", "apply", "-f", dir, "--prune")
			r.wantOneLine(t, "not confirmed")
			if got := dashboardNames(t, srv); got != "ops" {
				t.Errorf("an unconfirmed prune left %q", got)
			}
			r = runCLI(t, env, "", "apply", "-f", dir, "--prune", "--yes").wantOK(t)
			if got := dashboardNames(t, srv); got != "" || !strings.Contains(r.stdout, "deleted dashboard ops") {
				t.Errorf("prune left %q:\n%s", got, r.stdout)
			}
		})
	}
}

// TestApplyRefusesBadDashboards: a dashboard's problems, and pipelines it
// names that will not exist, are listed with file, line and path, and
// nothing is applied.
func TestApplyRefusesBadDashboards(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	env := remoteEnv(t, srv)
	c := clientOf(t, srv)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "name: sensors\nkind: webhook\n")
	writeFile(t, filepath.Join(dir, "b.yaml"), `name: bad
kind: dashboard
widgets:
  - kind: line
    series:
      - { pipeline: sensors, field: temp, aggregate: median }
  - kind: stat
    x: 11
    series: [{ pipeline: sensors, field: temp }]
`)
	r := runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "2 problems", "nothing was applied")
	for _, w := range []string{
		filepath.Join(dir, "b.yaml") + ":6: widgets[0].series[0].aggregate:",
		filepath.Join(dir, "b.yaml") + ":7: widgets[1].w: x + w is 11 + 3 = 14, past the grid",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("problems do not show %q:\n%s", w, r.stderr)
		}
	}

	// A pipeline neither in the files nor on the server.
	writeFile(t, filepath.Join(dir, "b.yaml"), "dashboards:\n  - name: ok\n    widgets:\n      - kind: table\n        pipeline: nowhere\n")
	r = runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "1 problem", "nothing was applied")
	if !strings.Contains(r.stderr, filepath.Join(dir, "b.yaml")+":5: dashboards[0].widgets[0].pipeline: there is no pipeline named \"nowhere\"") {
		t.Errorf("the unknown pipeline is not reported at its line:\n%s", r.stderr)
	}
	if got := pipelineNames(t, c); got != "" {
		t.Errorf("an invalid apply created %s", got)
	}
	if got := dashboardNames(t, srv); got != "" {
		t.Errorf("an invalid apply created dashboard %s", got)
	}
}
