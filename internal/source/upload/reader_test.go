package upload_test

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/source/upload"
)

// readAll returns the records of a file as JSON, or the error where it
// breaks, with a JSON error's line located.
func readAll(t *testing.T, f core.UploadFormat, doc string) ([]string, error) {
	t.Helper()
	rd, err := upload.NewReader(f, strings.NewReader(doc))
	if err != nil {
		return nil, locate(err, doc)
	}
	var out []string
	for {
		v, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, locate(err, doc)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	n, err := upload.Count(f, strings.NewReader(doc))
	if err != nil || n != int64(len(out)) || rd.Rows() != n {
		t.Fatalf("Count = %d, %v; Rows = %d; read %d records", n, err, rd.Rows(), len(out))
	}
	return out, nil
}

func locate(err error, doc string) error {
	var fe *upload.FormatError
	if errors.As(err, &fe) {
		if lerr := fe.Locate(strings.NewReader(doc)); lerr != nil {
			return lerr
		}
	}
	return err
}

func TestReadGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format core.UploadFormat
		doc    string
		want   []string
	}{
		{"csv", core.FormatCSV, "ts,temp,station\n2026-01-01T00:00:00Z,21.5,10384\n2026-01-01T00:01:00Z,-3,007\n",
			[]string{`{"station":10384,"temp":21.5,"ts":"2026-01-01T00:00:00Z"}`, `{"station":"007","temp":-3,"ts":"2026-01-01T00:01:00Z"}`}},
		{"csv with BOM, CRLF, quotes and empty cells", core.FormatCSV, "\xef\xbb\xbfa,b\r\n\"x, \"\"y\"\"\",\r\n,2e3\r\n",
			[]string{`{"a":"x, \"y\"","b":null}`, `{"a":null,"b":2e3}`}},
		{"csv with semicolons", core.FormatCSV, "a;b\n1;+2\n", []string{`{"a":1,"b":"+2"}`}},
		{"csv with tabs", core.FormatCSV, "a\tb\n1\t2\n", []string{`{"a":1,"b":2}`}},
		{"csv header only", core.FormatCSV, "a,b\n", nil},
		{"csv multi-line field", core.FormatCSV, "a,b\n\"line1\nline2\",2\n", []string{`{"a":"line1\nline2","b":2}`}},
		{"json array", core.FormatJSON, ` [ {"a":1}, {"a":2.50}, {"b":[1,2]} ] `, []string{`{"a":1}`, `{"a":2.50}`, `{"b":[1,2]}`}},
		{"json object", core.FormatJSON, `{"a":1}`, []string{`{"a":1}`}},
		{"json empty array", core.FormatJSON, `[]`, nil},
		{"json concatenated", core.FormatJSON, "{\"a\":1}\n{\"a\":2}", []string{`{"a":1}`, `{"a":2}`}},
		{"ndjson", core.FormatNDJSON, "{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":12345678901234567890}\n", []string{`{"a":1}`, `{"a":2}`, `{"a":12345678901234567890}`}},
		{"ndjson line with an array", core.FormatNDJSON, "[{\"a\":1},{\"a\":2}]\n{\"a\":3}", []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}},
		{"ndjson with BOM", core.FormatNDJSON, "\xef\xbb\xbf{\"a\":1}\n", []string{`{"a":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, tt.format, tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("records:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReadBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format core.UploadFormat
		doc    string
		want   string // the error message
		rows   int    // records read before the error
	}{
		{"csv empty", core.FormatCSV, "", "CSV: the file is empty; it needs a header row naming the fields", 0},
		{"csv bare quote", core.FormatCSV, "a,b,c\n1,2,3\n4,x\"y,6\n", `CSV row 3, column 4 (line 3): a quote (") inside a field that does not start with one; quote the whole field and double the quote ("")`, 1},
		{"csv unclosed quote", core.FormatCSV, "a,b\n1,\"open\n", "CSV row 2, column", 0},
		{"csv missing field", core.FormatCSV, "a,b,c\n1,2,3\n4,5\n", `CSV row 3 (line 3): has 2 fields but the header has 3: column 3 ("c") and after are missing`, 1},
		{"csv extra field", core.FormatCSV, "a,b\n1,2,3\n", "CSV row 2 (line 2): has 3 fields but the header has 2: column 3 is extra", 0},
		{"csv empty header", core.FormatCSV, "a,,c\n1,2,3\n", "CSV row 1, column 3 (line 1): header field 2 is empty; every column needs a name", 0},
		{"csv duplicate header", core.FormatCSV, "a,b,a\n", `CSV row 1, column 5 (line 1): header field 3, "a", repeats field 1; column names must be unique`, 0},
		{"json syntax", core.FormatJSON, "[\n  {\"a\":1},\n  {\"a\":2,}\n]", "JSON line 3, column 10 (byte offset 22): invalid character '}' looking for beginning of object key string", 1},
		{"json truncated", core.FormatJSON, "[{\"a\":1},{\"a\":", "JSON line 1, column 15 (byte offset 14): the file ends in the middle of a value", 1},
		{"json stray bracket", core.FormatJSON, "{\"a\":1}]", "JSON line 1, column 8 (byte offset 7): invalid character ']' looking for beginning of value", 1},
		{"ndjson broken line", core.FormatNDJSON, "{\"a\":1}\n{\"a\":2}\n{\"a\" 3}\n{\"a\":4}\n", "NDJSON line 3, column 6 (byte offset 21): invalid character '3' after object key", 2},
		{"not json", core.FormatJSON, "ts,temp\n1,2\n", "JSON line 1, column 2 (byte offset 1): invalid character 's' in literal true (expecting 'r')", 0},
		{"json missing comma", core.FormatJSON, "[\n{\"a\":1}\n{\"a\":2}]", "JSON line 3, column 1 (byte offset 10): expected comma after array element", 1},
		{"json bad second value", core.FormatJSON, "[{\"a\":1},\n  {\"a\":tru}]", "JSON line 2, column 11 (byte offset 20): invalid character '}' in literal true (expecting 'e')", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, tt.format, tt.doc)
			var fe *upload.FormatError
			if !errors.As(err, &fe) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("err = %v (%T), want a *FormatError", err, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err =\n %s\nwant\n %s", err, tt.want)
			}
			if len(got) != tt.rows {
				t.Fatalf("read %d records before the error, want %d", len(got), tt.rows)
			}
			if _, cerr := upload.Count(tt.format, strings.NewReader(tt.doc)); cerr == nil {
				t.Fatal("Count accepts a broken file")
			}
		})
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	rd, err := upload.NewReader(core.FormatNDJSON, strings.NewReader("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Skip(2); err != nil {
		t.Fatal(err)
	}
	v, err := rd.Next()
	if err != nil || v.(map[string]any)["a"] != json.Number("3") {
		t.Fatalf("after Skip(2): %v, %v", v, err)
	}
	if err := rd.Skip(1); err == nil {
		t.Fatal("Skip past the end succeeded")
	}
}

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		explicit, ctype, filename, head string
		want                            core.UploadFormat
	}{
		{"ndjson", "application/json", "x.csv", "[", core.FormatNDJSON},
		{"JSONL", "", "", "", core.FormatNDJSON},
		{"", "text/csv; charset=utf-8", "x.json", "[", core.FormatCSV},
		{"", "application/x-ndjson", "", "", core.FormatNDJSON},
		{"", "application/json", "", "", core.FormatJSON},
		{"", "application/octet-stream", "data.jsonl", "", core.FormatNDJSON},
		{"", "", "Data.CSV", "{", core.FormatCSV},
		{"", "", "data.json", "", core.FormatJSON},
		{"", "application/x-www-form-urlencoded", "", "  \n [{", core.FormatJSON},
		{"", "", "", "\xef\xbb\xbf{\"a\":1}", core.FormatNDJSON},
		{"", "text/plain", "data.txt", "ts,temp", core.FormatCSV},
	}
	for _, tt := range tests {
		got, err := upload.Detect(tt.explicit, tt.ctype, tt.filename, []byte(tt.head))
		if err != nil || got != tt.want {
			t.Errorf("Detect(%q, %q, %q, %q) = %q, %v; want %q", tt.explicit, tt.ctype, tt.filename, tt.head, got, err, tt.want)
		}
	}
	if _, err := upload.Detect("xml", "", "", nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Detect of format xml: err = %v, want ErrInvalid", err)
	}
}

// TestRecordTooLong: a file of one endless record fails instead of
// filling memory.
func TestRecordTooLong(t *testing.T) {
	t.Parallel()
	endless := func(prefix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), io.LimitReader(zeros{}, upload.MaxRecordBytes+1<<20))
	}
	for _, tt := range []struct {
		format core.UploadFormat
		prefix string
		want   string
	}{
		{core.FormatCSV, "a,b\n1,\"", "CSV row 2: a record is longer than 16 MiB"},
		{core.FormatCSV, "a,b", "CSV row 1: a record is longer than 16 MiB"},
		{core.FormatNDJSON, "{\"a\":1}\n{\"a\":\"", "NDJSON byte offset 8: a record is longer than 16 MiB"},
	} {
		_, err := upload.Count(tt.format, endless(tt.prefix))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s %q…: err = %v, want %q", tt.format, tt.prefix, err, tt.want)
		}
	}
}

// zeros reads the character 0 forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}
