package specfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tributary-dev/tributary/internal/dashboard"
)

// Dashboard is one dashboard document read from a file. Its widgets name
// pipelines by name; apply resolves them to ids.
type Dashboard struct {
	// Name is the dashboard's name, which apply matches dashboards by.
	Name string
	// File and Line are where the document starts.
	File string
	Line int
	// Spec is the document in canonical JSON (dashboard.Spec.Canonical),
	// pipelines named by name.
	Spec json.RawMessage
	// lines maps paths in the document to lines of File.
	lines  map[string]int
	prefix string
}

// LineOf returns the line of path (such as "widgets[0].series[1].field")
// in the document's file: the nearest enclosing part that the file has.
func (d Dashboard) LineOf(path string) int {
	return lineOf(d.lines, path, d.Line)
}

// Path returns path as Problems write it: under the document's place in
// its file ("dashboards[1].widgets[0]").
func (d Dashboard) Path(path string) string { return d.prefix + path }

// Refs returns the pipelines the dashboard's widgets name, with where.
func (d Dashboard) Refs() []dashboard.Ref {
	var s dashboard.Spec
	if err := json.Unmarshal(d.Spec, &s); err != nil {
		return nil
	}
	return s.Refs()
}

// isDashboard reports whether a document is a dashboard: kind: dashboard.
func isDashboard(m mapping) bool {
	k, ok := m.get("kind")
	if !ok {
		return false
	}
	s, ok := unwrap(k).(*ast.StringNode)
	return ok && s.Value == dashboard.Kind
}

// readDashboard converts one dashboard node to JSON and checks it.
func readDashboard(file string, node ast.Node, prefix string) (Dashboard, Problems) {
	d := Dashboard{File: file, Line: node.GetToken().Position.Line, lines: map[string]int{}, prefix: prefix}
	c := converter{file: file, lines: d.lines, prefix: prefix}
	var buf bytes.Buffer
	c.value(&buf, node, "", "")
	if len(c.problems) > 0 {
		return d, c.problems
	}
	spec, err := dashboard.Parse(buf.Bytes(), dashboard.RefNames)
	var de *dashboard.Error
	switch {
	case errors.As(err, &de):
		var problems Problems
		for _, p := range de.Problems {
			problems = append(problems, Problem{File: file, Line: lineOf(d.lines, p.Path, d.Line), Path: prefix + p.Path, Message: p.Message})
		}
		return d, problems
	case err != nil:
		return d, Problems{{File: file, Line: d.Line, Path: strings.TrimSuffix(prefix, "."), Message: err.Error()}}
	}
	canonical, err := spec.Canonical()
	if err != nil {
		return d, Problems{{File: file, Line: d.Line, Message: fmt.Sprintf("encode the dashboard: %v", err)}}
	}
	d.Name, d.Spec = spec.Name, canonical
	return d, nil
}

// MapDashboardPipelines rewrites the pipeline references of a dashboard
// document (JSON) with fn: names to ids before apply sends it, ids to
// names when export writes it. It returns the canonical JSON.
func MapDashboardPipelines(doc json.RawMessage, fn func(ref string) string) (json.RawMessage, error) {
	var s dashboard.Spec
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, fmt.Errorf("decode the dashboard: %w", err)
	}
	out, err := s.MapPipelines(fn).Canonical()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DashboardFileName returns the file name export gives a dashboard:
// "dashboard-" and FileName of its name.
func DashboardFileName(name string) string {
	return "dashboard-" + FileName(name)
}
