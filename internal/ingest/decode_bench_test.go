package ingest

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/engine"
)

// benchBody is a webhook body of n records like the ingest benchmark's.
func benchBody(n int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := strconv.Itoa(i)
		b.WriteString(`{"id":` + id + `,"ts":"2026-12-07T03:28:58.903853393Z","station":{"id":"berlin-` + id +
			`"},"temp_k":280.5,"humidity":55.5,"pressure":1013.2,"wind":{"speed":3.4,"dir":` + id +
			`},"ok":true,"tags":["a","b"],"note":"  steady  "}`)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// BenchmarkDecodeBody decodes bodies read whole (100 records, about
// 20 KiB) and streamed (1,000 records): go test -run '^$' -bench DecodeBody ./internal/ingest
func BenchmarkDecodeBody(b *testing.B) {
	for _, n := range []int{100, 1000} {
		body := benchBody(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := decodeBody(context.Background(), bytes.NewReader(body), false, 10_000, engine.Unshared())
				if err != nil || len(out) != n {
					b.Fatalf("%d records, err %v", len(out), err)
				}
			}
		})
	}
}
