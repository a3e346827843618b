package source

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
)

// StateSpec declares a polling pipeline's state variables (source.state),
// by name:
//
//	"state": {
//	  "since":  {"from": "updated_at", "initial": "2024-01-01T00:00:00Z"},
//	  "cursor": {"response": "meta.next_cursor"}
//	}
//
// The state is stored with each committed batch, in the same transaction,
// and templates ({{ state.since }}) put it into the next poll's request.
type StateSpec map[string]StateVar

// StateVar is one state variable. Exactly one of From and Response says
// where its value comes from.
type StateVar struct {
	// From is a path in each record (as the source delivers it, before
	// mapping). With Keep "max" (the default) the variable becomes the
	// largest value seen — numbers by value, RFC 3339 times by time, other
	// strings by byte order — and never goes back; with "last" it becomes
	// the value of the last record that has one.
	From string `json:"from,omitempty"`
	// Response is a path in the response body: the variable becomes the
	// value of the last response of the poll that has one (a cursor the
	// API hands out for the next poll).
	Response string `json:"response,omitempty"`
	// Keep is "max" or "last", for From.
	Keep string `json:"keep,omitempty"`
	// Initial is the value before any poll set one.
	Initial any `json:"initial,omitempty"`
}

type varKind int

const (
	fromRecords varKind = iota
	fromResponse
)

// stateVar is a compiled StateVar.
type stateVar struct {
	name     string
	kind     varKind
	from     mapping.Path
	response mapping.Path
	last     bool
	initial  any
}

// compileState checks the state variables; problems go under "state".
func (b *Builder) compileState(spec StateSpec) []stateVar {
	names := make([]string, 0, len(spec))
	for n := range spec {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []stateVar
	for _, name := range names {
		v := spec[name]
		path := "state." + name
		if !validStateName(name) {
			b.problem(path, "a state variable's name has letters, digits and _, starting with a letter or _, at most 64 characters")
			continue
		}
		sv := stateVar{name: name, initial: v.Initial}
		switch {
		case v.From != "" && v.Response != "":
			b.problem(path, `set either "from" (a path in each record) or "response" (a path in the response), not both`)
			continue
		case v.From != "":
			p, err := mapping.ParsePath(v.From)
			if err != nil {
				b.problem(path+".from", err.Error())
				continue
			}
			sv.from = p
			switch v.Keep {
			case "", "max":
			case "last":
				sv.last = true
			default:
				b.problem(path+".keep", fmt.Sprintf(`%q is not "max" or "last"`, v.Keep))
			}
		case v.Response != "":
			p, err := mapping.ParsePath(v.Response)
			if err != nil {
				b.problem(path+".response", err.Error())
				continue
			}
			sv.kind, sv.response = fromResponse, p
			if v.Keep != "" {
				b.problem(path+".keep", `applies to "from" only: a response variable keeps the last value the API sent`)
			}
		default:
			b.problem(path, `needs "from" (a path in each record, such as "updated_at") or "response" (a path in the response body, such as "meta.next_cursor")`)
			continue
		}
		out = append(out, sv)
	}
	return out
}

// startValues returns the state a poll starts from: prev, with the
// initial value of every variable prev lacks. Values of variables no
// longer declared are dropped.
func (s *Source) startValues(prev Values) Values {
	out := make(Values, len(s.state))
	for _, v := range s.state {
		if x, ok := prev[v.name]; ok && x != nil {
			out[v.name] = x
		} else if v.initial != nil {
			out[v.name] = v.initial
		}
	}
	return out
}

// nextState computes the state after a poll from the starting state, the
// records and the response variables seen.
func (s *Source) nextState(start Values, records []any, resp Values) Values {
	out := make(Values, len(s.state))
	for k, v := range start {
		out[k] = v
	}
	for _, v := range s.state {
		switch v.kind {
		case fromResponse:
			if x, ok := resp[v.name]; ok {
				out[v.name] = x
			}
		case fromRecords:
			cur, have := out[v.name]
			have = have && cur != nil
			if v.last {
				for i := len(records) - 1; i >= 0; i-- {
					if x, ok := v.from.Lookup(records[i]); ok && x != nil {
						out[v.name] = x
						break
					}
				}
				continue
			}
			for _, rec := range records {
				x, ok := v.from.Lookup(rec)
				if !ok || x == nil {
					continue
				}
				if !have || compareValues(x, cur) > 0 {
					cur, have = x, true
				}
			}
			if have {
				out[v.name] = cur
			}
		}
	}
	return out
}

// compareValues orders two JSON values for "max": numbers by value,
// strings that are both RFC 3339 times by time, other strings by bytes;
// values of different kinds by their text.
func compareValues(a, b any) int {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x.Cmp(y)
		}
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		ta, errA := time.Parse(time.RFC3339Nano, as)
		tb, errB := time.Parse(time.RFC3339Nano, bs)
		if errA == nil && errB == nil {
			return ta.Compare(tb)
		}
	}
	ta, tb := textOf(a), textOf(b)
	switch {
	case ta < tb:
		return -1
	case ta > tb:
		return 1
	}
	return 0
}

// number reads a JSON number exactly.
func number(v any) (*big.Float, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		return new(big.Float).SetFloat64(x), true
	case int64:
		return new(big.Float).SetInt64(x), true
	case int:
		return new(big.Float).SetInt64(int64(x)), true
	default:
		return nil, false
	}
	f, _, err := big.ParseFloat(s, 10, 256, big.ToNearestEven)
	return f, err == nil
}
