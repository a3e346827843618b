package upload

import (
	"bytes"
	"fmt"
	"mime"
	"path"
	"strings"

	"github.com/tributary-dev/tributary/internal/core"
)

// ParseFormat reads a format as a user names it: csv, json, ndjson (or
// jsonl).
func ParseFormat(s string) (core.UploadFormat, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv", "tsv":
		return core.FormatCSV, nil
	case "json":
		return core.FormatJSON, nil
	case "ndjson", "jsonl", "jsonlines":
		return core.FormatNDJSON, nil
	}
	return "", fmt.Errorf("%w: %q is not an upload format: use csv, json or ndjson", core.ErrInvalid, s)
}

// Detect decides the format of an upload from, in order: the format the
// client named (explicit), the Content-Type when it names one of the
// formats, the file name's extension, and the first bytes of the file
// (head): '[' is JSON, '{' NDJSON, anything else CSV. Only an explicit
// format that is not one fails.
func Detect(explicit, contentType, filename string, head []byte) (core.UploadFormat, error) {
	if explicit != "" {
		return ParseFormat(explicit)
	}
	if f := fromContentType(contentType); f != "" {
		return f, nil
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".csv", ".tsv":
		return core.FormatCSV, nil
	case ".json":
		return core.FormatJSON, nil
	case ".ndjson", ".jsonl":
		return core.FormatNDJSON, nil
	}
	return sniff(head), nil
}

func fromContentType(ct string) core.UploadFormat {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	switch mt {
	case "text/csv", "application/csv", "text/comma-separated-values", "text/tab-separated-values":
		return core.FormatCSV
	case "application/json", "text/json":
		return core.FormatJSON
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines", "application/jsonl+json":
		return core.FormatNDJSON
	}
	return ""
}

func sniff(head []byte) core.UploadFormat {
	head = bytes.TrimPrefix(head, bom)
	head = bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(head) == 0:
		return core.FormatCSV
	case head[0] == '[':
		return core.FormatJSON
	case head[0] == '{':
		return core.FormatNDJSON
	}
	return core.FormatCSV
}

// Extension is the file name extension uploads of f are stored with.
func Extension(f core.UploadFormat) string {
	switch f {
	case core.FormatJSON:
		return ".json"
	case core.FormatNDJSON:
		return ".ndjson"
	}
	return ".csv"
}

// ContentType is the media type uploads of f are stored with.
func ContentType(f core.UploadFormat) string {
	switch f {
	case core.FormatJSON:
		return "application/json"
	case core.FormatNDJSON:
		return "application/x-ndjson"
	}
	return "text/csv"
}

var bom = []byte("\xef\xbb\xbf")
