package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// readBody reads a webhook body of at most limit bytes and undoes a gzip
// Content-Encoding, whose output is held to the same limit (a
// decompression bomb stops there). The result is the payload exactly as
// the sender signed it. A Content-Length over the limit is refused before
// anything is read.
func readBody(header http.Header, body io.Reader, limit int64) ([]byte, error) {
	if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil && n > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, &UnsupportedEncodingError{Encoding: enc}
	}
	raw, err := readLimited(body, limit)
	if errors.Is(err, errOverLimit) {
		return nil, &TooLargeError{Limit: limit}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadableBody, err)
	}
	if !gz {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, &BadEncodingError{Encoding: "gzip"}
	}
	out, err := readLimited(zr, limit)
	if errors.Is(err, errOverLimit) {
		return nil, &TooLargeError{Limit: limit, Decompressed: true}
	}
	if err != nil {
		return nil, &BadEncodingError{Encoding: "gzip", Corrupt: true}
	}
	return out, nil
}

var errOverLimit = errors.New("over the limit")

// readLimited reads r to the end, or fails with errOverLimit past limit
// bytes, without ever holding more than limit+1 of them.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errOverLimit
	}
	return buf.Bytes(), nil
}
