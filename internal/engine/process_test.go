package engine_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/engine"
)

func TestProcess(t *testing.T) {
	t.Parallel()
	eng, err := engine.New(engine.Config{Compiler: compiler}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	type out struct {
		accepted []string // data
		ts       []time.Time
		rejected []string // "raw => reason prefix"
	}
	for _, tc := range []struct {
		name   string
		spec   string
		inputs []string
		want   out
	}{
		{
			name:   "passthrough object, array and time",
			spec:   `{"name":"p","kind":"webhook","source":{}}`,
			inputs: []string{`{"b":1,"a":{"z":[1,2.5,"x"],"y":null}}`, `[{"ts":"2026-01-01T00:00:00+02:00"},{"n":1234567890123456789}]`},
			want: out{
				accepted: []string{`{"a":{"y":null,"z":[1,2.5,"x"]},"b":1}`, `{"ts":"2026-01-01T00:00:00+02:00"}`, `{"n":1234567890123456789}`},
				ts:       []time.Time{arrival.UTC(), time.Date(2025, 12, 31, 22, 0, 0, 0, time.UTC), arrival.UTC()},
			},
		},
		{
			name:   "passthrough refuses what is not an object",
			spec:   `{"name":"p","kind":"webhook","source":{}}`,
			inputs: []string{`[1,"x",{"ok":true}]`, `"text"`, `null`},
			want: out{
				accepted: []string{`{"ok":true}`},
				rejected: []string{
					`1 => mapping: record: expected a JSON object`,
					`"x" => mapping: record: expected a JSON object`,
					`"text" => mapping: records not found`,
					`null => mapping: records not found`,
				},
			},
		},
		{
			name: "records path expands one input to many",
			spec: `{"name":"p","kind":"webhook","source":{},"mapping":{"records":"data.items","fields":{"id":{"type":"integer","required":true}}}}`,
			inputs: []string{
				`{"data":{"items":[{"id":1},{"id":"2"},{"id":"x"},{}]}}`,
				`{"data":{}}`,
			},
			want: out{
				accepted: []string{`{"id":1}`, `{"id":2}`},
				rejected: []string{
					`{"id":"x"} => mapping: field id: `,
					`{} => mapping: field id: required`,
					`{"data":{}} => mapping: records not found`,
				},
			},
		},
		{
			name:   "validation after mapping",
			spec:   `{"name":"p","kind":"webhook","source":{},"validation":{"schema":{"required":["x"],"properties":{"x":{"type":"string"}}}}}`,
			inputs: []string{`{"x":"a"}`, `{"x":1}`, `{"y":1}`},
			want: out{
				accepted: []string{`{"x":"a"}`},
				rejected: []string{`{"x":1} => validation: x: `, `{"y":1} => validation: `},
			},
		},
		{
			name:   "strings are encoded faithfully, HTML left alone",
			spec:   `{"name":"p","kind":"webhook","source":{}}`,
			inputs: []string{`{"s":"<a href=\"x\">&amp;</a>\n\t\u2028 é ☃ \ud83d\ude00 \u001f"}`},
			want:   out{accepted: []string{`{"s":"<a href=\"x\">&amp;</a>\n\t\u2028 é ☃ 😀 \u001f"}`}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := compiler.Parse([]byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			accepted, rejected := eng.Process(c, decode(t, tc.inputs...), arrival)
			if len(accepted) != len(tc.want.accepted) {
				t.Fatalf("accepted %d, want %d: %v", len(accepted), len(tc.want.accepted), accepted)
			}
			for i, m := range accepted {
				if string(m.Data) != tc.want.accepted[i] {
					t.Errorf("accepted %d = %s, want %s", i, m.Data, tc.want.accepted[i])
				}
				if !json.Valid(m.Data) {
					t.Errorf("accepted %d is not valid JSON", i)
				}
				if tc.want.ts != nil && !m.TS.Equal(tc.want.ts[i]) {
					t.Errorf("accepted %d at %v, want %v", i, m.TS, tc.want.ts[i])
				}
				if m.TS.Location() != time.UTC {
					t.Errorf("accepted %d time not in UTC", i)
				}
			}
			if len(rejected) != len(tc.want.rejected) {
				t.Fatalf("rejected %d, want %d: %+v", len(rejected), len(tc.want.rejected), rejected)
			}
			for i, r := range rejected {
				raw, reason, _ := strings.Cut(tc.want.rejected[i], " => ")
				if string(r.Raw) != raw || !strings.HasPrefix(r.Reason, reason) || !r.ReceivedAt.Equal(arrival) {
					t.Errorf("rejected %d = %s %q at %v, want %s %q...", i, r.Raw, r.Reason, r.ReceivedAt, raw, reason)
				}
			}
		})
	}
}
