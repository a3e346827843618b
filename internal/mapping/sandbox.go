package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Limits of the expression sandbox. They apply to each evaluation of one
// expression for one record.
const (
	// MaxExprLength is the longest expression source accepted, in bytes.
	MaxExprLength = 16 << 10
	// MaxNodes is the largest expression accepted, in syntax tree nodes
	// (expr.MaxNodes); a field expression typically has fewer than 20.
	MaxNodes = 2000
	// MaxOps bounds the work of the loops of one evaluation (map, filter,
	// all, reduce and the other closures): each iteration costs the number
	// of syntax tree nodes of its body, nested loops counting each inner
	// iteration. An expression whose loops over constant ranges and lists
	// alone cost more is refused at compile time. The count is of
	// operations, not time, so the same input always gives the same result
	// whatever the load of the machine.
	MaxOps = 100_000
	// MaxIterations bounds what a function may loop over internally, such
	// as the matches of regexReplace.
	MaxIterations = 100_000
	// MaxBytes bounds the memory an evaluation may produce (strings, lists
	// and maps built by functions and operators) and the data it may read
	// through functions and comparisons, in bytes.
	MaxBytes = 8 << 20
	// vmMemoryBudget is expr's own budget (vm.VM.MemoryBudget), counted in
	// elements of ranges, array and map literals and sorted lists.
	vmMemoryBudget = 1_000_000
)

// Errors that stop an evaluation that went over a limit.
var (
	errOps      = fmt.Errorf("expression stopped after %d operations in loops (limit)", MaxOps)
	errMemory   = fmt.Errorf("expression stopped after using %d MiB of memory (limit)", MaxBytes>>20)
	errTooLarge = fmt.Errorf("result would exceed %d MiB (limit)", MaxBytes>>20)
)

// env is the whole world an expression can see. Expressions are compiled
// against it with expr.Env, so any other name is a compile error.
type env struct {
	// Value is the value at the field's path (normalised: numbers are int64
	// or float64).
	Value any `expr:"value"`
	// Record is the whole input record.
	Record any `expr:"record"`
	// Arrival is when the batch arrived; expressions have no clock, so that
	// mapping the same input twice gives the same records.
	Arrival time.Time `expr:"arrival"`
	// Budget is the per-evaluation account the sandbox charges. Expressions
	// can name it but nothing in it is reachable.
	Budget *budget `expr:"__budget"`
}

// limits are the run-time limits of a Mapping: the exported constants,
// except in tests.
type limits struct {
	ops   int
	bytes int
}

var defaultLimits = limits{ops: MaxOps, bytes: MaxBytes}

// budget accounts for one evaluation.
type budget struct {
	lim   *limits
	ops   int
	bytes int
	// pacer, during an ApplyPaced, is told of the work done every
	// paceQuantum operations; unreported counts them meanwhile. Both
	// outlive one evaluation: they span the whole ApplyPaced.
	pacer      Pacer
	unreported int
}

// reset starts the account of a new evaluation.
func (b *budget) reset() {
	b.ops, b.bytes = 0, 0
}

// paceQuantum is how many operations an evaluation does between two
// reports to its Pacer: small enough that a report comes every few tens
// of microseconds of a costly loop, large enough that reporting costs
// nothing measurable.
const paceQuantum = 1024

// bytesPerOp converts bytes charged (walked, built or read) into
// operations for the Pacer.
const bytesPerOp = 64

// pace counts ops operations of work and reports them when a quantum is
// reached.
func (b *budget) pace(ops int) {
	if b.pacer == nil {
		return
	}
	b.unreported += ops
	if b.unreported >= paceQuantum {
		n := b.unreported
		b.unreported = 0
		b.pacer.Work(n)
	}
}

// flushPace reports the work not reported yet.
func (b *budget) flushPace() {
	if b.pacer != nil && b.unreported > 0 {
		b.pacer.Work(b.unreported)
	}
	b.unreported = 0
}

// charge adds the size of v. Shared parts of v are counted each time they
// appear, which overestimates but is what printing or copying v would cost;
// the walk stops at the budget, so charging costs at most the budget.
func (b *budget) charge(v any) error {
	n, ok := deepSize(v, b.lim.bytes-b.bytes)
	b.bytes += n
	b.pace(n / bytesPerOp)
	if !ok {
		return errMemory
	}
	return nil
}

// step accounts for one loop iteration whose body costs weight operations.
func (b *budget) step(v any, weight int) error {
	b.ops += weight
	b.pace(weight)
	if b.ops > b.lim.ops {
		return errOps
	}
	return b.charge(v)
}

// deepSize approximates the bytes v occupies when fully expanded (what
// printing it would take, with shared parts counted each time it appears),
// stopping as soon as limit is passed: then it reports false, and its cost
// is bounded by limit.
func deepSize(v any, limit int) (int, bool) {
	n := 0
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		if depth > maxDepth {
			return false
		}
		switch t := v.(type) {
		case nil, bool, int, int64, float64:
			n += 8
		case string:
			n += len(t) + 2
		case []any:
			n += 16
			for _, e := range t {
				if n += 8; n > limit || !walk(e, depth+1) {
					return false
				}
			}
		case map[string]any:
			n += 48
			for k, e := range t {
				if n += len(k) + 16; n > limit || !walk(e, depth+1) {
					return false
				}
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				n += 16
				for i := 0; i < rv.Len(); i++ {
					if n += 8; n > limit || !walk(rv.Index(i).Interface(), depth+1) {
						return false
					}
				}
			case reflect.Map:
				n += 48
				it := rv.MapRange()
				for it.Next() {
					if n += 16; n > limit || !walk(it.Key().Interface(), depth+1) || !walk(it.Value().Interface(), depth+1) {
						return false
					}
				}
			case reflect.String:
				n += rv.Len() + 2
			default:
				n += 24
			}
		}
		return n <= limit
	}
	ok := walk(v, 0)
	return n, ok
}

// sizeWithin reports whether the expanded size of v is at most limit.
func sizeWithin(v any, limit int) bool {
	_, ok := deepSize(v, limit)
	return ok
}

// Names of the functions the sandbox inserts.
const (
	chargeFn = "__charge"
	stepFn   = "__step"
	budgetID = "__budget"
)

// sandboxOptions installs the accounting functions. They return their second
// argument unchanged, with its type, so that type checking is not weakened.
func sandboxFunctions(c *conf.Config) {
	passType := func(args []reflect.Type) (reflect.Type, error) {
		if len(args) < 2 || len(args) > 3 {
			return nil, errors.New("internal function called wrongly")
		}
		if args[1] == nil {
			return reflect.TypeOf((*any)(nil)).Elem(), nil
		}
		return args[1], nil
	}
	budgetOf := func(args []any) (*budget, error) {
		b, ok := args[0].(*budget)
		if !ok || b == nil || len(args) < 2 || len(args) > 3 {
			return nil, errors.New("internal function called wrongly")
		}
		return b, nil
	}
	c.Functions[chargeFn] = &builtin.Function{
		Name: chargeFn,
		Func: func(args ...any) (any, error) {
			b, err := budgetOf(args)
			if err != nil {
				return nil, err
			}
			if len(args) != 2 {
				return nil, errors.New("internal function called wrongly")
			}
			return args[1], b.charge(args[1])
		},
		Validate: passType,
	}
	c.Functions[stepFn] = &builtin.Function{
		Name: stepFn,
		Func: func(args ...any) (any, error) {
			b, err := budgetOf(args)
			if err != nil {
				return nil, err
			}
			if len(args) != 3 {
				return nil, errors.New("internal function called wrongly")
			}
			weight, ok := args[2].(int)
			if !ok || weight < 1 {
				return nil, errors.New("internal function called wrongly")
			}
			return args[1], b.step(args[1], weight)
		},
		Validate: passType,
	}
}

// sandbox is an expr patcher (it runs on the type-checked tree before the
// final check) that inserts the accounting: every loop body is wrapped in
// __step with the body's cost as its weight, every operation that can build
// a large string, list or map (calls, builtins, +) has its result and its
// non-literal arguments passed through __charge, and so have the operands
// of comparisons, which read their operands whole. It also computes the
// static cost of the expression: its nodes, each loop body counted once per
// element when the loop is over a constant range or list literal (else
// once), which is a lower bound of what an evaluation costs. Calls whose output could be far larger than their input
// (repeat, replace, join, string, toJSON, flatten, regexReplace) are replaced
// by versions that check the size before building it. It also validates
// constant regular expressions and notes whether the expression reads the
// whole record.
type sandbox struct {
	lib        *library
	usesRecord bool
	err        *file.Error
	// extra is the cost of loops beyond their nodes: (elements-1) times
	// the cost of one iteration.
	extra map[ast.Node]int
	// bodyCost is the cost of one iteration of each loop body.
	bodyCost map[*ast.PredicateNode]int
	// total is the static cost of the expression, saturating at MaxOps+1.
	total int
}

func newSandbox(lib *library) *sandbox {
	return &sandbox{lib: lib, extra: make(map[ast.Node]int), bodyCost: make(map[*ast.PredicateNode]int)}
}

// cost returns the static cost of the subtree at node: each node counts 1,
// plus the extra cost of the loops in it. It saturates at MaxOps+1.
func (s *sandbox) cost(node *ast.Node) int {
	c := &costVisitor{extra: s.extra}
	ast.Walk(node, c)
	return c.n
}

type costVisitor struct {
	extra map[ast.Node]int
	n     int
}

func (c *costVisitor) Visit(node *ast.Node) {
	c.n = min(c.n+1+c.extra[*node], MaxOps+1)
}

// staticLength returns the number of elements of a constant range (1..n)
// or list literal, or 1 when it is not known before the evaluation.
func staticLength(n ast.Node) int {
	switch t := n.(type) {
	case *ast.ArrayNode:
		return max(len(t.Nodes), 1)
	case *ast.BinaryNode:
		if t.Operator != ".." {
			return 1
		}
		from, ok1 := t.Left.(*ast.IntegerNode)
		to, ok2 := t.Right.(*ast.IntegerNode)
		if !ok1 || !ok2 || to.Value < from.Value {
			return 1
		}
		return min(to.Value-from.Value+1, MaxOps+1)
	}
	return 1
}

// comparisons read their operands whole.
var comparisons = map[string]bool{
	"==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true,
	"in": true, "contains": true, "startsWith": true, "endsWith": true, "matches": true,
}

// Visit patches one node; ast.Walk calls it after visiting the children.
func (s *sandbox) Visit(node *ast.Node) {
	orig := *node
	defer func() { s.total = min(s.total+1+s.extra[orig], MaxOps+1) }()
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "record" || n.Value == "$env" {
			s.usesRecord = true
		}
	case *ast.PredicateNode:
		weight := max(s.cost(&n.Node), 1)
		s.bodyCost[n] = weight
		n.Node = accountingCall(stepFn, n.Node, weightNode(weight, n.Node.Location()))
	case *ast.BinaryNode:
		if comparisons[n.Operator] {
			if chargeableArg(n.Left) {
				n.Left = accountingCall(chargeFn, n.Left)
			}
			if chargeableArg(n.Right) && n.Operator != "matches" {
				n.Right = accountingCall(chargeFn, n.Right)
			}
		}
		switch n.Operator {
		case "+":
			if !isScalarType(n.Type()) {
				*node = accountingCall(chargeFn, n)
			}
		case "matches":
			// A constant pattern is compiled once by expr; a computed one
			// goes through the cache and the length limit of regexMatch.
			if _, ok := n.Right.(*ast.StringNode); !ok {
				call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: "regexMatch"}, Arguments: []ast.Node{n.Left, n.Right}}
				call.Callee.SetLocation(n.Location())
				ast.Patch(node, call)
			}
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if id.Value == chargeFn || id.Value == stepFn {
				return
			}
			s.checkPattern(id.Value, n.Arguments)
		}
		chargeArgs(n.Arguments)
		if !isScalarType(n.Type()) {
			*node = accountingCall(chargeFn, n)
		}
	case *ast.BuiltinNode:
		for _, a := range n.Arguments {
			if p, ok := a.(*ast.PredicateNode); ok && len(n.Arguments) > 0 {
				s.extra[n] = min(s.extra[n]+(staticLength(n.Arguments[0])-1)*s.bodyCost[p], MaxOps+1)
			}
		}
		chargeArgs(n.Arguments)
		if !isScalarType(n.Type()) {
			*node = accountingCall(chargeFn, n)
		}
	}
}

// checkPattern compiles constant patterns of the regex functions so that a
// bad pattern is reported when the mapping is saved.
func (s *sandbox) checkPattern(fn string, args []ast.Node) {
	if s.err != nil || len(args) < 2 {
		return
	}
	switch fn {
	case "regexMatch", "regexExtract", "regexReplace":
	default:
		return
	}
	p, ok := args[1].(*ast.StringNode)
	if !ok {
		return
	}
	if _, err := s.lib.regexp(p.Value); err != nil {
		s.err = &file.Error{Location: p.Location(), Message: err.Error()}
	}
}

func accountingCall(fn string, arg ast.Node, more ...ast.Node) *ast.CallNode {
	loc := arg.Location()
	callee := &ast.IdentifierNode{Value: fn}
	callee.SetLocation(loc)
	b := &ast.IdentifierNode{Value: budgetID}
	b.SetLocation(loc)
	call := &ast.CallNode{Callee: callee, Arguments: append([]ast.Node{b, arg}, more...)}
	call.SetLocation(loc)
	return call
}

func weightNode(w int, loc file.Location) ast.Node {
	n := &ast.IntegerNode{Value: w}
	n.SetLocation(loc)
	n.SetType(reflect.TypeOf(0))
	return n
}

func chargeArgs(args []ast.Node) {
	for i, a := range args {
		if chargeableArg(a) {
			args[i] = accountingCall(chargeFn, a)
		}
	}
}

// chargeableArg reports whether an argument may carry a large value that is
// not charged yet: names, members, #, slices, conditionals. Literals are
// bounded by the source, ranges and literal lists by expr's own budget, and
// calls are charged where they produce their result.
func chargeableArg(a ast.Node) bool {
	if isScalarType(a.Type()) {
		return false
	}
	switch n := a.(type) {
	case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode,
		*ast.BytesNode, *ast.ConstantNode, *ast.ArrayNode, *ast.MapNode, *ast.PredicateNode,
		*ast.CallNode, *ast.BuiltinNode:
		return false
	case *ast.BinaryNode:
		return n.Operator == "??"
	}
	return true
}

var timeType = reflect.TypeOf(time.Time{})

// isScalarType reports whether values of t are small and fixed in size.
func isScalarType(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return t == timeType
}

// state is what one goroutine needs to evaluate expressions. States are
// pooled per Mapping; one is taken for a whole Apply call.
type state struct {
	vm     vm.VM
	env    env
	budget budget
}

func newState(lim *limits) *state {
	st := &state{budget: budget{lim: lim}}
	st.vm.MemoryBudget = vmMemoryBudget
	st.env.Budget = &st.budget
	return st
}

func (st *state) run(p *vm.Program, value, record any) (any, error) {
	st.budget.reset()
	st.env.Value, st.env.Record = value, record
	out, err := st.vm.Run(p, &st.env)
	st.env.Value, st.env.Record = nil, nil
	return out, err
}
