package mapping

import (
	"encoding/json"
	"iter"
	"slices"
	"strings"
)

// Field is one field of a mapped record.
type Field struct {
	Name  string
	Value any
}

// Fields is a mapped record: its fields sorted by name, each name once.
// That is the order in which encoding/json writes a map's keys, so a
// record can be encoded as it is, without building a map and sorting it
// (which was a tenth of the work of ingesting a record).
type Fields []Field

// Get returns the value of the field name.
func (fs Fields) Get(name string) (any, bool) {
	i, ok := slices.BinarySearchFunc(fs, name, func(f Field, name string) int { return strings.Compare(f.Name, name) })
	if !ok {
		return nil, false
	}
	return fs[i].Value, true
}

// All yields the fields' names and values in order.
func (fs Fields) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for _, f := range fs {
			if !yield(f.Name, f.Value) {
				return
			}
		}
	}
}

// Map returns the record as a map (nil for nil Fields), for callers that
// need one, such as a JSON Schema validator.
func (fs Fields) Map() map[string]any {
	if fs == nil {
		return nil
	}
	m := make(map[string]any, len(fs))
	for _, f := range fs {
		m[f.Name] = f.Value
	}
	return m
}

// MarshalJSON writes the record as a JSON object, as encoding/json writes
// its map.
func (fs Fields) MarshalJSON() ([]byte, error) {
	return json.Marshal(fs.Map())
}

// fieldsOf returns the entries of m sorted by name.
func fieldsOf(m map[string]any) Fields {
	fs := make(Fields, 0, len(m))
	for k, v := range m {
		fs = append(fs, Field{k, v})
	}
	slices.SortFunc(fs, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return fs
}
