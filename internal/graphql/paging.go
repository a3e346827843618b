package graphql

import (
	"encoding/hex"
	"slices"
	"strings"
)

// Lists of a team's objects held in memory by the services (secrets,
// members, tokens, dashboards) page as connections like the pipelines:
// ordered by a key (a name, then an id), a cursor holding the key of its
// edge, so that a page after a deleted object's cursor starts where that
// object was.

// page is one page of a keyed list.
type page[T any] struct {
	items   []T
	cursors []string
	info    *PageInfo
	total   int
}

// pageOf sorts items by key and returns the page of at most first
// (1..1000, default 100) items after the cursor after, of kind.
func pageOf[T any](items []T, kind string, key func(T) string, first *int, after *string) (page[T], error) {
	n, err := pageSize(first, 100, 1000)
	if err != nil {
		return page[T]{}, err
	}
	cur, err := decodeCursor(after, kind, 1)
	if err != nil {
		return page[T]{}, err
	}
	slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if cur != nil {
		k, err := hex.DecodeString(cur[0])
		if err != nil {
			return page[T]{}, invalidArg("after", "is not a cursor of this list")
		}
		start, _ = slices.BinarySearchFunc(items, string(k), func(x T, k string) int { return strings.Compare(key(x), k) })
		if start < len(items) && key(items[start]) == string(k) {
			start++
		}
	}
	end := min(len(items), start+n)
	p := page[T]{items: items[start:end], info: pageInfo(end < len(items), after), total: len(items)}
	for _, x := range p.items {
		c := encodeCursor(kind, hex.EncodeToString([]byte(key(x))))
		p.cursors = append(p.cursors, c)
		p.info.edge(c)
	}
	return p, nil
}

// nameKey orders by name, then id.
func nameKey(name, id string) string { return name + "\x00" + id }
