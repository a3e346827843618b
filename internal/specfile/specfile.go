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

// Load reads the pipeline files at paths: files, or directories whose
// .yaml, .yml and .json files are read (not recursively), in name order.
// It returns the pipelines, or a Problems error listing everything wrong.
func Load(c *pipeline.Compiler, paths ...string) ([]Pipeline, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, unwrapPathError(err))
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", p, unwrapPathError(err))
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
			return nil, fmt.Errorf("directory %s holds no .yaml, .yml or .json file", p)
		}
	}
	var all []Pipeline
	var problems Problems
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, unwrapPathError(err))
		}
		ps, probs := Read(c, f, data)
		all = append(all, ps...)
		problems = append(problems, probs...)
	}
	seen := map[string]Pipeline{}
	for _, p := range all {
		if first, ok := seen[p.Name]; ok {
			problems = append(problems, Problem{File: p.File, Line: p.LineOf("name"), Path: p.prefix + "name",
				Message: fmt.Sprintf("pipeline %q is also defined at %s:%d; names must be unique", p.Name, first.File, first.Line)})
			continue
		}
		seen[p.Name] = p
	}
	if len(problems) > 0 {
		return nil, problems
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
// problems.
func Read(c *pipeline.Compiler, name string, data []byte) ([]Pipeline, Problems) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{syntaxProblem(name, err)}
	}
	var out []Pipeline
	var problems Problems
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		body := unwrap(doc.Body)
		line := doc.Body.GetToken().Position.Line
		m, ok := asMapping(body)
		if !ok {
			problems = append(problems, Problem{File: name, Line: line, Message: "a document must be a pipeline spec or a mapping with a pipelines list"})
			continue
		}
		if list, ok := m.get("pipelines"); ok {
			if len(m.entries) > 1 {
				problems = append(problems, Problem{File: name, Line: line, Message: "a document with a pipelines list must have nothing else"})
				continue
			}
			seq, ok := unwrap(list).(*ast.SequenceNode)
			if !ok {
				problems = append(problems, Problem{File: name, Line: list.GetToken().Position.Line, Path: "pipelines", Message: "must be a list of pipeline specs"})
				continue
			}
			for i, item := range seq.Values {
				p, ps := readSpec(c, name, item, fmt.Sprintf("pipelines[%d].", i))
				problems = append(problems, ps...)
				if ps == nil {
					out = append(out, p)
				}
			}
			continue
		}
		p, ps := readSpec(c, name, body, "")
		problems = append(problems, ps...)
		if ps == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 && len(problems) == 0 {
		problems = append(problems, Problem{File: name, Message: "the file holds no pipeline"})
	}
	return out, problems
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
