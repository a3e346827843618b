package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/tributary-dev/tributary/internal/engine"
)

// FuzzDecodeBody feeds webhook bodies — JSON, NDJSON, gzip or not —
// through openBody and decodeBody as the handler does: they never panic,
// and a success never holds more records than allowed.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{},{},{}]`, "{\"a\":1}\n{\"b\":2}\n", `[1e999999]`, `{"s":"\u0000\ud800"}`,
		`[[[[[[[[[[]]]]]]]]]]`, "", " ", `[`, `{"a":}`, "\x1f\x8b\x08\x00",
		` [1 2]`, `[1,]`, `[,1]`, `[{"a":1]`, `["a\"b\\",{"x":[1,{"y":"]"}]}] `, `[1]x`, `[true , null,"s" ]`, `[{}`, `[1e5,-0.5,tru]`} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson, gz bool) {
		h := http.Header{}
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = buf.Bytes()
			h.Set("Content-Encoding", "gzip")
		}
		const maxRecords = 50
		r, err := openBody(h, bytes.NewReader(body), 1<<20)
		if err != nil {
			return
		}
		out, err := decodeBody(context.Background(), r, ndjson, maxRecords, engine.Unshared())
		if err == nil && len(out) > maxRecords {
			t.Fatalf("%d records decoded, limit %d", len(out), maxRecords)
		}
		if gz {
			return
		}
		// A body read whole first (decodeBody's parseWhole) decodes
		// as the streaming decoder does, to the error message.
		streamed, serr := decodeFrom(&trap{r: bytes.NewReader(body)}, engine.Unshared(), ndjson, maxRecords)
		if fmt.Sprint(err) != fmt.Sprint(serr) || !reflect.DeepEqual(out, streamed) {
			t.Fatalf("decodeBody = %v, %v; streaming = %v, %v", out, err, streamed, serr)
		}
		// A streamed array, cut into elements that jsonvalue decodes,
		// decodes as json.Decoder alone does, to the error message.
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); !ndjson && len(trimmed) > 0 && trimmed[0] == '[' {
			ref, rerr := decodeArrayByDecoder(body, maxRecords)
			if fmt.Sprint(serr) != fmt.Sprint(rerr) || !reflect.DeepEqual(streamed, ref) {
				t.Fatalf("streamed array = %v, %v; json.Decoder = %v, %v", streamed, serr, ref, rerr)
			}
		}
	})
}

// decodeArrayByDecoder decodes a body holding a JSON array with
// json.Decoder alone, as decodeFrom did before it cut arrays into
// elements: resumeArray from the array's start.
func decodeArrayByDecoder(body []byte, maxRecords int) ([]any, error) {
	lead := len(body) - len(bytes.TrimLeft(body, " \t\r\n"))
	t := &trap{r: bytes.NewReader(body)}
	br := bufio.NewReader(t)
	_, _ = br.Discard(lead + 1)
	return resumeArray(nil, nil, br, engine.Unshared(), t, int64(lead), 1, []any{}, maxRecords)
}
