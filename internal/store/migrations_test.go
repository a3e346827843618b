package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tributary-dev/tributary/internal/store"
)

func TestPlanMigrationsChecksums(t *testing.T) {
	t.Parallel()
	ms := []store.Migration{{Version: 1, Name: "one", SQL: "CREATE TABLE a (x int);"}, {Version: 2, SQL: "b"}}
	if _, err := store.PlanMigrations(map[int]string{1: ms[0].Checksum(), 2: ""}, ms); err != nil {
		t.Errorf("matching and unrecorded checksums: %v", err)
	}
	changed := store.Migration{Version: 1, SQL: "CREATE TABLE a (x bigint);"}
	if _, err := store.PlanMigrations(map[int]string{1: changed.Checksum()}, ms); !errors.Is(err, store.ErrMigrationChanged) {
		t.Errorf("changed migration: %v, want ErrMigrationChanged", err)
	}
}

func TestPlanMigrations(t *testing.T) {
	t.Parallel()
	ms := []store.Migration{{Version: 1, SQL: "a"}, {Version: 2, SQL: "b"}, {Version: 3, SQL: "c"}, {Version: 5, SQL: "e"}}
	versions := func(ms []store.Migration) []int {
		var out []int
		for _, m := range ms {
			out = append(out, m.Version)
		}
		return out
	}
	for _, tt := range []struct {
		applied []int
		want    []int
		newer   bool
	}{
		{applied: nil, want: []int{1, 2, 3, 5}},
		{applied: []int{1, 2, 3, 5}, want: nil},
		// A version added below the highest applied one is applied too.
		{applied: []int{1, 2, 5}, want: []int{3}},
		{applied: []int{5, 1}, want: []int{2, 3}},
		{applied: []int{1, 2, 3, 5, 6}, newer: true},
		{applied: []int{1, 4}, newer: true},
	} {
		applied := map[int]string{}
		for _, v := range tt.applied {
			applied[v] = ""
		}
		got, err := store.PlanMigrations(applied, ms)
		if tt.newer {
			if !errors.Is(err, store.ErrSchemaNewer) {
				t.Errorf("applied %v: err %v, want ErrSchemaNewer", tt.applied, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("applied %v: %v", tt.applied, err)
		}
		if g := versions(got); len(g) != len(tt.want) || len(g) > 0 && fmt.Sprint(g) != fmt.Sprint(tt.want) {
			t.Errorf("applied %v: pending %v, want %v", tt.applied, g, tt.want)
		}
	}
}
