package main

import (
	"encoding/json"
	"testing"
	"time"
)

// Every record of a body is stamped with the time of sending, and the body
// stays valid JSON, for one record and for many.
func TestStampedBody(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 4, 5, 600, time.UTC)
	for _, n := range []int{1, 100} {
		s := newStampedBody(n)
		if len(s.at) != n {
			t.Fatalf("%d records: %d timestamps found", n, len(s.at))
		}
		buf := s.stamped(nil, now)
		var recs []map[string]any
		if n == 1 {
			var one map[string]any
			if err := json.Unmarshal(buf, &one); err != nil {
				t.Fatalf("%s: %v", buf, err)
			}
			recs = append(recs, one)
		} else if err := json.Unmarshal(buf, &recs); err != nil {
			t.Fatalf("%s: %v", buf, err)
		}
		for i, r := range recs {
			ts, err := time.Parse(time.RFC3339, r["ts"].(string))
			if err != nil || !ts.Equal(now) {
				t.Fatalf("%d records: record %d has ts %v (%v), want %v", n, i, r["ts"], err, now)
			}
		}
		// The buffer is reused: a later time replaces the earlier one.
		later := now.Add(time.Hour)
		if buf = s.stamped(buf, later); string(buf) != string(s.stamped(nil, later)) {
			t.Fatalf("%d records: a reused buffer differs from a new one", n)
		}
	}
}
