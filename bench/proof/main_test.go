package main

import "testing"

func TestFuzzFigures(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"fuzz: elapsed: 15s, execs: 60726 (0/sec), new interesting: 31 (total: 57)",
			"elapsed 15s, 60726 executions (4048/sec), 31 new interesting inputs"},
		{"fuzz: elapsed: 1m0s, execs: 600000 (9000/sec), new interesting: 2 (total: 9)",
			"elapsed 1m0s, 600000 executions (10000/sec), 2 new interesting inputs"},
		{"fuzz: elapsed: 0s, execs: 0 (0/sec), new interesting: 0 (total: 4)",
			"elapsed 0s, 0 executions, 0 new interesting inputs"},
		{"something else", "something else"},
	} {
		if got := fuzzFigures(tc.line); got != tc.want {
			t.Errorf("fuzzFigures(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
