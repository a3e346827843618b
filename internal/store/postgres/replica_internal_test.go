package postgres

import (
	"testing"
	"time"
)

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/16B3748": 0x16B3748, "1/0": 1 << 32, "FFFFFFFF/FFFFFFFF": 1<<64 - 1} {
		if got, err := parseLSN(in); err != nil || got != want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0/", "/1", "G/0", "1/100000000"} {
		if _, err := parseLSN(in); err == nil {
			t.Errorf("parseLSN(%q) accepted", in)
		}
	}
}

func TestLagBySamples(t *testing.T) {
	now := time.Unix(1000, 0)
	samples := []lsnSample{{now.Add(-3 * time.Second), 100}, {now.Add(-2 * time.Second), 200}, {now.Add(-time.Second), 300}}
	for _, c := range []struct {
		name   string
		replay uint64
		lag    time.Duration
		known  bool
	}{
		{"at the last check's position", 300, time.Second, true},
		{"past the last check's position", 350, time.Second, true},
		{"between two checks", 250, 2 * time.Second, true},
		{"at the oldest", 100, 3 * time.Second, true},
		{"behind every check", 50, 3 * time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lag, known := lagBySamples(samples, now, c.replay)
			if lag != c.lag || known != c.known {
				t.Errorf("lag %v known %v, want %v %v", lag, known, c.lag, c.known)
			}
		})
	}
	if _, known := lagBySamples(nil, now, 0); known {
		t.Error("no samples: known")
	}
}

// TestRememberKeepsTwoBounds: positions older than twice the lag bound
// go, except the newest.
func TestRememberKeepsTwoBounds(t *testing.T) {
	r := &replica{cfg: ReplicaConfig{MaxLag: time.Second}}
	start := time.Unix(1000, 0)
	for i := range 50 {
		r.remember(start.Add(time.Duration(i)*100*time.Millisecond), uint64(i))
	}
	if n := len(r.samples); n != 21 || r.samples[0].lsn != 29 {
		t.Errorf("kept %d samples from %d, want the 21 of the last 2 s", n, r.samples[0].lsn)
	}
	r.remember(start.Add(time.Hour), 99)
	if len(r.samples) != 1 || r.samples[0].lsn != 99 {
		t.Errorf("after an hour: %+v", r.samples)
	}
}
