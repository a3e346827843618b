package upload

import (
	"bytes"
	"io"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
)

// FuzzReaders feeds arbitrary uploaded files to the CSV, JSON and NDJSON
// readers: reading never panics and ends with io.EOF or an error.
func FuzzReaders(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\n\"x\n", `[{"a":1},{"b":2}]`, "{\"a\":1}\n\n{\"b\":2}\n", `[1,`, "\xef\xbb\xbfa\n1\n", ""} {
		for _, format := range []core.UploadFormat{core.FormatCSV, core.FormatJSON, core.FormatNDJSON} {
			f.Add(string(format), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, format string, data []byte) {
		rd, err := NewReader(core.UploadFormat(format), bytes.NewReader(data))
		if err != nil {
			return
		}
		for range len(data) + 2 {
			if _, err := rd.Next(); err != nil {
				if err == io.EOF {
					return
				}
				return
			}
		}
		t.Fatalf("more records than bytes in %q", data)
	})
}
