package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// This file turns a read body into the engine's inputs. It is the one
// place that knows the payload formats, so that a streaming decoder can
// replace it without touching the rest of Accept.

// ndjsonTypes are the media types of newline-delimited JSON.
var ndjsonTypes = map[string]bool{
	"application/x-ndjson": true, "application/ndjson": true,
	"application/jsonl": true, "application/x-jsonl": true,
	"application/jsonlines": true, "application/x-jsonlines": true,
}

// isNDJSON reports whether the Content-Type names newline-delimited JSON.
func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && ndjsonTypes[mt]
}

func badJSON(format string, args ...any) *BadJSONError {
	return &BadJSONError{Detail: fmt.Sprintf(format, args...)}
}

// decodeBody decodes a webhook payload into the engine's inputs: a JSON
// object is one input, a JSON array one input per element, NDJSON one per
// non-blank line. Numbers stay json.Number, as the mapping wants them.
// Without an NDJSON Content-Type, a body holding several JSON values on
// separate lines is NDJSON. Malformed input fails as a whole, naming the
// line (NDJSON) or the byte offset (JSON).
func decodeBody(body []byte, ndjson bool) ([]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badJSON("The body is empty; send a JSON object, a JSON array of objects, or NDJSON.")
	}
	if ndjson {
		return decodeNDJSON(body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badJSON("The body is not valid JSON: %s.", jsonProblem(err, len(body)))
	}
	end := dec.InputOffset()
	if rest := body[end:]; len(bytes.TrimSpace(rest)) > 0 {
		// More values: NDJSON sent as JSON, if a line break separates them.
		if _, isObj := v.(map[string]any); isObj && bytes.IndexByte(rest[:len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))], '\n') >= 0 {
			return decodeNDJSON(body)
		}
		return nil, badJSON("The body is not valid JSON: unexpected data after the JSON value at byte %d; send one JSON value, or NDJSON with one object per line.", end)
	}
	switch t := v.(type) {
	case map[string]any:
		return []any{t}, nil
	case []any:
		return t, nil
	}
	return nil, badJSON("The body must be a JSON object, a JSON array of objects, or NDJSON; it is a single JSON %s.", jsonKind(v))
}

// decodeNDJSON decodes one JSON value per non-blank line.
func decodeNDJSON(body []byte) ([]any, error) {
	var out []any
	line := 0
	for len(body) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			text, body = body[:i], body[i+1:]
		} else {
			text, body = body, nil
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, badJSON("Line %d is not valid JSON: %s.", line, jsonProblem(err, len(text)))
		}
		if off := dec.InputOffset(); len(bytes.TrimSpace(text[off:])) > 0 {
			return nil, badJSON("Line %d is not valid JSON: unexpected data after the JSON value at byte %d of the line; NDJSON holds one value per line.", line, off+1)
		}
		out = append(out, v)
	}
	return out, nil
}

// jsonProblem describes a decode error of a text of size bytes with its
// position.
func jsonProblem(err error, size int) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("it ends early, after byte %d", size)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	}
	return "value"
}
