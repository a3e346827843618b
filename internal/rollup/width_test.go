package rollup_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/rollup"
)

func TestParseSeriesWidth(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		span time.Duration
		want time.Duration
	}{
		{"", time.Hour, time.Minute},
		{"", 1000 * time.Minute, time.Minute},
		{"", 1001 * time.Minute, 5 * time.Minute},
		{"", 30 * day, time.Hour},
		{"", 100 * 365 * day, 7 * day},
		{"raw", day, 0},
		{"1s", day, time.Second},
		{"30s", day, 30 * time.Second},
		{"90s", day, 90 * time.Second},
		{"1m", day, time.Minute},
		{"1h30m", day, 90 * time.Minute},
		{"1d", day, day},
		{"7d", day, 7 * day},
		{"2w", day, 14 * day},
		{"3650d", day, 3650 * day},
		{"521w", day, 521 * 7 * day},
	} {
		got, err := rollup.ParseSeriesWidth(tc.in, tc.span)
		if err != nil || got != tc.want {
			t.Errorf("ParseSeriesWidth(%q, %v) = %v, %v; want %v", tc.in, tc.span, got, err, tc.want)
		}
		if tc.in != "" && tc.in != "1h30m" && tc.in != "521w" && tc.in != "2w" && rollup.FormatWidth(got) != tc.in {
			t.Errorf("FormatWidth(%v) = %q, want %q", got, rollup.FormatWidth(got), tc.in)
		}
	}
	for in, reason := range map[string]string{
		"fortnight": "is not a bucket width",
		"0s":        "shorter than the smallest bucket, 1s",
		"-1m":       "shorter than the smallest bucket, 1s",
		"500ms":     "shorter than the smallest bucket, 1s",
		"1500ms":    "not a whole number of seconds",
		"0d":        "not a whole number of days",
		"1.5d":      "not a whole number of days",
		"3651d":     "wider than the widest bucket",
		"522w":      "wider than the widest bucket",
		"87601h":    "wider than the widest bucket",
		"d":         "not a whole number of days",
	} {
		_, err := rollup.ParseSeriesWidth(in, time.Hour)
		var we *rollup.WidthError
		if !errors.As(err, &we) || we.Value != in || !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseSeriesWidth(%q): %v, want a WidthError saying %q", in, err, reason)
		}
	}
}
