package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runGuarded maps record with a one-field expression and fails the test if
// the evaluation does not finish within a generous bound: the point of the
// sandbox is that nothing hangs.
func runGuarded(t *testing.T, src string, record map[string]any) (Result, error) {
	t.Helper()
	m, err := Compile(Spec{Fields: map[string]FieldSpec{"v": {Expr: src}}})
	if err != nil {
		return Result{}, err
	}
	// No wall-clock guard: a case the budgets fail to stop shows up as
	// the test binary's timeout, which names the running test.
	rs, err := m.Apply(record, arrival)
	if err != nil {
		t.Fatal(err)
	}
	return rs[0], nil
}

func TestSandboxLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	items := make([]any, 1000)
	for i := range items {
		items[i] = float64(i)
	}
	// nested is an array whose printed size doubles with each level while
	// its memory stays tiny, the shape that defeats naive size checks.
	let := "let a0 = [value, value];"
	for i := 1; i < 40; i++ {
		let += fmt.Sprintf("let a%d = [a%d, a%d];", i, i-1, i-1)
	}
	doubling := "let s0 = value;"
	for i := 1; i <= 40; i++ {
		doubling += fmt.Sprintf("let s%d = s%d + s%d;", i, i-1, i-1)
	}
	doubling += "len(s40)"
	record := map[string]any{"v": "0123456789", "items": items, "big": big, "big2": strings.Clone(big), "json": `{"a":[` + strings.Repeat(`1,`, 50000) + `1]}`}

	tests := []struct {
		name    string
		src     string
		wantErr string // in the record's error, or in the compile error
	}{
		{name: "huge range", src: "len(1..100000000)", wantErr: "lists and ranges of 1000000 elements"},
		{name: "nested ranges", src: "len(map(1..1000, map(1..1000, #)))", wantErr: "limit"},
		{name: "nested loops over input", src: "count(record.items, all(record.items, all(record.items, # >= 0)))", wantErr: "limit"},
		{name: "nested loops over a local", src: "let xs = record.items; count(xs, all(xs, all(xs, # >= 0)))", wantErr: "limit"},
		{name: "loop without allocation", src: "all(1..999, all(1..999, true))", wantErr: "cost more than 100000 operations"},
		{name: "loop over input without allocation", src: "all(record.items, all(record.items, # >= 0))", wantErr: "100000 operations in loops (limit)"},
		{name: "repeat", src: "repeat(value, 100000000)", wantErr: "repeat: result would exceed 8 MiB"},
		{name: "repeat of a repeat", src: "repeat(repeat(value, 999), 999999)", wantErr: "exceed"},
		{name: "doubling with let", src: doubling, wantErr: "memory"},
		{name: "doubling with reduce", src: "len(reduce(1..100, #acc + #acc, value))", wantErr: "memory"},
		{name: "many copies in a loop", src: "len(map(1..1000, record.big))", wantErr: "memory"},
		{name: "quadratic replace", src: `len(replace(record.big, "x", record.big))`, wantErr: "replace: result would exceed"},
		{name: "regexReplace with references", src: `len(regexReplace(record.big, "(x+)", "$1$1$1$1$1$1$1$1$1$1"))`, wantErr: "regexReplace: result would exceed"},
		{name: "join of shared strings", src: `len(join(map(1..100, record.big)))`, wantErr: "memory"},
		// Passing a39 charges its expanded size; inside a literal list it is
		// not charged, and the function's own check stops it.
		{name: "toJSON of shared arrays", src: let + "len(toJSON(a39))", wantErr: "memory"},
		{name: "toJSON of a list of shared arrays", src: let + "len(toJSON([a39]))", wantErr: "toJSON: result would exceed"},
		{name: "string of a list of shared arrays", src: let + "len(string([a39]))", wantErr: "string: result would exceed"},
		{name: "flatten of a list of shared arrays", src: let + "len(flatten([a39]))", wantErr: "flatten: result would exceed"},
		{name: "hash of a list of shared arrays", src: let + "sha256([a39])", wantErr: "sha256: result would exceed"},
		{name: "repeated heavy calls", src: "all(1..999, fromJSON(record.json) != nil)", wantErr: "memory"},
		{name: "kept heavy results", src: "len(map(1..1000, fromJSON(record.json)))", wantErr: "memory"},
		{name: "slow loop body", src: "all(1..999, record.big == record.big2)", wantErr: "memory"},
		{name: "slow loop body over input", src: "all(record.items, record.big == record.big2)", wantErr: "memory"},
		{name: "expensive constant loop", src: "len(filter(1..99999, # % 7 == 0))", wantErr: "cost more than 100000 operations"},
		{name: "too many nodes", src: strings.Repeat("value + ", MaxNodes) + "value", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r, err := runGuarded(t, tt.src, record)
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("compile error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
				t.Fatalf("Err = %v (fields %.100v), want one containing %q", r.Err, r.Fields, tt.wantErr)
			}
			if !strings.HasPrefix(r.Err.Error(), "field v: expr: ") {
				t.Errorf("Err %q does not name the field", r.Err)
			}
			t.Logf("%s: stopped after %v: %v", tt.name, time.Since(start), r.Err)
		})
	}
}

// TestSandboxBudgetIsPerEvaluation checks that the budget is not shared by
// the records of a batch or the fields of a record.
func TestSandboxBudgetIsPerEvaluation(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Spec{Fields: map[string]FieldSpec{
		"a": {Path: "v", Expr: "len(repeat(value, 500000))"},
		"b": {Path: "v", Expr: "len(repeat(value, 500000))"},
		"c": {Path: "v", Expr: "count(1..30000, # > 0)"},
	}})
	recs := make([]any, 5)
	for i := range recs {
		recs[i] = map[string]any{"v": "0123456789"} // 5 MB per field and record
	}
	rs, err := m.Apply(recs, arrival)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Errorf("record %d: %v", i, r.Err)
		}
	}
}

func TestSandboxNoOutsideAccess(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"now()",
		`env("HOME")`,
		`readFile("/etc/passwd")`,
		"os.Getenv('HOME')",
		"$env.Budget",
		"__budget.steps",
	} {
		m, err := Compile(Spec{Expr: src})
		if err == nil {
			rs, _ := m.Apply(map[string]any{}, arrival)
			if rs[0].Err == nil {
				t.Errorf("%q evaluated to %v", src, rs[0].Fields)
			}
		}
	}
}

func TestSandboxErrorsAreNotPanics(t *testing.T) {
	t.Parallel()
	r, err := runGuarded(t, `__step(1, 2)`, map[string]any{})
	if err == nil && (r.Err == nil || !strings.Contains(r.Err.Error(), "internal function called wrongly")) {
		t.Errorf("calling an internal function wrongly: %v", r.Err)
	}
	var re *RecordError
	if err == nil && r.Err != nil && !errors.As(r.Err, &re) {
		t.Errorf("Err is %T", r.Err)
	}
}

// TestSandboxChecksSizeBeforeAllocating checks that functions whose output
// can be far larger than their input refuse before building it: the bytes
// allocated by one evaluation stay within a small multiple of MaxBytes. It
// is not parallel so that the allocation count is this test's alone.
func TestSandboxChecksSizeBeforeAllocating(t *testing.T) {
	for _, tt := range []struct {
		src, wantErr string
	}{
		{`regexReplace(repeat("a", 8000000), "", "")`, "regexReplace: the pattern matches more than"},
		{`regexReplace(repeat("a", 8000000), "a", "")`, "regexReplace: the pattern matches more than"},
		{`len(split(repeat("a", 8000000), ""))`, "split: result would exceed"},
		{`len(split(repeat("a,", 4000000), ","))`, "split: result would exceed"},
		{`len(splitAfter(repeat("a", 8000000), ""))`, "splitAfter: result would exceed"},
		{`fromJSON(repeat("[0,", 1000000))`, "fromJSON: result would exceed"},
	} {
		t.Run(tt.src, func(t *testing.T) {
			m, err := Compile(Spec{Fields: map[string]FieldSpec{"v": {Expr: tt.src}}})
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rs, err := m.Apply(map[string]any{}, arrival)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), tt.wantErr) {
				t.Fatalf("Err = %v, want one containing %q", rs[0].Err, tt.wantErr)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*MaxBytes && !raceEnabled {
				t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, 4*MaxBytes>>20)
			}
		})
	}
}

func TestBoundedFunctionsKeepTheirBehaviour(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]any{
		`split("a,b,c", ",")`:              []any{"a", "b", "c"},
		`split("a,b,c", ",", 2)`:           []any{"a", "b,c"},
		`split("héé", "")`:                 []any{"h", "é", "é"},
		`splitAfter("a,b", ",")`:           []any{"a,", "b"},
		`fromJSON("{\"a\":[1,2]}").a[1]`:   int64(2),
		`regexReplace("abc", "b", "[$0]")`: "a[b]c",
		`regexReplace("abc", "", "-")`:     "-a-b-c-",
	} {
		r, err := runGuarded(t, src, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Err != nil {
			t.Errorf("%s: %v", src, r.Err)
			continue
		}
		if got := r.Fields.Map()["v"]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %#v, want %#v", src, got, want)
		}
	}
}

// TestSandboxBudgetIsDeterministic checks that whether an evaluation stays
// within its budget depends on the input only, not on the load of the
// machine: records around the limit give the same result on every run,
// with many evaluations in parallel.
func TestSandboxBudgetIsDeterministic(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Spec{Fields: map[string]FieldSpec{"n": {Expr: "count(record.items, # >= 0)"}}})
	var recs []any
	for n := 10_000; n <= 40_000; n += 2_000 {
		items := make([]any, n)
		for i := range items {
			items[i] = int64(i)
		}
		recs = append(recs, map[string]any{"items": items})
	}
	outcome := func() string {
		rs, err := m.Apply(recs, arrival)
		if err != nil {
			t.Error(err)
			return ""
		}
		s := ""
		for _, r := range rs {
			s += fmt.Sprintf("%v/%v ", r.Fields.Map()["n"], r.Err != nil)
		}
		return s
	}
	want := outcome()
	if !strings.Contains(want, "true") || !strings.Contains(want, "false") {
		t.Fatalf("records around the limit should both pass and fail: %s", want)
	}
	results := make(chan string, 16)
	for range cap(results) {
		go func() { results <- outcome() }()
	}
	for range cap(results) {
		if got := <-results; got != want {
			t.Fatalf("outcome changed between runs:\n%s\n%s", want, got)
		}
	}
}

// TestStaticCostIsRefusedAtCompile checks that an expression whose loops
// over constants alone exceed the budget is refused with its place, and
// that loops over the input, whose size is not known, are not.
func TestStaticCostIsRefusedAtCompile(t *testing.T) {
	t.Parallel()
	_, err := Compile(Spec{Fields: map[string]FieldSpec{
		"ok":   {Expr: "len(filter(1..1000, # % 7 == 0))"},
		"cost": {Expr: "len(filter(1..99999, # % 7 == 0))"},
		"nest": {Expr: "count(record.items, any(1..50000, # == 3))"},
		"data": {Expr: "count(record.items, # > 3)"},
	}})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *CompileError", err)
	}
	var fields []string
	for _, p := range ce.Problems {
		fields = append(fields, p.Field)
		if !strings.Contains(p.Message, "cost more than 100000 operations") {
			t.Errorf("%s: %s", p.Field, p.Message)
		}
	}
	if got := strings.Join(fields, ","); got != "fields.cost.expr,fields.nest.expr" {
		t.Errorf("problems at %s", got)
	}
}

// ApplyPaced gives the results of Apply and tells its Pacer of the work of
// the loops, in quanta, from inside a costly evaluation.
func TestApplyPacedReportsWork(t *testing.T) {
	t.Parallel()
	m, err := Compile(Spec{Fields: map[string]FieldSpec{
		"n":    {Expr: "len(filter(1..9000, # % 7 == 0))", Type: TypeNumber},
		"name": {Path: "name", Type: TypeString},
	}})
	if err != nil {
		t.Fatal(err)
	}
	input := []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}
	arrival := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	want, err := m.Apply(input, arrival)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingPacer{}
	got, err := m.ApplyPaced(input, arrival, p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ApplyPaced = %v, Apply = %v", got, want)
	}
	// Two records, each 9,000 iterations of a body of a few nodes.
	if p.ops < 2*9000 || p.calls < 2*9000/paceQuantum {
		t.Fatalf("pacer told of %d operations in %d calls, want at least %d in %d", p.ops, p.calls, 2*9000, 2*9000/paceQuantum)
	}
	// A plain Apply after it reports nothing: the pooled state forgot p.
	before := p.calls
	if _, err := m.Apply(input, arrival); err != nil {
		t.Fatal(err)
	}
	if p.calls != before {
		t.Fatal("Apply reported to the pacer of an earlier ApplyPaced")
	}
}
