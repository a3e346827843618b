package mapping

import (
	"testing"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text    string
		want    []segment
		wantErr bool
	}{
		{text: "", want: nil},
		{text: "a", want: []segment{{key: "a"}}},
		{text: "data.items", want: []segment{{key: "data"}, {key: "items"}}},
		{text: "items.0.id", want: []segment{{key: "items"}, {key: "0", index: 0, isIndex: true}, {key: "id"}}},
		{text: "items.-1", want: []segment{{key: "items"}, {key: "-1", index: -1, isIndex: true}}},
		{text: `a\.b.c`, want: []segment{{key: "a.b"}, {key: "c"}}},
		{text: `a\\b`, want: []segment{{key: `a\b`}}},
		{text: "a..b", wantErr: true},
		{text: ".a", wantErr: true},
		{text: "a.", wantErr: true},
		{text: `a\`, wantErr: true},
		{text: `a\b`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tt.text)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePath(%q) = %v, want an error", tt.text, p.segs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.segs) != len(tt.want) {
				t.Fatalf("segments = %+v, want %+v", p.segs, tt.want)
			}
			for i := range tt.want {
				if p.segs[i] != tt.want[i] {
					t.Errorf("segment %d = %+v, want %+v", i, p.segs[i], tt.want[i])
				}
			}
		})
	}
}

func TestPathLookup(t *testing.T) {
	t.Parallel()
	doc := decodeFloat(t, `{"a":{"b":[{"id":1},{"id":2},{"id":3}],"n":null},"0":"zero","x.y":"dotted","s":"str"}`)
	tests := []struct {
		path  string
		want  any
		found bool
	}{
		{"", doc, true},
		{"a.b.0.id", 1.0, true},
		{"a.b.2.id", 3.0, true},
		{"a.b.-1.id", 3.0, true},
		{"a.b.-3.id", 1.0, true},
		{"a.b.3.id", nil, false},
		{"a.b.-4.id", nil, false},
		{"a.b.x", nil, false},
		{"a.n", nil, true},
		{"a.n.x", nil, false},
		{"a.missing", nil, false},
		{"0", "zero", true}, // an index segment is a key in an object
		{`x\.y`, "dotted", true},
		{"s.0", nil, false}, // no indexing into strings
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, found := p.Lookup(doc)
		if found != tt.found {
			t.Errorf("lookup(%q) found = %v, want %v", tt.path, found, tt.found)
		}
		if tt.path != "" && got != tt.want {
			t.Errorf("lookup(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
