package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unread fails the test if it is read: a body refused by its
// Content-Length must not be.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

// failing is a body whose connection breaks.
type failing struct{}

var errBroken = errors.New("connection reset")

func (failing) Read([]byte) (int, error) { return 0, errBroken }

func TestReadBody(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"a": "` + strings.Repeat("x", 100) + `"}`)
	for _, tc := range []struct {
		name   string
		header []string
		body   []byte
	}{
		{"plain", nil, payload},
		{"identity", []string{"Content-Encoding", "identity"}, payload},
		{"gzip", []string{"Content-Encoding", "gzip"}, gzipped(t, payload)},
		{"x-gzip, spaced and upper case", []string{"Content-Encoding", " X-GZIP "}, gzipped(t, payload)},
		{"exactly the limit", []string{"Content-Length", strconv.Itoa(len(payload))}, payload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(header(tc.header...), bytes.NewReader(tc.body), int64(len(payload)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("read %q", got)
			}
		})
	}
}

func TestReadBodyRefuses(t *testing.T) {
	t.Parallel()
	const limit = 1024
	big := bytes.Repeat([]byte("x"), limit+1)
	bomb := gzipped(t, bytes.Repeat([]byte(" "), 512<<10)) // 512 KiB in about 500 bytes
	if len(bomb) > limit {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	valid := gzipped(t, []byte(`{"a": 1}`))
	for _, tc := range []struct {
		name   string
		header []string
		body   io.Reader
		check  func(t *testing.T, err error)
	}{
		{"declared too large", []string{"Content-Length", "1025"}, unread{t}, tooLarge(false)},
		{"too large", nil, bytes.NewReader(big), tooLarge(false)},
		{"gzip too large as sent", []string{"Content-Encoding", "gzip"}, bytes.NewReader(big), tooLarge(false)},
		{"gzip bomb", []string{"Content-Encoding", "gzip"}, bytes.NewReader(bomb), tooLarge(true)},
		{"unsupported encoding", []string{"Content-Encoding", " BR"}, unread{t}, func(t *testing.T, err error) {
			var e *UnsupportedEncodingError
			if !errors.As(err, &e) || e.Encoding != "br" {
				t.Fatalf("err = %v, want an UnsupportedEncodingError of br", err)
			}
		}},
		{"not gzip", []string{"Content-Encoding", "gzip"}, strings.NewReader("not gzip at all"), badEncoding(false)},
		{"truncated gzip", []string{"Content-Encoding", "gzip"}, bytes.NewReader(valid[:len(valid)-6]), badEncoding(true)},
		{"broken connection", nil, failing{}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrUnreadableBody) || !errors.Is(err, errBroken) {
				t.Fatalf("err = %v, want ErrUnreadableBody wrapping the reader's error", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(header(tc.header...), tc.body, limit)
			if got != nil {
				t.Errorf("read %d bytes of a refused body", len(got))
			}
			tc.check(t, err)
		})
	}
}

func TestReadBodyRatio(t *testing.T) {
	t.Parallel()
	const limit = 100 << 20
	// Regular text within the floor passes whatever its ratio.
	floor := bytes.Repeat([]byte(" "), GzipRatioFloor)
	if got, err := readBody(header("Content-Encoding", "gzip"), bytes.NewReader(gzipped(t, floor)), limit); err != nil || len(got) != len(floor) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	// Beyond it, a ratio over MaxGzipRatio is refused while reading.
	bomb := gzipped(t, bytes.Repeat([]byte(" "), 8<<20))
	body := &countingReader{r: bytes.NewReader(bomb)}
	got, err := readBody(header("Content-Encoding", "gzip"), body, limit)
	var e *TooLargeError
	if !errors.As(err, &e) || !e.Decompressed || e.Ratio != MaxGzipRatio || got != nil {
		t.Fatalf("read %d bytes, err %v; want a TooLargeError for the ratio", len(got), err)
	}
	if body.n >= int64(len(bomb)) {
		t.Fatalf("read all %d bytes of the bomb", body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func tooLarge(decompressed bool) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *TooLargeError
		if !errors.As(err, &e) || e.Limit != 1024 || e.Decompressed != decompressed {
			t.Fatalf("err = %v, want a TooLargeError of 1024 bytes, decompressed %v", err, decompressed)
		}
	}
}

func badEncoding(corrupt bool) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *BadEncodingError
		if !errors.As(err, &e) || e.Encoding != "gzip" || e.Corrupt != corrupt {
			t.Fatalf("err = %v, want a BadEncodingError of gzip, corrupt %v", err, corrupt)
		}
	}
}

// header builds a header of name, value pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
