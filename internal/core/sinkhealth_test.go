package core_test

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
)

func TestSinkHealth(t *testing.T) {
	t.Parallel()
	const boom = "boom"
	failing := core.FailingReason(boom)
	type step struct {
		delivered    bool   // else failed with boom
		set          string // else a delivery outcome; "active", "disabled"...
		failingAfter int
	}
	tests := []struct {
		name  string
		start core.SinkHealth
		steps []step
		want  core.SinkHealth
	}{
		{"new sink delivered", core.NewSinkHealth(), []step{{delivered: true}}, core.SinkHealth{Status: core.SinkActive}},
		{"one failure under the threshold", core.NewSinkHealth(), []step{{failingAfter: 3}},
			core.SinkHealth{Status: core.SinkActive, ConsecutiveFailures: 1}},
		{"threshold of one fails at once", core.NewSinkHealth(), []step{{failingAfter: 1}},
			core.SinkHealth{Status: core.SinkFailing, Reason: failing, ConsecutiveFailures: 1}},
		{"threshold reached", core.NewSinkHealth(), []step{{failingAfter: 3}, {failingAfter: 3}, {failingAfter: 3}},
			core.SinkHealth{Status: core.SinkFailing, Reason: failing, ConsecutiveFailures: 3}},
		{"zero never fails", core.SinkHealth{Status: core.SinkActive, ConsecutiveFailures: 99}, []step{{failingAfter: 0}},
			core.SinkHealth{Status: core.SinkActive, ConsecutiveFailures: 100}},
		{"failing keeps failing under a raised threshold", core.SinkHealth{Status: core.SinkFailing, Reason: "old", ConsecutiveFailures: 1},
			[]step{{failingAfter: 5}}, core.SinkHealth{Status: core.SinkFailing, Reason: "old", ConsecutiveFailures: 2}},
		{"failing reason follows the last error", core.SinkHealth{Status: core.SinkFailing, Reason: "old", ConsecutiveFailures: 4},
			[]step{{failingAfter: 3}}, core.SinkHealth{Status: core.SinkFailing, Reason: failing, ConsecutiveFailures: 5}},
		{"success heals a failing sink", core.SinkHealth{Status: core.SinkFailing, Reason: failing, ConsecutiveFailures: 4},
			[]step{{delivered: true}}, core.SinkHealth{Status: core.SinkActive}},
		{"disabled stays disabled on failure", core.SinkHealth{Status: core.SinkDisabled, Reason: "gone"},
			[]step{{failingAfter: 1}, {failingAfter: 1}}, core.SinkHealth{Status: core.SinkDisabled, Reason: "gone", ConsecutiveFailures: 2}},
		{"disabled stays disabled on success", core.SinkHealth{Status: core.SinkDisabled, Reason: "gone", ConsecutiveFailures: 2},
			[]step{{delivered: true}}, core.SinkHealth{Status: core.SinkDisabled, Reason: "gone"}},
		{"disabling keeps the run", core.SinkHealth{Status: core.SinkFailing, Reason: failing, ConsecutiveFailures: 4},
			[]step{{set: "disabled"}}, core.SinkHealth{Status: core.SinkDisabled, Reason: "disabled", ConsecutiveFailures: 4}},
		{"enabling clears the run", core.SinkHealth{Status: core.SinkDisabled, Reason: "gone", ConsecutiveFailures: 4},
			[]step{{set: "active"}}, core.SinkHealth{Status: core.SinkActive, Reason: "active"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.start
			for _, s := range tt.steps {
				switch {
				case s.set != "":
					h = h.Set(core.SinkStatus(s.set), s.set)
				case s.delivered:
					h = h.Delivered()
				default:
					h = h.Failed(boom, s.failingAfter)
				}
			}
			if h != tt.want {
				t.Errorf("got %+v, want %+v", h, tt.want)
			}
		})
	}
}
