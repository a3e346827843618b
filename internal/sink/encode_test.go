package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/netguard"
)

// destDeps returns Deps for the destination kinds' tests: the SSRF guard
// with loopback opened when allowLoopback is set (as an operator would
// with TRIBUTARY_ALLOW_NETWORKS), and team secrets from a map.
func destDeps(t *testing.T, allowLoopback bool, secrets map[string]string) Deps {
	t.Helper()
	cfg := netguard.Config{DialTimeout: 5 * time.Second, Timeout: 30 * time.Second}
	if allowLoopback {
		cfg.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	g := netguard.New(cfg)
	t.Cleanup(g.CloseIdleConnections)
	return Deps{
		HTTPClient: g.Client(),
		Dial:       g.DialContext,
		CheckURL:   g.CheckURL,
		Secret: func(_ context.Context, _ uuid.UUID, name string) ([]byte, error) {
			v, ok := secrets[name]
			if !ok {
				return nil, fmt.Errorf("secret %q: %w", name, core.ErrNotFound)
			}
			return []byte(v), nil
		},
	}
}

// destBatch is a batch of n weather records; the record of index i has
// station "s<i%3>", temperature i+0.5 and count i.
func destBatch(deliveryID string, n int) Batch {
	b := Batch{
		TeamID:     uuid.MustParse("00000000-0000-0000-0000-0000000000aa"),
		PipelineID: uuid.MustParse("00000000-0000-0000-0000-0000000000bb"),
		Pipeline:   "weather",
		Sink:       "archive",
		DeliveryID: deliveryID,
		Fields: []Field{
			{Name: "station", Type: "string"},
			{Name: "temp", Type: "number"},
			{Name: "count", Type: "integer"},
			{Name: "tags", Type: "object"},
		},
	}
	base := time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)
	for i := range n {
		b.Records = append(b.Records, core.Record{
			ID:   int64(i + 1),
			TS:   base.Add(time.Duration(i) * time.Second),
			Data: json.RawMessage(fmt.Sprintf(`{"station":"s%d","temp":%d.5,"count":%d,"tags":{"i":%d}}`, i%3, i, i, i)),
		})
	}
	return b
}

func TestAppendJSONLine(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.FixedZone("x", 3600))
	for _, tc := range []struct{ data, want string }{
		{`{"a":1}`, `{"ts":"2026-01-02T02:04:05.6Z","a":1}`},
		{`{}`, `{"ts":"2026-01-02T02:04:05.6Z"}`},
		{` { } `, `{"ts":"2026-01-02T02:04:05.6Z" }`},
		{`{"ts":"own","a":1}`, `{"ts":"own","a":1}`},
	} {
		got, err := appendJSONLine(nil, core.Record{TS: ts, Data: json.RawMessage(tc.data)})
		if err != nil {
			t.Fatalf("%s: %v", tc.data, err)
		}
		if string(got) != tc.want+"\n" {
			t.Errorf("%s: got %s, want %s", tc.data, got, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: %s is not JSON", tc.data, got)
		}
	}
	for _, bad := range []string{`[1]`, `null`, `"x"`, `{`} {
		if _, err := appendJSONLine(nil, core.Record{Data: json.RawMessage(bad)}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestTypedValue(t *testing.T) {
	t.Parallel()
	tm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		typ, raw string
		want     any
		bad      bool
	}{
		{"number", `1.5`, 1.5, false},
		{"number", `"2.5"`, 2.5, false},
		{"number", `true`, nil, true},
		{"integer", `3`, int64(3), false},
		{"integer", `3.0`, int64(3), false},
		{"integer", `1e3`, int64(1000), false},
		{"integer", `3.5`, nil, true},
		{"integer", `"7"`, int64(7), false},
		{"boolean", `true`, true, false},
		{"boolean", `"false"`, false, false},
		{"boolean", `1.5`, nil, true},
		{"time", `"2026-01-02T03:04:05Z"`, tm, false},
		{"time", `12`, nil, true},
		{"string", `"x"`, "x", false},
		{"string", `12`, "12", false},
		{"", `{"a":1}`, `{"a":1}`, false},
		{"object", `{"a":1}`, json.RawMessage(`{"a":1}`), false},
		{"number", `null`, nil, false},
		{"number", ``, nil, false},
	} {
		got, err := typedValue("f", tc.typ, json.RawMessage(tc.raw))
		if (err != nil) != tc.bad {
			t.Errorf("%s %s: err = %v, want error %v", tc.typ, tc.raw, err, tc.bad)
			continue
		}
		if tc.bad {
			if !strings.Contains(err.Error(), `field "f"`) {
				t.Errorf("%s %s: error %q does not name the field", tc.typ, tc.raw, err)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %s = %#v, want %#v", tc.typ, tc.raw, got, tc.want)
		}
	}
}

func TestFileColumns(t *testing.T) {
	t.Parallel()
	cols := fileColumns([]Field{{Name: "b"}, {Name: "ts", Type: "time"}, {Name: "a", Type: "number"}, {Name: "b"}})
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "ts,b,a" {
		t.Fatalf("columns = %s, want ts,b,a", got)
	}
}

func TestCSVEncoder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := newRecordEncoder(formatCSV, &buf, []Field{{Name: "name", Type: "string"}, {Name: "n", Type: "number"}, {Name: "obj"}})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []string{`{"name":"a,b","n":1.5,"obj":{"x":[1,2]}}`, `{"name":null}`} {
		if err := enc.Encode(core.Record{TS: ts, Data: json.RawMessage(d)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	want := "ts,name,n,obj\n" +
		`2026-01-02T03:04:05Z,"a,b",1.5,"{""x"":[1,2]}"` + "\n" +
		"2026-01-02T03:04:05Z,,,\n"
	if buf.String() != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// readParquetRows returns the rows of a Parquet file as maps, and its schema.
func readParquetRows(t *testing.T, data []byte) ([]map[string]any, *parquet.Schema) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	r := parquet.NewReader(f)
	defer r.Close()
	var rows []map[string]any
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			break
		}
		rows = append(rows, m)
	}
	return rows, f.Schema()
}

func TestParquetEncoder(t *testing.T) {
	t.Parallel()
	b := destBatch("d1", 5)
	b.Fields = append(b.Fields, Field{Name: "extra"}, Field{Name: "ok", Type: "boolean"}, Field{Name: "at", Type: "time"})
	b.Records[1].Data = json.RawMessage(`{"station":"x","temp":null,"extra":[1,"a"],"ok":true,"at":"2026-05-01T00:00:00Z"}`)
	var buf bytes.Buffer
	enc := newRecordEncoder(formatParquet, &buf, b.Fields)
	for _, r := range b.Records {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	rows, schema := readParquetRows(t, buf.Bytes())
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	for _, want := range []string{"ts", "station", "temp", "count", "tags", "extra", "ok", "at"} {
		if _, ok := schema.Lookup(want); !ok {
			t.Errorf("schema has no column %q: %v", want, schema)
		}
	}
	r0, r1 := rows[0], rows[1]
	if r0["station"] != "s0" || r0["temp"] != 0.5 || r0["count"] != int64(0) || r0["tags"] == nil {
		t.Errorf("row 0 = %v", r0)
	}
	if r1["station"] != "x" || r1["temp"] != nil || r1["count"] != nil || r1["extra"] != `[1,"a"]` || r1["ok"] != true {
		t.Errorf("row 1 = %v", r1)
	}
	if r0["ts"] != b.Records[0].TS.UnixMicro() {
		t.Errorf("row 0 ts = %#v, want %v in µs", r0["ts"], b.Records[0].TS)
	}
	for col, want := range map[string]string{
		"ts":    "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"at":    "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"tags":  "JSON",
		"extra": "STRING",
		"count": "INT(64,true)",
	} {
		leaf, _ := schema.Lookup(col)
		if got := leaf.Node.Type().LogicalType().String(); got != want {
			t.Errorf("column %s has logical type %s, want %s", col, got, want)
		}
	}

	// A value that does not fit its declared type is refused up front.
	bad := core.Record{TS: time.Now(), Data: json.RawMessage(`{"count":"many"}`)}
	if err := checkRecord(formatParquet, b.Fields, bad); err == nil || !strings.Contains(err.Error(), `"count"`) {
		t.Errorf("checkRecord of a bad integer: %v", err)
	}
	if err := checkRecord(formatNDJSON, b.Fields, bad); err != nil {
		t.Errorf("ndjson takes any object: %v", err)
	}
}
