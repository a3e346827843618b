package pipeline

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"7d", 7 * Day, true},
		{"2w", 14 * Day, true},
		{"1y", Year, true},
		{"0d", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"+1d", 1 * Day, true}, // strconv accepts the sign; harmless
		{"1dd", 0, false},
		{"201y", 0, false},
		{"9223372036854775807d", 0, false},
		{"forever", 0, false},
		{"5 m", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Second: "1s", time.Hour: "1h", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m",
		30 * Day: "30d", 100 * Year: "100y", 36 * time.Hour: "36h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
