package alert_test

import (
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/alert"
)

// TestStep walks the state machine with an explicit clock.
func TestStep(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at      time.Duration
		holds   bool
		want    alert.State
		changed bool
		notify  bool
	}
	for _, tc := range []struct {
		name            string
		pending, repeat time.Duration
		steps           []step
	}{
		{"pending then firing then resolved then ok", time.Minute, 0, []step{
			{0, true, alert.StatePending, true, false},
			{30 * time.Second, true, alert.StatePending, false, false},
			{time.Minute, true, alert.StateFiring, true, true},
			{2 * time.Minute, true, alert.StateFiring, false, false},
			{3 * time.Minute, false, alert.StateResolved, true, true},
			{4 * time.Minute, false, alert.StateOK, true, false},
		}},
		{"pending that ends goes back to ok silently", time.Minute, 0, []step{
			{0, true, alert.StatePending, true, false},
			{30 * time.Second, false, alert.StateOK, true, false},
		}},
		{"no pending period fires at once", 0, 0, []step{
			{0, true, alert.StateFiring, true, true},
		}},
		{"repeats while firing", 0, 10 * time.Minute, []step{
			{0, true, alert.StateFiring, true, true},
			{5 * time.Minute, true, alert.StateFiring, false, false},
			{10 * time.Minute, true, alert.StateFiring, false, true},
			{15 * time.Minute, true, alert.StateFiring, false, false},
			{20 * time.Minute, true, alert.StateFiring, false, true},
		}},
		{"resolved that comes back is pending again", time.Minute, 0, []step{
			{0, true, alert.StatePending, true, false},
			{time.Minute, true, alert.StateFiring, true, true},
			{2 * time.Minute, false, alert.StateResolved, true, true},
			{3 * time.Minute, true, alert.StatePending, true, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cur alert.Current
			for i, s := range tc.steps {
				out := alert.Step(cur, s.holds, at(s.at), tc.pending, tc.repeat)
				if out.Next.State != s.want || out.Changed != s.changed || out.Notify != s.notify {
					t.Fatalf("step %d: got %s changed=%v notify=%v, want %s changed=%v notify=%v",
						i, out.Next.State, out.Changed, out.Notify, s.want, s.changed, s.notify)
				}
				cur = out.Next
			}
		})
	}
}

func TestParseChannelRefusesUnknownAndMixedKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ doc, path string }{
		{`{"name": "x", "webhook": {"url": "https://a.example", "secret": "s"}}`, "webhook.secret"},
		{`{"name": "x", "inapp": {}, "email": {"to": ["a@example.com"]}}`, "inapp"},
		{`{"name": "x", "email": {"to": ["not an address"]}}`, "email.to[0]"},
		{`{"name": "x", "slack": {}}`, "slack.url_secret"},
		{`{"name": "X Y", "inapp": {}}`, "name"},
	} {
		_, err := alert.ParseChannel([]byte(tc.doc))
		se, ok := err.(*alert.SpecError)
		if !ok {
			t.Fatalf("%s: err = %v", tc.doc, err)
		}
		found := false
		for _, p := range se.Problems {
			found = found || p.Path == tc.path
		}
		if !found {
			t.Errorf("%s: problems %v, want one at %s", tc.doc, se.Problems, tc.path)
		}
	}
}
