package engine

import (
	"bytes"
	"testing"
)

func TestChunks(t *testing.T) {
	c := chunks[byte]{max: 64}
	// One record to come: a chunk of its exact size.
	a := c.copy([]byte("abc"), 1)
	if string(a) != "abc" || cap(a) != 3 || cap(c.buf) != 3 {
		t.Fatalf("copy = %q (cap %d), chunk cap %d; want abc in a chunk of 3", a, cap(a), cap(c.buf))
	}
	// Four to come: room for them, at most max.
	b := c.copy([]byte("0123456789"), 4)
	if cap(c.buf) != 40 {
		t.Fatalf("chunk cap %d, want 40 (10 bytes times 4 records)", cap(c.buf))
	}
	d := c.copy([]byte("xyz"), 3)
	if string(b) != "0123456789" || string(d) != "xyz" || cap(b) != len(b) {
		t.Fatalf("copies = %q, %q (cap %d)", b, d, cap(b))
	}
	// Appending to a copy does not write over the next one.
	_ = append(b, "!!!"...)
	if string(d) != "xyz" {
		t.Fatalf("appending to one copy changed the next to %q", d)
	}
	if e := c.copy(bytes.Repeat([]byte("y"), 100), 5); len(e) != 100 || cap(c.buf) != 100 {
		t.Fatalf("a copy bigger than max: len %d, chunk cap %d; want 100 in a chunk of its size", len(e), cap(c.buf))
	}

	n := chunks[int]{max: 100}
	r := n.room(4, 10)
	if len(r) != 0 || cap(r) != 4 || cap(n.buf) != 40 {
		t.Fatalf("room = len %d cap %d, chunk cap %d", len(r), cap(r), cap(n.buf))
	}
	k := n.keep(append(r, 1, 2))
	next := n.keep(append(n.room(3, 9), 3))
	if len(k) != 2 || cap(k) != 2 || k[0] != 1 || k[1] != 2 || len(next) != 1 || next[0] != 3 || len(n.buf) != 3 {
		t.Fatalf("keep = %v (cap %d), then %v; chunk holds %v", k, cap(k), next, n.buf)
	}
}
