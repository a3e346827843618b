package source

import (
	"testing"
)

// FuzzDecodeCSV feeds arbitrary CSV bodies (a polled API answering CSV):
// decoding never panics, and every record has one string per column.
func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\n\"x\"\"y\"\n", "a,b\n1\n", "\"unterminated\n", "a,a\n1,2\n", "", "\ufeffa;b\n1;2\n", "a,b\r\n1,2\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := decodeCSV(body)
		if err != nil {
			return
		}
		for _, r := range recs {
			if _, ok := r.(map[string]any); !ok {
				t.Fatalf("a CSV record of type %T", r)
			}
		}
	})
}
