package graphql

import (
	"bytes"
	"testing"
)

func TestJoinArrays(t *testing.T) {
	payload := []byte(`{"records":[{"v":1},{"v":2}]}`)
	shared := payload[11 : len(payload)-1]
	keep := bytes.Clone(payload)
	got, owned := joinArrays(shared, []byte(`[{"v":3}]`), false)
	if string(got) != `[{"v":1},{"v":2},{"v":3}]` || !owned {
		t.Fatalf("join = %s, %v", got, owned)
	}
	if !bytes.Equal(payload, keep) {
		t.Fatalf("the shared payload was written: %s", payload)
	}
	got, owned = joinArrays(got, []byte(`[{"v":4}, {"v":5}]`), owned)
	if string(got) != `[{"v":1},{"v":2},{"v":3},{"v":4}, {"v":5}]` || !owned {
		t.Fatalf("join owned = %s, %v", got, owned)
	}
	if got, owned := joinArrays([]byte(`[]`), shared, false); string(got) != string(shared) || owned {
		t.Fatalf("join to empty = %s, %v", got, owned)
	}
	if got, _ := joinArrays(shared, []byte(`[]`), false); string(got) != string(shared) {
		t.Fatalf("join empty = %s", got)
	}
}
