package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/schema"
)

// docs/pipelines.md, the reference of a pipeline spec, is written from the
// types the API decodes specs into and their doc comments (the settings,
// their JSON types and their descriptions), and from package mapping's
// documentation of types and expression functions (go test
// ./internal/pipeline -run TestSpecDoc -update). This test fails when it is
// stale, so the reference cannot drift from the code.
func TestSpecDoc(t *testing.T) {
	t.Parallel()
	checkDoc(t, "pipelines.md", specDoc(t))
}

func specDoc(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("# Pipeline specs\n\n")
	b.WriteString("<!-- Written by `go test ./internal/pipeline -run TestSpecDoc -update` from the spec types and their comments; do not edit. -->\n\n")
	b.WriteString(`A pipeline is one document: JSON in the API (` + "`POST /api/v1/pipelines`" + `, GraphQL's
` + "`createPipeline`" + `), YAML or JSON in files for ` + "`tributary apply`" + ` ([cli.md](cli.md)). The
server reads it strictly: an unknown, misspelt or repeated setting, or a value of the
wrong type, is refused, and every problem is listed with its path (and, from
` + "`tributary apply`" + `, its file and line). The same types are published as JSON Schemas in
the OpenAPI document (` + "`GET /api/v1/openapi.json`" + `, ` + "`PipelineSpec`" + `).

`)
	b.WriteString("## The document\n\n")
	docTable(t, &b, "spec.go", "Spec", reflect.TypeFor[pipeline.Spec]())
	b.WriteString("Sources (`source.webhook`, `source.http`, `source.graphql`, `source.pipeline`) and sinks\n" +
		"are described kind by kind, with every setting, in [kinds.md](kinds.md).\n\n")
	fmt.Fprintf(&b, "Defaults: retention %s, polling interval %s, webhook signature tolerance %s, webhook body\n"+
		"%d MiB (at most %d MiB), records per webhook request %d (at most %d).\n\n",
		pipeline.DefaultRetention, pipeline.DefaultInterval, pipeline.DefaultTolerance,
		pipeline.DefaultMaxBodyBytes>>20, pipeline.MaxBodyBytesLimit>>20, pipeline.DefaultMaxRecords, pipeline.MaxRecordsLimit)
	b.WriteString("How retention runs (when expired records are removed) is in [operations.md](operations.md).\n\n")

	b.WriteString("## Validation\n\n")
	docTable(t, &b, "spec.go", "Validation", reflect.TypeFor[pipeline.Validation]())
	b.WriteString("A record that fails its mapping or the validation schema is stored as a rejected record, with\n" +
		"its raw input and the reason, and the other records of its batch are unaffected.\n\n")

	b.WriteString("## Mapping\n\n")
	docTable(t, &b, "../mapping/spec.go", "Spec", reflect.TypeFor[mapping.Spec]())
	b.WriteString("### `mapping.timestamp`\n\n")
	docTable(t, &b, "../mapping/spec.go", "TimestampSpec", reflect.TypeFor[mapping.TimestampSpec]())
	b.WriteString("### Each of `mapping.fields`\n\n")
	docTable(t, &b, "../mapping/spec.go", "FieldSpec", reflect.TypeFor[mapping.FieldSpec]())
	b.WriteString("Each record of an input is mapped on its own: its fields from paths, expressions and types\n" +
		"(or the record expression, or the input record itself), then its event time. A record that\n" +
		"fails is rejected with the field and the reason; the others are unaffected. Output numbers\n" +
		"are integers when they fit, times RFC 3339 strings in UTC.\n\n")
	sections := packageDocSections(t, "../mapping/doc.go")
	for _, name := range []string{"Types", "Expressions", "Sandbox"} {
		text, ok := sections[name]
		if !ok {
			t.Fatalf("package mapping's documentation has no section %q", name)
		}
		fmt.Fprintf(&b, "### %s\n\n%s\n", name, goisms.Replace(text))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// goisms turns the names of Go identifiers in the doc comments into
// what a spec's author writes or reads.
var goisms = strings.NewReplacer(
	"a mapping.Spec (see package mapping), decoded and compiled by Compile.", "how records are mapped (see Mapping below).",
	"(see `source`)", "(see [kinds.md](kinds.md))",
	"(nil)", "(absent)",
	"DefaultRetention", pipeline.DefaultRetention,
	"; package delivery reads them, and checks them against the sink kinds when a spec is saved through the API", ", checked against the sink kinds when the spec is saved",
	"TimestampSpec.Format", "`timestamp.format`",
	"(see the package documentation for the functions)", "(see Expressions below)",
	"github.com/expr-lang/expr expressions", "[expr](https://expr-lang.org) expressions",
	"larger than MaxNodes", fmt.Sprintf("larger than %d syntax tree nodes (or %d KiB)", mapping.MaxNodes, mapping.MaxExprLength>>10),
	"more than MaxOps", fmt.Sprintf("more than %d operations", mapping.MaxOps),
	"after MaxOps operations", fmt.Sprintf("after %d operations", mapping.MaxOps),
	"reading MaxBytes of", fmt.Sprintf("reading %d MiB of", mapping.MaxBytes>>20),
)

// docTable writes the settings of the struct structName of file (relative to
// this package) in the order it declares them: the JSON name, the JSON
// type from the schema of typ, and the field's doc comment.
func docTable(t *testing.T, b *bytes.Buffer, file, structName string, typ reflect.Type) {
	t.Helper()
	var s jsonSchema
	if err := json.Unmarshal(schema.FromType(typ), &s); err != nil {
		t.Fatal(err)
	}
	st := structType(t, file, structName)
	// The struct's Go field names, where its comments name a sibling.
	var pairs []string
	for _, f := range st.Fields.List {
		if f.Tag == nil || len(f.Names) == 0 {
			continue
		}
		tag, _ := strconv.Unquote(f.Tag.Value)
		if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); name != "" && name != "-" {
			pairs = append(pairs, " "+f.Names[0].Name+" ", " `"+name+"` ", " "+f.Names[0].Name+".", " `"+name+"`.",
				" "+f.Names[0].Name+",", " `"+name+"`,", " "+f.Names[0].Name+")", " `"+name+"`)")
		}
	}
	fields := strings.NewReplacer(pairs...)
	b.WriteString("| setting | type | description |\n| --- | --- | --- |\n")
	for _, f := range st.Fields.List {
		if f.Tag == nil || len(f.Names) == 0 {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		typeText := "any"
		if p := s.Properties[name]; p != nil {
			if p.Ref != "" {
				typeText = "object"
			} else {
				typeText = typeName(p)
			}
		} else {
			t.Fatalf("%s.%s: %q is not in the type's JSON Schema", file, structName, name)
		}
		doc := strings.Join(strings.Fields(f.Doc.Text()), " ")
		doc = strings.TrimPrefix(doc, f.Names[0].Name+" ")
		for _, verb := range []string{"Is ", "Are "} {
			doc = strings.TrimPrefix(doc, strings.ToLower(verb))
			doc = strings.TrimPrefix(doc, verb)
		}
		doc = goisms.Replace(fields.Replace(doc))
		if doc == "" {
			t.Fatalf("%s: field %s.%s has no doc comment", file, structName, f.Names[0].Name)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", name, typeText, strings.ReplaceAll(capitalize(doc), "|", "\\|"))
	}
	b.WriteString("\n")
}

// structType returns the declaration of the struct typeName in file.
func structType(t *testing.T, file, typeName string) *ast.StructType {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, sp := range g.Specs {
			if ts, ok := sp.(*ast.TypeSpec); ok && ts.Name.Name == typeName {
				if st, ok := ts.Type.(*ast.StructType); ok {
					return st
				}
			}
		}
	}
	t.Fatalf("%s declares no struct %s", file, typeName)
	return nil
}

// packageDocSections splits the package comment of file at its "# "
// headings into Markdown: paragraphs as they are, indented blocks as code.
func packageDocSections(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("%s: no package comment (%v)", file, err)
	}
	out := map[string]string{}
	var name string
	var sec strings.Builder
	inCode := false
	flush := func() {
		if inCode {
			sec.WriteString("```\n")
			inCode = false
		}
		if name != "" {
			out[name] = strings.TrimSpace(sec.String()) + "\n"
		}
		sec.Reset()
	}
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if h, ok := strings.CutPrefix(line, "# "); ok {
			flush()
			name = h
			continue
		}
		code := strings.HasPrefix(line, "\t") && !strings.HasPrefix(strings.TrimSpace(line), "-")
		switch {
		case code && !inCode:
			sec.WriteString("```\n")
			inCode = true
		case !code && inCode && strings.TrimSpace(line) != "":
			text := strings.TrimRight(sec.String(), "\n")
			sec.Reset()
			sec.WriteString(text + "\n```\n\n")
			inCode = false
		}
		if inCode {
			line = strings.TrimPrefix(line, "\t")
		} else {
			line = strings.TrimLeft(line, " \t")
		}
		sec.WriteString(line + "\n")
	}
	flush()
	return out
}
