package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// proofInt reads a whole-number setting of the long runs of `make proof`
// from the environment, def when it is unset.
func proofInt(t *testing.T, env string, def int) int {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number above 0", env, v)
	}
	return n
}

// proofRow is one row of docs/proof.md: bench/proof collects the rows that
// tests log with proofReport.
type proofRow struct {
	Promise string         `json:"promise"`
	Backend string         `json:"backend,omitempty"`
	Runs    int            `json:"runs"`
	Failed  bool           `json:"failed"`
	Figures map[string]any `json:"figures"`
}

// proofReport logs row in the form bench/proof reads ("PROOF {json}"),
// naming the backend after the subtest.
func proofReport(t *testing.T, row proofRow) {
	t.Helper()
	if row.Backend == "" {
		if _, sub, ok := strings.Cut(t.Name(), "/"); ok {
			row.Backend = sub
		}
	}
	b, _ := json.Marshal(row)
	t.Logf("PROOF %s", b)
}

// procPeakRSS returns the peak resident set (VmHWM) of a running process
// in bytes, 0 when it cannot be read.
func procPeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
