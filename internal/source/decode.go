package source

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/tributary-dev/tributary/internal/jsonvalue"
	"github.com/tributary-dev/tributary/internal/mapping"
)

// Response formats.
const (
	FormatJSON   = "json"
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// formatOf returns the format to decode a body in: the spec's, or else
// the one the Content-Type names (JSON when it names none we know).
func formatOf(spec, contentType string) string {
	if spec != "" {
		return spec
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case strings.Contains(mt, "ndjson"), strings.Contains(mt, "jsonl"), strings.Contains(mt, "jsonlines"), strings.Contains(mt, "json-seq"):
		return FormatNDJSON
	case strings.HasSuffix(mt, "/csv"):
		return FormatCSV
	}
	return FormatJSON
}

// decodeJSON decodes one JSON document, numbers as json.Number: fast
// (jsonvalue), or with encoding/json, which explains what is wrong.
func decodeJSON(body []byte) (any, error) {
	if v, ok := jsonvalue.Parse(body); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("the response body is empty, not JSON")
		}
		return nil, fmt.Errorf("the response is not valid JSON: %s", jsonErr(err, body, dec.InputOffset()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("the response is not valid JSON: unexpected data after the document at byte %d", dec.InputOffset())
	}
	return v, nil
}

// jsonErr describes a JSON syntax error with its position.
func jsonErr(err error, body []byte, offset int64) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(body, se.Offset)
		return fmt.Sprintf("%s at line %d, column %d", strings.TrimPrefix(se.Error(), "json: "), line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the body ends too early (after %d bytes)", len(body))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func position(doc []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(doc)))
	before := doc[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// recordsAt returns the records at path in a decoded JSON document: an
// array is a list of records, an object is one record, null is none.
// Without a path, the document itself is taken the same way.
func recordsAt(doc any, path mapping.Path) ([]any, error) {
	v, ok := path.Lookup(doc)
	if !ok {
		return nil, fmt.Errorf("the response has nothing at %q, where the records should be (records)", path)
	}
	switch x := v.(type) {
	case []any:
		return x, nil
	case map[string]any:
		return []any{x}, nil
	case nil:
		return nil, nil
	}
	where := "the response"
	if !path.Empty() {
		where = fmt.Sprintf("%q in the response", path.String())
	}
	return nil, fmt.Errorf("%s is %s, not an array of records or an object", where, kindOf(v))
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// decodeNDJSON decodes one JSON value per non-blank line.
func decodeNDJSON(body []byte) ([]any, error) {
	var out []any
	line := 0
	for len(body) > 0 {
		line++
		l := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if v, ok := jsonvalue.Parse(l); ok {
			out = append(out, v)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("the response is not valid NDJSON: line %d: %s", line, jsonErr(err, l, dec.InputOffset()))
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("the response is not valid NDJSON: line %d holds more than one JSON value", line)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeCSV reads a CSV body whose first row names the columns; each
// further row is a record of strings.
func decodeCSV(body []byte) ([]any, error) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, csvErr(err)
	}
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		h = strings.TrimPrefix(h, "\ufeff")
		header[i] = h
		switch {
		case h == "":
			return nil, fmt.Errorf("the response is not valid CSV: column %d of the header row has no name", i+1)
		case seen[h]:
			return nil, fmt.Errorf("the response is not valid CSV: the header row names column %q twice", h)
		}
		seen[h] = true
	}
	var out []any
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, csvErr(err)
		}
		rec := make(map[string]any, len(header))
		for i, h := range header {
			rec[h] = row[i]
		}
		out = append(out, rec)
	}
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("the response is not valid CSV: row %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("the response is not valid CSV: %v", err)
}
