package pipeline

import "bytes"

// DecodeStrict decodes doc, a JSON object, into v (a pointer to a struct)
// as strictly as Decode decodes a pipeline spec: unknown keys, keys that
// differ from a field only in case, repeated keys, values of the wrong
// JSON type and JSON syntax errors are all reported, each with its path.
// It returns the problems found, and whether v holds the document's
// values. Other documents (dashboards) use it to decode like pipelines.
func DecodeStrict(doc []byte, v any) ([]Problem, bool) {
	var ps problems
	if len(bytes.TrimSpace(doc)) == 0 {
		ps.add("", "the document is empty: send a JSON object")
		return ps, false
	}
	ok := decodeStrict(doc, v, "", &ps)
	return ps, ok
}
