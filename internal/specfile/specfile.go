package specfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Pipeline is one pipeline spec read from a file.
type Pipeline struct {
	// Name is the pipeline's name, which apply matches pipelines by.
	Name string
	// File and Line are where the spec starts.
	File string
	Line int
	// Spec is the spec in canonical JSON (pipeline.Spec.Canonical): the
	// form the server stores, to compare with it byte for byte.
	Spec json.RawMessage
	// lines maps paths in the spec to lines of File.
	lines map[string]int
	// prefix is the spec's path in its document ("pipelines[2]." or "").
	prefix string
}

// LineOf returns the line of path (such as "sinks[0].http.url") in the
// spec's file: the nearest enclosing part that the file has.
func (p Pipeline) LineOf(path string) int {
	return lineOf(p.lines, path, p.Line)
}

// Problem is one reason a file is not valid.
type Problem struct {
	File string
	Line int
	// Path is where in the spec, such as "source.http.auth.secret"; empty
	// for the file as a whole.
	Path    string
	Message string
}

// String returns "file:line: path: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error of Load: every problem of the files.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the pipeline files at paths and returns their pipelines; see
// LoadSet, which returns their dashboards too.
func Load(c *pipeline.Compiler, paths ...string) ([]Pipeline, error) {
	set, err := LoadSet(c, paths...)
	return set.Pipelines, err
}

// Set is what pipeline files hold.
type Set struct {
	Pipelines     []Pipeline
	Dashboards    []Dashboard
	AlertRules    []Alert
	AlertChannels []Alert
}

// LoadSet reads the pipeline files at paths: files, or directories whose
// .yaml, .yml and .json files are read (not recursively), in name order.
// It returns the pipelines and dashboards, or a Problems error listing
// everything wrong.
func LoadSet(c *pipeline.Compiler, paths ...string) (Set, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return Set{}, fmt.Errorf("read %s: %w", p, unwrapPathError(err))
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return Set{}, fmt.Errorf("read directory %s: %w", p, unwrapPathError(err))
		}
		n := len(files)
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		if len(files) == n {
			return Set{}, fmt.Errorf("directory %s holds no .yaml, .yml or .json file", p)
		}
	}
	var all Set
	var problems Problems
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return Set{}, fmt.Errorf("read %s: %w", f, unwrapPathError(err))
		}
		set, probs := ReadSet(c, f, data)
		all.Pipelines = append(all.Pipelines, set.Pipelines...)
		all.Dashboards = append(all.Dashboards, set.Dashboards...)
		all.AlertRules = append(all.AlertRules, set.AlertRules...)
		all.AlertChannels = append(all.AlertChannels, set.AlertChannels...)
		problems = append(problems, probs...)
	}
	seen := map[string]Pipeline{}
	for _, p := range all.Pipelines {
		if first, ok := seen[p.Name]; ok {
			problems = append(problems, Problem{File: p.File, Line: p.LineOf("name"), Path: p.prefix + "name",
				Message: fmt.Sprintf("pipeline %q is also defined at %s:%d; names must be unique", p.Name, first.File, first.Line)})
			continue
		}
		seen[p.Name] = p
	}
	seenDash := map[string]Dashboard{}
	for _, d := range all.Dashboards {
		if first, ok := seenDash[d.Name]; ok {
			problems = append(problems, Problem{File: d.File, Line: d.LineOf("name"), Path: d.prefix + "name",
				Message: fmt.Sprintf("dashboard %q is also defined at %s:%d; names must be unique", d.Name, first.File, first.Line)})
			continue
		}
		seenDash[d.Name] = d
	}
	for _, list := range [][]Alert{all.AlertRules, all.AlertChannels} {
		seenAlert := map[string]Alert{}
		for _, a := range list {
			if first, ok := seenAlert[a.Name]; ok {
				problems = append(problems, Problem{File: a.File, Line: a.LineOf("name"), Path: a.Path("name"),
					Message: fmt.Sprintf("%s %q is also defined at %s:%d; names must be unique", strings.ReplaceAll(a.Kind, "_", " "), a.Name, first.File, first.Line)})
				continue
			}
			seenAlert[a.Name] = a
		}
	}
	if len(problems) > 0 {
		return Set{}, problems
	}
	return all, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Read reads the pipelines of one file's data; name is the file's name in
// problems. See ReadSet, which returns its dashboards too.
func Read(c *pipeline.Compiler, name string, data []byte) ([]Pipeline, Problems) {
	set, problems := ReadSet(c, name, data)
	return set.Pipelines, problems
}

// listKeys are the keys of a document holding lists of specs, in the
// order they are read.
var listKeys = []string{"pipelines", "dashboards", "alert_rules", "alert_channels"}

// ReadSet reads the pipelines, dashboards, alert rules and alert channels
// of one file's data; name is the file's name in problems. A document is
// a pipeline spec, a dashboard (kind: dashboard), an alert rule (kind:
// alert_rule), an alert channel (kind: alert_channel), or a mapping with
// one or more of the lists pipelines, dashboards, alert_rules and
// alert_channels.
func ReadSet(c *pipeline.Compiler, name string, data []byte) (Set, Problems) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return Set{}, Problems{syntaxProblem(name, err)}
	}
	var out Set
	var problems Problems
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		body := unwrap(doc.Body)
		line := doc.Body.GetToken().Position.Line
		m, ok := asMapping(body)
		if !ok {
			problems = append(problems, Problem{File: name, Line: line, Message: "a document must be a pipeline spec, a dashboard, an alert rule, an alert channel, or a mapping with lists of them"})
			continue
		}
		lists := 0
		for _, e := range m.entries {
			if k, ok := scalarKey(e.Key); ok && slices.Contains(listKeys, k) {
				lists++
			}
		}
		if lists > 0 {
			if lists != len(m.entries) {
				problems = append(problems, Problem{File: name, Line: line, Message: "a document with a pipelines, dashboards, alert_rules or alert_channels list must have nothing else"})
				continue
			}
			for _, key := range listKeys {
				list, ok := m.get(key)
				if !ok {
					continue
				}
				seq, ok := unwrap(list).(*ast.SequenceNode)
				if !ok {
					problems = append(problems, Problem{File: name, Line: list.GetToken().Position.Line, Path: key, Message: "must be a list of " + strings.TrimSuffix(key, "s") + " documents"})
					continue
				}
				for i, item := range seq.Values {
					prefix := fmt.Sprintf("%s[%d].", key, i)
					switch key {
					case "dashboards":
						d, ps := readDashboard(name, item, prefix)
						problems = append(problems, ps...)
						if ps == nil {
							out.Dashboards = append(out.Dashboards, d)
						}
					case "alert_rules", "alert_channels":
						kind := strings.TrimSuffix(key, "s")
						a, ps := readAlert(kind, name, item, prefix)
						problems = append(problems, ps...)
						if ps == nil {
							out.addAlert(a)
						}
					default:
						p, ps := readSpec(c, name, item, prefix)
						problems = append(problems, ps...)
						if ps == nil {
							out.Pipelines = append(out.Pipelines, p)
						}
					}
				}
			}
			continue
		}
		if kind := alertKind(m); kind != "" {
			a, ps := readAlert(kind, name, body, "")
			problems = append(problems, ps...)
			if ps == nil {
				out.addAlert(a)
			}
			continue
		}
		if isDashboard(m) {
			d, ps := readDashboard(name, body, "")
			problems = append(problems, ps...)
			if ps == nil {
				out.Dashboards = append(out.Dashboards, d)
			}
			continue
		}
		p, ps := readSpec(c, name, body, "")
		problems = append(problems, ps...)
		if ps == nil {
			out.Pipelines = append(out.Pipelines, p)
		}
	}
	if len(out.Pipelines) == 0 && len(out.Dashboards) == 0 && len(out.AlertRules) == 0 && len(out.AlertChannels) == 0 && len(problems) == 0 {
		problems = append(problems, Problem{File: name, Message: "the file holds no pipeline, dashboard, alert rule or alert channel"})
	}
	return out, problems
}

func (s *Set) addAlert(a Alert) {
	if a.Kind == KindAlertRule {
		s.AlertRules = append(s.AlertRules, a)
	} else {
		s.AlertChannels = append(s.AlertChannels, a)
	}
}

// syntaxProblem turns a YAML syntax error into a Problem with its line.
func syntaxProblem(name string, err error) Problem {
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	p := Problem{File: name, Message: "not valid YAML: " + first}
	if m := posPattern.FindStringSubmatch(first); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "not valid YAML: " + strings.TrimSpace(strings.TrimPrefix(first, m[0]))
	}
	return p
}

var posPattern = regexp.MustCompile(`^\[(\d+):(\d+)\]`)

// readSpec converts one spec node to JSON and checks it.
func readSpec(cc *pipeline.Compiler, file string, node ast.Node, prefix string) (Pipeline, Problems) {
	p := Pipeline{File: file, Line: node.GetToken().Position.Line, lines: map[string]int{}, prefix: prefix}
	c := converter{file: file, lines: p.lines, prefix: prefix}
	var buf bytes.Buffer
	c.value(&buf, node, "", "")
	if len(c.problems) > 0 {
		return p, c.problems
	}
	compiled, err := cc.Parse(buf.Bytes())
	var problems Problems
	var se *pipeline.SpecError
	switch {
	case errors.As(err, &se):
		for _, sp := range se.Problems {
			problems = append(problems, Problem{File: file, Line: lineOf(p.lines, sp.Path, p.Line), Path: prefix + sp.Path, Message: sp.Message})
		}
		return p, problems
	case err != nil:
		return p, Problems{{File: file, Line: p.Line, Path: strings.TrimSuffix(prefix, "."), Message: err.Error()}}
	}
	_, sps := delivery.ParseSinks(compiled.Spec.Sinks)
	for _, sp := range sps {
		problems = append(problems, Problem{File: file, Line: lineOf(p.lines, sp.Path, p.Line), Path: prefix + sp.Path, Message: sp.Message})
	}
	if len(problems) > 0 {
		return p, problems
	}
	canonical, err := compiled.Spec.Canonical()
	if err != nil {
		return p, Problems{{File: file, Line: p.Line, Message: fmt.Sprintf("encode the spec: %v", err)}}
	}
	p.Name, p.Spec = compiled.Spec.Name, canonical
	return p, nil
}

// lineOf returns the line of path, or of the nearest enclosing part.
func lineOf(lines map[string]int, path string, def int) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return def
}

// SecretRefs returns the names of the team secrets a canonical spec names
// in its sinks, for a caller to check that they exist.
func SecretRefs(spec json.RawMessage) []string {
	var s pipeline.Spec
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil
	}
	var names []string
	for _, r := range delivery.SecretRefs(s.Sinks) {
		names = append(names, r.Name)
	}
	if s.Source.Webhook != nil && s.Source.Webhook.SigningSecret != "" {
		names = append(names, s.Source.Webhook.SigningSecret)
	}
	sort.Strings(names)
	return names
}

// Encode returns a spec (JSON) as canonical YAML, its keys in the order
// of Normalize.
func Encode(spec json.RawMessage) ([]byte, error) {
	n, err := Normalize(spec)
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(n)
	if err != nil {
		return nil, fmt.Errorf("encode the spec as YAML: %w", err)
	}
	return y, nil
}

// FileName returns the file name export gives a pipeline: its name in
// lower case with every run of other characters than a-z, 0-9, '_' and '-'
// replaced by one '-', and ".yaml".
func FileName(name string) string {
	s := strings.Trim(nonName.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if s == "" {
		s = "pipeline"
	}
	return s + ".yaml"
}

var nonName = regexp.MustCompile(`[^a-z0-9_-]+`)
