package specfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// topOrder is the order of a spec's top-level keys: pipeline.Spec's.
var topOrder = []string{"name", "kind", "source", "mapping", "validation", "persist", "retention", "sinks"}

// Normalize returns a spec's JSON in the key order this package writes:
// the top level as pipeline.Spec declares it, and in every object below
// "name", "kind" and "type" first, then the other keys alphabetically.
// The server may keep a spec's keys in any order (PostgreSQL's jsonb sorts
// them), so two specs are the same when their Normalize forms are equal.
func Normalize(spec json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode the spec: %w", err)
	}
	var buf bytes.Buffer
	writeOrdered(&buf, v, true)
	return buf.Bytes(), nil
}

// Equal reports whether two specs are the same but for key order and
// space.
func Equal(a, b json.RawMessage) bool {
	x, err1 := Normalize(a)
	y, err2 := Normalize(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func writeOrdered(buf *bytes.Buffer, v any, top bool) {
	switch t := v.(type) {
	case map[string]any:
		keys := orderedKeys(t, top)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeOrdered(buf, t[k], false)
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeOrdered(buf, e, false)
		}
		buf.WriteByte(']')
	default:
		b, _ := json.Marshal(t)
		buf.Write(b)
	}
}

func orderedKeys(m map[string]any, top bool) []string {
	first := []string{"name", "kind", "type"}
	if top {
		first = topOrder
	}
	rank := map[string]int{}
	for i, k := range first {
		rank[k] = i + 1
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank[keys[i]], rank[keys[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return keys[i] < keys[j]
	})
	return keys
}
