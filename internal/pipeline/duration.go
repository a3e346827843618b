package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day and Year are the units of retention periods beyond hours.
const (
	Day  = 24 * time.Hour
	Year = 365 * Day
)

// parseDuration reads a duration written as Go writes it ("90s", "1h30m",
// "500ms") or as a whole number of days, weeks or years ("7d", "2w",
// "1y"), the units people use for retention.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("is empty")
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = Day
	case strings.HasSuffix(s, "w"):
		unit = 7 * Day
	case strings.HasSuffix(s, "y"):
		unit = Year
	}
	if unit == 0 {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: write it like \"90s\", \"15m\", \"12h\" or \"7d\"", s)
		}
		return d, nil
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a duration: write a whole number before d, w or y, like \"7d\"", s)
	}
	if n > int64(200*Year/unit) {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return time.Duration(n) * unit, nil
}

// checkDuration parses s and checks that it lies within [lo, hi].
func checkDuration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	switch {
	case d < lo:
		return 0, fmt.Errorf("%q is shorter than the minimum of %s", s, formatDuration(lo))
	case d > hi:
		return 0, fmt.Errorf("%q is longer than the maximum of %s", s, formatDuration(hi))
	}
	return d, nil
}

// formatDuration writes d the way the spec accepts it, in days or years
// when it is a whole number of them.
func formatDuration(d time.Duration) string {
	switch {
	case d >= Year && d%Year == 0:
		return strconv.FormatInt(int64(d/Year), 10) + "y"
	case d >= Day && d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	s := d.String()
	// time.Duration writes 5m0s and 1h0m0s; the zero parts add nothing.
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
