package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/rollup"
)

// Limits of a dashboard.
const (
	// Columns is the width of the grid.
	Columns = 12
	// MaxRows bounds y + h: the grid's height.
	MaxRows = 200
	// MaxHeight is the tallest a widget may be, in rows.
	MaxHeight = 24
	// MaxWidgets is the most widgets a dashboard holds.
	MaxWidgets = 50
	// MaxSeries is the most series a widget holds.
	MaxSeries = 10
	// MaxRowsShown is the most records a table widget shows.
	MaxRowsShown = 100
	// DefaultRowsShown is the records a table widget shows when it does
	// not say.
	DefaultRowsShown = 10
	// MaxColumns is the most columns a table widget shows.
	MaxColumns = 20
	// MaxDescription is the longest description, in characters.
	MaxDescription = 2000
	// MaxTitle is the longest widget title or series label, in characters.
	MaxTitle = 200
)

// Kind is the value of a dashboard document's kind field, which tells it
// from a pipeline spec in a file.
const Kind = "dashboard"

// Time ranges a dashboard opens with.
const (
	RangeLive = "live"
	// DefaultRange is the range of a document that names none.
	DefaultRange = RangeLive
)

// ranges are the time ranges, with the span each shows; live shows the
// last 15 minutes and follows new records.
var ranges = map[string]time.Duration{
	RangeLive: 15 * time.Minute,
	"15m":     15 * time.Minute,
	"1h":      time.Hour,
	"24h":     24 * time.Hour,
	"7d":      7 * 24 * time.Hour,
	"30d":     30 * 24 * time.Hour,
}

// rangeNames are the ranges in the order messages list them.
var rangeNames = []string{RangeLive, "15m", "1h", "24h", "7d", "30d"}

// RangeSpan returns the span of a time range (RangeLive: the last 15
// minutes), or 0 for a name that is not one.
func RangeSpan(name string) time.Duration { return ranges[name] }

// WidgetKind is what a widget shows.
type WidgetKind string

// Widget kinds.
const (
	// Line is a line chart of one or more series.
	Line WidgetKind = "line"
	// Stat is one series' aggregate over the range, with its sparkline.
	Stat WidgetKind = "stat"
	// Table is a pipeline's latest records.
	Table WidgetKind = "table"
)

// minSize is the smallest width and height of each kind, so that what it
// shows stays legible.
var minSize = map[WidgetKind][2]int{Line: {3, 2}, Stat: {2, 1}, Table: {3, 2}}

// defaultSize is the width and height of a widget that gives none.
var defaultSize = map[WidgetKind][2]int{Line: {6, 4}, Stat: {3, 2}, Table: {6, 4}}

// Aggregates a series may ask for.
var Aggregates = []string{"avg", "min", "max", "sum", "count", "last"}

// DefaultAggregate is the aggregate of a series that names none.
const DefaultAggregate = "avg"

// Spec is a dashboard document.
type Spec struct {
	// Name is unique in the team.
	Name string `json:"name"`
	// Kind is "dashboard" (Kind); it may be left out in the API.
	Kind        string `json:"kind,omitempty" enum:"dashboard"`
	Description string `json:"description,omitempty"`
	// Range is the time range the dashboard opens with: live, 15m, 1h,
	// 24h, 7d or 30d; DefaultRange when empty.
	Range   string   `json:"range,omitempty" enum:"live,15m,1h,24h,7d,30d"`
	Widgets []Widget `json:"widgets" required:"false" maxItems:"50"`
}

// Widget is one cell of the grid. X and Y are its top-left corner (column
// 0..11, row from 0), W and H its size in columns and rows; zero W and H
// take the kind's default size.
type Widget struct {
	Kind  WidgetKind `json:"kind" enum:"line,stat,table"`
	Title string     `json:"title,omitempty"`
	X     int        `json:"x" required:"false" minimum:"0" maximum:"11"`
	Y     int        `json:"y" required:"false" minimum:"0"`
	W     int        `json:"w" required:"false" minimum:"0" maximum:"12" doc:"Width in columns; 0 takes the kind's default."`
	H     int        `json:"h" required:"false" minimum:"0" maximum:"24" doc:"Height in rows; 0 takes the kind's default."`
	// Series are a line chart's series (1..MaxSeries) or a stat's one.
	Series []Series `json:"series,omitempty"`
	// Pipeline, Rows and Columns are a table's: the pipeline, how many of
	// its latest records (DefaultRowsShown when 0), and the paths of the
	// fields to show (every field when empty).
	Pipeline string   `json:"pipeline,omitempty"`
	Rows     int      `json:"rows,omitempty"`
	Columns  []string `json:"columns,omitempty"`
}

// Series is a numeric field of a pipeline over time.
type Series struct {
	// Pipeline is the pipeline's id (API) or name (files).
	Pipeline string `json:"pipeline"`
	// Field is a top-level field of the pipeline's records, written as a
	// path of one segment ("temp"; "a\.b" for a field named a.b).
	Field string `json:"field"`
	// Aggregate is avg, min, max, sum, count or last; DefaultAggregate
	// when empty.
	Aggregate string `json:"aggregate,omitempty" enum:"avg,min,max,sum,count,last"`
	// Bucket is the width of the chart's buckets (30s, 1m, 1h, 1d, 7d…);
	// empty chooses one from the range.
	Bucket string `json:"bucket,omitempty"`
	// Label names the series in the legend; the field when empty.
	Label string `json:"label,omitempty"`
}

// FieldName returns the record field a series reads: Field without its
// escapes.
func (s Series) FieldName() string {
	name, _ := fieldName(s.Field)
	return name
}

// Refs says how a document names pipelines.
type Refs int

// Ways of naming pipelines.
const (
	// RefIDs: by id, as the API takes and keeps documents.
	RefIDs Refs = iota
	// RefNames: by name, as pipeline files do.
	RefNames
)

// Error is returned by Parse for a document that is not valid: every
// problem with its path. It matches core.ErrInvalid with errors.Is.
type Error struct {
	Problems []pipeline.Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid dashboard: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, core.ErrInvalid) true for an *Error.
func (e *Error) Is(target error) bool { return target == core.ErrInvalid }

// problems collects the problems of a document.
type problems []pipeline.Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, pipeline.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Parse decodes a dashboard document strictly, fills in its defaults and
// checks it; refs says how its widgets name pipelines. Problems give an
// *Error listing all of them.
func Parse(doc []byte, refs Refs) (Spec, error) {
	var s Spec
	var ps problems
	if len(bytes.TrimSpace(doc)) == 0 {
		ps.add("", "the document is empty: send a JSON object with at least a name")
		return s, &Error{Problems: ps}
	}
	found, ok := pipeline.DecodeStrict(doc, &s)
	ps = append(ps, found...)
	if !ok {
		return Spec{}, &Error{Problems: ps}
	}
	s = s.Normalize()
	s.check(refs, &ps)
	if len(ps) > 0 {
		return Spec{}, &Error{Problems: ps}
	}
	return s, nil
}

// Normalize returns s with its defaults made explicit: the kind, the
// range, widget sizes, aggregates and table rows, and canonical ids. It
// does not validate; Parse does.
func (s Spec) Normalize() Spec {
	if s.Kind == "" {
		s.Kind = Kind
	}
	if s.Range == "" {
		s.Range = DefaultRange
	}
	ws := make([]Widget, len(s.Widgets))
	for i, w := range s.Widgets {
		if d, ok := defaultSize[w.Kind]; ok {
			if w.W == 0 {
				w.W = d[0]
			}
			if w.H == 0 {
				w.H = d[1]
			}
		}
		if w.Kind == Table && w.Rows == 0 {
			w.Rows = DefaultRowsShown
		}
		w.Pipeline = canonicalRef(w.Pipeline)
		if w.Series != nil {
			w.Series = slices.Clone(w.Series)
			for j := range w.Series {
				if w.Series[j].Aggregate == "" {
					w.Series[j].Aggregate = DefaultAggregate
				}
				w.Series[j].Pipeline = canonicalRef(w.Series[j].Pipeline)
			}
		}
		ws[i] = w
	}
	s.Widgets = ws
	return s
}

// canonicalRef writes an id in its canonical form; names stay as they are.
func canonicalRef(ref string) string {
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		return id.String()
	}
	return ref
}

// Canonical returns the normalized document as compact JSON: the form the
// store keeps and export compares.
func (s Spec) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.Normalize()); err != nil {
		return nil, fmt.Errorf("encode dashboard: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Ref is one place where a document names a pipeline.
type Ref struct {
	// Path is where, such as "widgets[1].series[0].pipeline".
	Path string
	// Widget is the index of the widget.
	Widget int
	// Pipeline is the id or name as written.
	Pipeline string
}

// Refs lists every place where s names a pipeline, in document order.
func (s Spec) Refs() []Ref {
	var out []Ref
	for i, w := range s.Widgets {
		if w.Kind == Table || w.Pipeline != "" {
			out = append(out, Ref{Path: fmt.Sprintf("widgets[%d].pipeline", i), Widget: i, Pipeline: w.Pipeline})
		}
		for j, se := range w.Series {
			out = append(out, Ref{Path: fmt.Sprintf("widgets[%d].series[%d].pipeline", i, j), Widget: i, Pipeline: se.Pipeline})
		}
	}
	return out
}

// MapPipelines returns s with every pipeline reference replaced by
// fn(reference): names by ids before saving a file's dashboard, ids by
// names when exporting.
func (s Spec) MapPipelines(fn func(ref string) string) Spec {
	ws := make([]Widget, len(s.Widgets))
	for i, w := range s.Widgets {
		if w.Pipeline != "" {
			w.Pipeline = fn(w.Pipeline)
		}
		if w.Series != nil {
			w.Series = slices.Clone(w.Series)
			for j := range w.Series {
				w.Series[j].Pipeline = fn(w.Series[j].Pipeline)
			}
		}
		ws[i] = w
	}
	s.Widgets = ws
	return s
}

// check validates a normalized spec.
func (s Spec) check(refs Refs, ps *problems) {
	checkName("name", s.Name, pipeline.MaxNameLength, ps)
	if s.Kind != Kind {
		ps.add("kind", "must be %q", Kind)
	}
	if n := utf8.RuneCountInString(s.Description); n > MaxDescription {
		ps.add("description", "has %d characters, more than the limit of %d", n, MaxDescription)
	}
	if _, ok := ranges[s.Range]; !ok {
		ps.add("range", "%q is not a time range; use one of %s", s.Range, strings.Join(rangeNames, ", "))
	}
	if len(s.Widgets) > MaxWidgets {
		ps.add("widgets", "has %d widgets, more than the limit of %d", len(s.Widgets), MaxWidgets)
		return
	}
	placed := make([]bool, len(s.Widgets))
	for i, w := range s.Widgets {
		placed[i] = w.check(fmt.Sprintf("widgets[%d]", i), refs, ps)
	}
	// Overlaps, between widgets that are placed validly.
	for i, a := range s.Widgets {
		for j := 0; j < i; j++ {
			b := s.Widgets[j]
			if placed[i] && placed[j] && a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				ps.add(fmt.Sprintf("widgets[%d]", i), "overlaps widgets[%d] (columns %d-%d, rows %d-%d); move or resize one of them",
					j, b.X, b.X+b.W-1, b.Y, b.Y+b.H-1)
				break
			}
		}
	}
}

// check validates one widget and reports whether it is placed validly on
// the grid.
func (w Widget) check(path string, refs Refs, ps *problems) bool {
	if n := utf8.RuneCountInString(w.Title); n > MaxTitle {
		ps.add(path+".title", "has %d characters, more than the limit of %d", n, MaxTitle)
	}
	minWH, known := minSize[w.Kind]
	if !known {
		if w.Kind == "" {
			ps.add(path+".kind", "is required: line, stat or table")
		} else {
			ps.add(path+".kind", "%q is not a widget kind; use line, stat or table", w.Kind)
		}
		return false
	}
	placed := true
	switch {
	case w.X < 0 || w.X >= Columns:
		ps.add(path+".x", "is %d; a column is 0 to %d", w.X, Columns-1)
		placed = false
	case w.W < minWH[0] || w.W > Columns:
		ps.add(path+".w", "is %d; a %s widget is %d to %d columns wide", w.W, w.Kind, minWH[0], Columns)
		placed = false
	case w.X+w.W > Columns:
		ps.add(path+".w", "x + w is %d + %d = %d, past the grid's %d columns; make it narrower or move it left", w.X, w.W, w.X+w.W, Columns)
		placed = false
	}
	switch {
	case w.Y < 0 || w.Y >= MaxRows:
		ps.add(path+".y", "is %d; a row is 0 to %d", w.Y, MaxRows-1)
		placed = false
	case w.H < minWH[1] || w.H > MaxHeight:
		ps.add(path+".h", "is %d; a %s widget is %d to %d rows high", w.H, w.Kind, minWH[1], MaxHeight)
		placed = false
	case w.Y+w.H > MaxRows:
		ps.add(path+".h", "y + h is %d + %d = %d, past the grid's %d rows", w.Y, w.H, w.Y+w.H, MaxRows)
		placed = false
	}

	switch w.Kind {
	case Line, Stat:
		for _, f := range []struct {
			name string
			set  bool
		}{{"pipeline", w.Pipeline != ""}, {"rows", w.Rows != 0}, {"columns", w.Columns != nil}} {
			if f.set {
				ps.add(path+"."+f.name, "is for table widgets; a %s widget reads its series", w.Kind)
			}
		}
		switch {
		case len(w.Series) == 0:
			ps.add(path+".series", "is required: a %s widget needs a series (pipeline, field, aggregate)", w.Kind)
		case w.Kind == Stat && len(w.Series) > 1:
			ps.add(path+".series", "has %d series; a stat shows exactly one", len(w.Series))
		case len(w.Series) > MaxSeries:
			ps.add(path+".series", "has %d series, more than the limit of %d", len(w.Series), MaxSeries)
		}
		for j, se := range w.Series {
			se.check(fmt.Sprintf("%s.series[%d]", path, j), refs, ps)
		}
	case Table:
		if w.Series != nil {
			ps.add(path+".series", "is for line and stat widgets; a table shows the records of its pipeline")
		}
		checkRef(path+".pipeline", w.Pipeline, refs, ps)
		if w.Rows < 1 || w.Rows > MaxRowsShown {
			ps.add(path+".rows", "is %d; a table shows 1 to %d records", w.Rows, MaxRowsShown)
		}
		if len(w.Columns) > MaxColumns {
			ps.add(path+".columns", "has %d columns, more than the limit of %d", len(w.Columns), MaxColumns)
		}
		for j, c := range w.Columns {
			cp := fmt.Sprintf("%s.columns[%d]", path, j)
			if c == "" {
				ps.add(cp, "is empty; write the path of a field, such as temp or data.items.0.id")
				continue
			}
			if _, err := mapping.ParsePath(c); err != nil {
				ps.add(cp, "is not a field path: %v", err)
			}
		}
	}
	return placed
}

func (se Series) check(path string, refs Refs, ps *problems) {
	checkRef(path+".pipeline", se.Pipeline, refs, ps)
	if se.Field == "" {
		ps.add(path+".field", "is required: the top-level numeric field of the records to chart")
	} else if _, err := fieldName(se.Field); err != nil {
		ps.add(path+".field", "%v", err)
	}
	if !slices.Contains(Aggregates, se.Aggregate) {
		ps.add(path+".aggregate", "%q is not an aggregate; use one of %s", se.Aggregate, strings.Join(Aggregates, ", "))
	}
	if se.Bucket != "" {
		if _, err := rollup.ParseWidth(se.Bucket); err != nil {
			ps.add(path+".bucket", "%v", err)
		}
	}
	if n := utf8.RuneCountInString(se.Label); n > MaxTitle {
		ps.add(path+".label", "has %d characters, more than the limit of %d", n, MaxTitle)
	}
}

// fieldName reads a series field: a path of one segment, whose escapes
// ("\." and "\\") it removes.
func fieldName(path string) (string, error) {
	if _, err := mapping.ParsePath(path); err != nil {
		return "", fmt.Errorf("is not a field path: %w", err)
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '\\':
			i++
			b.WriteByte(path[i])
		case '.':
			return "", fmt.Errorf("%q is a nested path; charts read top-level fields: map the value to a top-level field in the pipeline's mapping (or write a\\.b for a field named a.b)", path)
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > rollup.MaxFieldName {
		return "", fmt.Errorf("is longer than %d bytes", rollup.MaxFieldName)
	}
	return b.String(), nil
}

// checkRef checks a reference to a pipeline.
func checkRef(path, ref string, refs Refs, ps *problems) {
	switch {
	case ref == "" && refs == RefIDs:
		ps.add(path, "is required: the id of a pipeline of the team")
	case ref == "":
		ps.add(path, "is required: the name of a pipeline")
	case refs == RefIDs:
		if id, err := uuid.Parse(ref); err != nil || id.String() != ref {
			ps.add(path, "%q is not a pipeline id; the API names pipelines by id (pipeline files by name)", ref)
		}
	default:
		checkName(path, ref, pipeline.MaxNameLength, ps)
	}
}

func checkName(path, name string, limit int, ps *problems) {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		ps.add(path, "is required")
		return
	case n > limit:
		ps.add(path, "has %d characters, more than the limit of %d", n, limit)
		return
	case !utf8.ValidString(name):
		ps.add(path, "is not valid UTF-8")
		return
	}
	if strings.TrimSpace(name) != name {
		ps.add(path, "starts or ends with a space")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		ps.add(path, "contains a control character such as a newline or tab")
	}
}
