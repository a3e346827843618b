package dashboard_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/dashboard"
)

func TestParseFillsDefaultsAndRoundTrips(t *testing.T) {
	t.Parallel()
	doc := `{"name":"ops","widgets":[{"kind":"line","series":[{"pipeline":"orders","field":"total"}]},
		{"kind":"table","x":6,"pipeline":"orders","columns":["customer.id"]}]}`
	s, err := dashboard.Parse([]byte(doc), dashboard.RefNames)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "dashboard" || s.Range != "live" || s.Widgets[0].W != 6 || s.Widgets[0].H != 4 ||
		s.Widgets[0].Series[0].Aggregate != "avg" || s.Widgets[1].Rows != 10 {
		t.Fatalf("defaults: %+v", s)
	}
	c, err := s.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	again, err := dashboard.Parse(c, dashboard.RefNames)
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := again.Canonical(); string(c2) != string(c) {
		t.Fatalf("canonical form is not stable:\n%s\n%s", c, c2)
	}
	refs := s.Refs()
	if len(refs) != 2 || refs[0].Path != "widgets[0].series[0].pipeline" || refs[1].Path != "widgets[1].pipeline" {
		t.Fatalf("refs: %+v", refs)
	}
	mapped := s.MapPipelines(strings.ToUpper)
	if mapped.Widgets[0].Series[0].Pipeline != "ORDERS" || s.Widgets[0].Series[0].Pipeline != "orders" {
		t.Fatal("MapPipelines must return a copy with the references rewritten")
	}
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, doc, path, want string
	}{
		{"empty", ``, "", "empty"},
		{"unknown field", `{"name":"d","widgets":[],"x":1}`, "x", "unknown field"},
		{"repeated key", `{"name":"d","name":"e"}`, "name", "more than once"},
		{"no name", `{"widgets":[]}`, "name", "required"},
		{"kind", `{"name":"d","kind":"pipeline"}`, "kind", `must be "dashboard"`},
		{"widget kind", `{"name":"d","widgets":[{"kind":"pie"}]}`, "widgets[0].kind", "not a widget kind"},
		{"too small", `{"name":"d","widgets":[{"kind":"line","w":1,"series":[{"pipeline":"p","field":"f"}]}]}`, "widgets[0].w", "3 to 12"},
		{"too tall", `{"name":"d","widgets":[{"kind":"line","h":30,"series":[{"pipeline":"p","field":"f"}]}]}`, "widgets[0].h", "2 to 24"},
		{"negative x", `{"name":"d","widgets":[{"kind":"stat","x":-1,"series":[{"pipeline":"p","field":"f"}]}]}`, "widgets[0].x", "0 to 11"},
		{"stat of two", `{"name":"d","widgets":[{"kind":"stat","series":[{"pipeline":"p","field":"f"},{"pipeline":"p","field":"g"}]}]}`, "widgets[0].series", "exactly one"},
		{"no series", `{"name":"d","widgets":[{"kind":"line"}]}`, "widgets[0].series", "required"},
		{"table series", `{"name":"d","widgets":[{"kind":"table","pipeline":"p","series":[]}]}`, "widgets[0].series", "line and stat"},
		{"line rows", `{"name":"d","widgets":[{"kind":"line","rows":3,"series":[{"pipeline":"p","field":"f"}]}]}`, "widgets[0].rows", "table widgets"},
		{"bad bucket", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"p","field":"f","bucket":"soon"}]}]}`, "widgets[0].series[0].bucket", "not a bucket"},
		{"tiny bucket", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"p","field":"f","bucket":"10ms"}]}]}`, "widgets[0].series[0].bucket", "1s"},
		{"bad column", `{"name":"d","widgets":[{"kind":"table","pipeline":"p","columns":["a..b"]}]}`, "widgets[0].columns[0]", "empty segment"},
		{"too many rows", `{"name":"d","widgets":[{"kind":"table","pipeline":"p","rows":1000}]}`, "widgets[0].rows", "1 to 100"},
		{"no field", `{"name":"d","widgets":[{"kind":"line","series":[{"pipeline":"p"}]}]}`, "widgets[0].series[0].field", "required"},
		{"too many series", `{"name":"d","widgets":[{"kind":"line","series":[` + strings.Repeat(`{"pipeline":"p","field":"f"},`, 10) + `{"pipeline":"p","field":"f"}]}]}`,
			"widgets[0].series", "limit of 10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := dashboard.Parse([]byte(c.doc), dashboard.RefNames)
			var de *dashboard.Error
			if !errors.As(err, &de) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			for _, p := range de.Problems {
				if p.Path == c.path && strings.Contains(p.Message, c.want) {
					return
				}
			}
			t.Fatalf("no problem at %q containing %q: %v", c.path, c.want, err)
		})
	}
}

func TestRefsByID(t *testing.T) {
	t.Parallel()
	_, err := dashboard.Parse([]byte(`{"name":"d","widgets":[{"kind":"table","pipeline":"orders"}]}`), dashboard.RefIDs)
	if err == nil || !strings.Contains(err.Error(), "widgets[0].pipeline: \"orders\" is not a pipeline id") {
		t.Fatalf("a name where an id belongs: %v", err)
	}
	s, err := dashboard.Parse([]byte(`{"name":"d","widgets":[{"kind":"table","pipeline":"0190A8E2-7C4B-7D3E-9F00-123456789ABC"}]}`), dashboard.RefIDs)
	if err != nil || s.Widgets[0].Pipeline != "0190a8e2-7c4b-7d3e-9f00-123456789abc" {
		t.Fatalf("an upper-case id: %+v, %v", s, err)
	}
}

func ExampleParse() {
	s, err := dashboard.Parse([]byte(`{"name":"ops","range":"1h","widgets":[
		{"kind":"stat","series":[{"pipeline":"orders","field":"total","aggregate":"sum"}]}]}`), dashboard.RefNames)
	if err != nil {
		panic(err)
	}
	c, _ := s.Canonical()
	fmt.Println(string(c))
	_, err = dashboard.Parse([]byte(`{"name":"ops","widgets":[{"kind":"stat","x":11,"series":[{"pipeline":"orders","field":"total"}]}]}`), dashboard.RefNames)
	fmt.Println(err)
	// Output:
	// {"name":"ops","kind":"dashboard","range":"1h","widgets":[{"kind":"stat","x":0,"y":0,"w":3,"h":2,"series":[{"pipeline":"orders","field":"total","aggregate":"sum"}]}]}
	// invalid dashboard: widgets[0].w: x + w is 11 + 3 = 14, past the grid's 12 columns; make it narrower or move it left
}
