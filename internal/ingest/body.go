package ingest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxGzipRatio bounds how many times larger than the body as sent a gzip
// body may grow once decompressed, beyond GzipRatioFloor: a body that
// expands more is refused while it is read (a *TooLargeError with Ratio
// set), without decompressing the rest. JSON compresses about 5 to 20
// times; a decompression bomb about 1,000 times.
const MaxGzipRatio = 100

// GzipRatioFloor is how many decompressed bytes a gzip body may hold
// whatever its ratio, so that small, very regular payloads are not refused.
const GzipRatioFloor = 1 << 20

// openBody checks a webhook request's headers and returns a reader of its
// payload: the body read within limit bytes, with a gzip Content-Encoding
// undone within the same limit and within MaxGzipRatio. Nothing is
// buffered beyond the small windows of the readers: the payload is read as
// it is consumed. The reader fails with *TooLargeError, *BadEncodingError
// or an error wrapping ErrUnreadableBody, never with an error of its own.
// A Content-Length over the limit is refused before anything is read.
func openBody(header http.Header, body io.Reader, limit int64) (io.Reader, error) {
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
	raw := &limitedBody{r: body, limit: limit}
	if !gz {
		return raw, nil
	}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		// A body over the limit is refused as such, whatever its content.
		if rerr := raw.drain(); rerr != nil {
			return nil, rerr
		}
		return nil, &BadEncodingError{Encoding: "gzip"}
	}
	return &inflater{zr: zr, raw: raw, limit: limit}, nil
}

// readBody reads a whole payload (see openBody) into memory: the bytes
// exactly as the sender signed them. It holds at most limit+1 of them.
func readBody(header http.Header, body io.Reader, limit int64) ([]byte, error) {
	r, err := openBody(header, body, limit)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// limitedBody reads a request body, failing with *TooLargeError past limit
// bytes and with ErrUnreadableBody when the body breaks. Its first error
// sticks.
type limitedBody struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64
	err   error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if room := b.limit + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		b.err = &TooLargeError{Limit: b.limit}
		return 0, b.err
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		b.err = fmt.Errorf("%w: %w", ErrUnreadableBody, err)
		return n, b.err
	}
	return n, nil
}

// drain reads the rest of the body and returns its error, if any (EOF is
// none).
func (b *limitedBody) drain() error {
	_, err := io.Copy(io.Discard, b)
	return err
}

// inflater undoes gzip within the limit and the ratio. Its first error
// sticks.
type inflater struct {
	zr    *gzip.Reader
	raw   *limitedBody
	n     int64 // bytes decompressed
	limit int64
	err   error
}

func (z *inflater) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if room := z.limit + 1 - z.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := z.zr.Read(p)
	z.n += int64(n)
	switch {
	case z.n > z.limit:
		z.err = &TooLargeError{Limit: z.limit, Decompressed: true}
		return 0, z.err
	case z.n > GzipRatioFloor && z.n > MaxGzipRatio*z.raw.n:
		z.err = &TooLargeError{Limit: z.limit, Decompressed: true, Ratio: MaxGzipRatio}
		return 0, z.err
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		// The body's own failure (over its limit, broken) comes first; a
		// corrupt stream within a body over the limit is refused as too
		// large, as the body would have been had it been read first.
		if z.raw.err == nil {
			_ = z.raw.drain()
		}
		if z.raw.err != nil {
			z.err = z.raw.err
		} else {
			z.err = &BadEncodingError{Encoding: "gzip", Corrupt: true}
		}
		return n, z.err
	}
	return n, nil
}
