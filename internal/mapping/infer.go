package mapping

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Suggestion is one field Infer proposes: a target name, the path of the
// value in the input record and the type its sample values share.
type Suggestion struct {
	Name string
	Path string
	Type string
	// Seen counts the sample records holding a non-null value there.
	Seen int
}

// Limits of Infer.
const (
	// InferMaxFields bounds the fields suggested.
	InferMaxFields = 50
	// InferMaxDepth is how deep nested objects are followed (a path has at
	// most this many segments); deeper objects are suggested as objects.
	InferMaxDepth = 3
)

// Infer suggests the fields of a mapping from sample input records (JSON
// objects; other values are skipped): one field per leaf of the records'
// objects, in the order first seen (an object's keys sorted), with the
// type all its non-null values
// share — integer when every number is whole, number for numbers (and
// numeric strings mixed with numbers), time for RFC 3339 strings, string,
// boolean, array, or object below InferMaxDepth; a path whose values
// disagree gets the empty type (any value). A name is the path's last
// segment, or the whole path with "_" for "." when two last segments
// collide. It returns nil when no record is an object.
func Infer(records []json.RawMessage) []Suggestion {
	type stat struct {
		path                                      string
		seen                                      int
		ints, floats, numStrs, times, strs, bools int
		arrays, objects                           int
	}
	var order []*stat
	byPath := map[string]*stat{}
	var walk func(prefix string, depth int, obj map[string]any)
	walk = func(prefix string, depth int, obj map[string]any) {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys) // maps lose the input's order; sorted is stable
		for _, k := range keys {
			if k == "" || strings.Contains(k, ".") {
				continue // not addressable by a dotted path
			}
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			v := obj[k]
			if sub, ok := v.(map[string]any); ok && depth < InferMaxDepth && len(sub) > 0 {
				walk(path, depth+1, sub)
				continue
			}
			if v == nil {
				continue
			}
			st := byPath[path]
			if st == nil {
				if len(order) >= InferMaxFields {
					continue
				}
				st = &stat{path: path}
				byPath[path] = st
				order = append(order, st)
			}
			st.seen++
			switch x := v.(type) {
			case json.Number:
				if _, err := x.Int64(); err == nil {
					st.ints++
				} else {
					st.floats++
				}
			case string:
				if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
					st.times++
				} else if _, err := json.Number(x).Float64(); err == nil && x != "" && !strings.ContainsAny(x, " \t") {
					st.numStrs++
				} else {
					st.strs++
				}
			case bool:
				st.bools++
			case []any:
				st.arrays++
			case map[string]any:
				st.objects++
			}
		}
	}
	for _, raw := range records {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var obj map[string]any
		if dec.Decode(&obj) != nil || obj == nil {
			continue
		}
		walk("", 1, obj)
	}
	if len(order) == 0 {
		return nil
	}
	out := make([]Suggestion, 0, len(order))
	last := map[string]int{}
	for _, st := range order {
		seg := st.path[strings.LastIndexByte(st.path, '.')+1:]
		last[seg]++
	}
	for _, st := range order {
		typ := TypeAny
		switch n := st.seen; {
		case st.ints == n:
			typ = TypeInteger
		case st.ints+st.floats == n, st.ints+st.floats > 0 && st.ints+st.floats+st.numStrs == n:
			typ = TypeNumber
		case st.times == n:
			typ = TypeTime
		case st.strs+st.numStrs+st.times == n:
			typ = TypeString
		case st.bools == n:
			typ = TypeBoolean
		case st.arrays == n:
			typ = TypeArray
		case st.objects == n:
			typ = TypeObject
		}
		name := st.path[strings.LastIndexByte(st.path, '.')+1:]
		if last[name] > 1 {
			name = strings.ReplaceAll(st.path, ".", "_")
		}
		out = append(out, Suggestion{Name: name, Path: st.path, Type: typ, Seen: st.seen})
	}
	return out
}
